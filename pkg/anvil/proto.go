package anvil

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Commands of the protocol, as Dovecot 2.3's anvil-connection.c names them.
const (
	cmdConnect     = "CONNECT"                 // <pid> <ident>, no reply
	cmdDisconnect  = "DISCONNECT"              // <pid> <ident>, no reply
	cmdKill        = "KILL"                    // <pid>, no reply: forget every connection of pid
	cmdLookup      = "LOOKUP"                  // <ident> -> "<count>"
	cmdConnectDump = "CONNECT-DUMP"            // -> "<ident>\t<pid>\t<count>" lines, then an empty line
	cmdPenaltyGet  = "PENALTY-GET"             // <ip> -> "<penalty> <last penalty unix time>"
	cmdPenaltyInc  = "PENALTY-INC"             // <ip> <checksum> <value>, no reply
	cmdPenaltyExp  = "PENALTY-SET-EXPIRE-SECS" // <secs>, no reply
	cmdPenaltyDump = "PENALTY-DUMP"            // -> "<ip>\t<penalty>\t<last penalty>\t<last update>" lines, then ""
	cmdVersion     = "VERSION"                 // anvil <major> <minor>
	// cmdRate is cote's extension (not in Dovecot): <ident> <secs> ->
	// "<count>", one event counted in ident's window of secs seconds.
	cmdRate = "RATE"
)

// maxRateWindow bounds a RATE window: a day is far past any sane
// anvil_rate_time_unit.
const maxRateWindow = 24 * 3600

// maxPenaltyValue caps a penalty (Dovecot's PENALTY_MAX_VALUE, 2^16-1): the
// auth service's delay is capped long before, this bounds what a client
// can store.
const maxPenaltyValue = 1<<16 - 1

// maxPID bounds a pid argument (Linux's PID_MAX_LIMIT is 2^22).
const maxPID = 1 << 22

var errMalformed = errors.New("anvil: malformed line")

// escape applies Dovecot's tab-escaping (str_append_tabescaped): \001 ->
// \0011, \t -> \001t, \r -> \001r, \n -> \001n.
func escape(s string) string {
	if !strings.ContainsAny(s, "\x01\t\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x01:
			b.WriteString("\x011")
		case '\t':
			b.WriteString("\x01t")
		case '\r':
			b.WriteString("\x01r")
		case '\n':
			b.WriteString("\x01n")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// unescape reverses escape; an unknown escape or a trailing \001 is an
// error (Dovecot passes them through, but a well-formed peer never sends
// them, and refusing keeps escape/unescape a bijection).
func unescape(s string) (string, error) {
	if !strings.Contains(s, "\x01") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != 0x01 {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errMalformed
		}
		i++
		switch s[i] {
		case '1':
			b.WriteByte(0x01)
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", errMalformed
		}
	}
	return b.String(), nil
}

// splitLine splits one line (without its LF) into unescaped arguments.
func splitLine(line string) ([]string, error) {
	if len(line) > MaxLine {
		return nil, fmt.Errorf("anvil: line longer than %d bytes", MaxLine)
	}
	if strings.ContainsAny(line, "\n\x00") {
		return nil, errMalformed
	}
	parts := strings.Split(line, "\t")
	for i, p := range parts {
		u, err := unescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

// formatLine joins escaped arguments into one line with its LF.
func formatLine(args ...string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(escape(a))
	}
	b.WriteByte('\n')
	return b.String()
}

// request is one parsed client line.
type request struct {
	cmd      string
	pid      int
	ident    string     // CONNECT, DISCONNECT, LOOKUP
	ip       netip.Addr // PENALTY-GET, PENALTY-INC
	checksum uint32     // PENALTY-INC
	value    int        // PENALTY-INC value, PENALTY-SET-EXPIRE-SECS and RATE seconds
	major    int        // VERSION
}

// args renders r back into the arguments of its line (the inverse of
// parseRequest for every request it accepts).
func (r request) args() []string {
	switch r.cmd {
	case cmdConnect, cmdDisconnect:
		return []string{r.cmd, strconv.Itoa(r.pid), r.ident}
	case cmdKill:
		return []string{r.cmd, strconv.Itoa(r.pid)}
	case cmdLookup:
		return []string{r.cmd, r.ident}
	case cmdRate:
		return []string{r.cmd, r.ident, strconv.Itoa(r.value)}
	case cmdPenaltyGet:
		return []string{r.cmd, r.ip.String()}
	case cmdPenaltyInc:
		return []string{r.cmd, r.ip.String(), strconv.FormatUint(uint64(r.checksum), 10), strconv.Itoa(r.value)}
	case cmdPenaltyExp:
		return []string{r.cmd, strconv.Itoa(r.value)}
	case cmdVersion:
		return []string{r.cmd, "anvil", strconv.Itoa(r.major), "0"}
	}
	return []string{r.cmd}
}

// parseRequest parses one request line (without its LF).
func parseRequest(line string) (request, error) {
	args, err := splitLine(line)
	if err != nil {
		return request{}, err
	}
	r := request{cmd: args[0]}
	want := map[string]int{
		cmdConnect: 3, cmdDisconnect: 3, cmdKill: 2, cmdLookup: 2, cmdConnectDump: 1,
		cmdPenaltyGet: 2, cmdPenaltyInc: 4, cmdPenaltyExp: 2, cmdPenaltyDump: 1, cmdVersion: 4, cmdRate: 3,
	}
	n, known := want[r.cmd]
	if !known {
		return request{}, fmt.Errorf("anvil: unknown command %q", truncate(r.cmd))
	}
	if len(args) != n {
		return request{}, fmt.Errorf("anvil: %s: want %d arguments, got %d", r.cmd, n-1, len(args)-1)
	}
	switch r.cmd {
	case cmdConnect, cmdDisconnect, cmdKill:
		if r.pid, err = parseUint(args[1], maxPID); err != nil || r.pid == 0 {
			return request{}, fmt.Errorf("anvil: %s: invalid pid", r.cmd)
		}
		if r.cmd != cmdKill {
			if r.ident = args[2]; r.ident == "" {
				return request{}, fmt.Errorf("anvil: %s: empty ident", r.cmd)
			}
		}
	case cmdLookup:
		if r.ident = args[1]; r.ident == "" {
			return request{}, fmt.Errorf("anvil: %s: empty ident", r.cmd)
		}
	case cmdRate:
		if r.ident = args[1]; r.ident == "" {
			return request{}, fmt.Errorf("anvil: %s: empty ident", r.cmd)
		}
		if r.value, err = parseUint(args[2], maxRateWindow); err != nil || r.value == 0 {
			return request{}, fmt.Errorf("anvil: %s: invalid seconds", r.cmd)
		}
	case cmdPenaltyGet, cmdPenaltyInc:
		if r.ip, err = parseIP(args[1]); err != nil {
			return request{}, fmt.Errorf("anvil: %s: %v", r.cmd, err)
		}
		if r.cmd == cmdPenaltyInc {
			c, err := parseUint(args[2], 1<<32-1)
			if err != nil {
				return request{}, fmt.Errorf("anvil: %s: invalid checksum", r.cmd)
			}
			r.checksum = uint32(c)
			if r.value, err = parseUint(args[3], maxPenaltyValue); err != nil {
				return request{}, fmt.Errorf("anvil: %s: invalid value", r.cmd)
			}
		}
	case cmdPenaltyExp:
		// A year of seconds bounds it: a longer memory is a mistake, not a policy.
		if r.value, err = parseUint(args[1], 366*24*3600); err != nil {
			return request{}, fmt.Errorf("anvil: %s: invalid seconds", r.cmd)
		}
	case cmdVersion:
		if args[1] != "anvil" {
			return request{}, fmt.Errorf("anvil: VERSION: not the anvil protocol")
		}
		if r.major, err = parseUint(args[2], 1<<16); err != nil {
			return request{}, fmt.Errorf("anvil: VERSION: invalid major version")
		}
		if _, err = parseUint(args[3], 1<<16); err != nil {
			return request{}, fmt.Errorf("anvil: VERSION: invalid minor version")
		}
	}
	return r, nil
}

// parseIP accepts the canonical text of an address, so that one IP has one
// penalty entry (no "::ffff:1.2.3.4" twin of "1.2.3.4", no zones).
func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Unmap().String() != s {
		return netip.Addr{}, fmt.Errorf("invalid IP %q", truncate(s))
	}
	return a, nil
}

// parseUint parses a decimal without sign or leading zeros, at most max.
func parseUint(s string, max int) (int, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, errMalformed
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errMalformed
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > max {
		return 0, errMalformed
	}
	return n, nil
}

// truncate keeps client text short in errors and logs.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// parseDumpLine parses one CONNECT-DUMP reply line: ident, pid, count.
func parseDumpLine(line string) (Conn, error) {
	args, err := splitLine(line)
	if err != nil {
		return Conn{}, err
	}
	if len(args) != 3 {
		return Conn{}, errMalformed
	}
	svc, user, ip, ok := ParseIdent(args[0])
	if !ok {
		return Conn{}, fmt.Errorf("anvil: CONNECT-DUMP: ident %q is not service/ip/user", truncate(args[0]))
	}
	pid, err := parseUint(args[1], maxPID)
	if err != nil {
		return Conn{}, errMalformed
	}
	n, err := parseUint(args[2], 1<<31-1)
	if err != nil {
		return Conn{}, errMalformed
	}
	return Conn{Service: svc, User: user, IP: ip, PID: pid, Count: n}, nil
}
