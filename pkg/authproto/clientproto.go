package authproto

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// CookieLen is the length of a connection cookie in hex digits (Dovecot's
// MASTER_AUTH_COOKIE_SIZE is 16 bytes).
const CookieLen = 32

// mechFlagNames maps Mech's booleans to their wire names, in the order
// Dovecot writes them.
var mechFlagNames = []string{"anonymous", "plaintext", "dictionary", "active", "forward-secrecy", "mutual-auth", "private"}

func (m Mech) flags() []string {
	var out []string
	set := []bool{false, m.Plaintext, m.Dictionary, m.Active, m.ForwardSecrecy, m.MutualAuth, m.Private}
	for i, ok := range set {
		if ok {
			out = append(out, mechFlagNames[i])
		}
	}
	return out
}

// Line renders the MECH line.
func (m Mech) Line() []byte {
	return FormatLine(append([]string{"MECH", m.Name}, m.flags()...)...)
}

func parseMech(args []string) (Mech, error) {
	if len(args) < 2 || args[1] == "" {
		return Mech{}, fmt.Errorf("%w: MECH without a name", ErrMalformed)
	}
	m := Mech{Name: args[1]}
	for _, f := range args[2:] {
		switch f {
		case "plaintext":
			m.Plaintext = true
		case "dictionary":
			m.Dictionary = true
		case "active":
			m.Active = true
		case "forward-secrecy":
			m.ForwardSecrecy = true
		case "mutual-auth":
			m.MutualAuth = true
		case "private":
			m.Private = true
		default:
			// Flags a newer server adds (Dovecot's "anonymous") are
			// information for the client only; unknown ones are skipped so a
			// newer server stays usable.
		}
	}
	return m, nil
}

// ValidCookie reports whether s is a cookie as the handshake carries it.
func ValidCookie(s string) bool {
	if len(s) != CookieLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// WriteClientHandshake writes the server's auth-client greeting.
func WriteClientHandshake(w io.Writer, h Handshake) error {
	if !ValidCookie(h.Cookie) {
		return fmt.Errorf("authproto: handshake cookie must be %d hex digits", CookieLen)
	}
	var b []byte
	b = append(b, FormatLine("VERSION", strconv.Itoa(ClientMajor), strconv.Itoa(ClientMinor))...)
	for _, m := range h.Mechs {
		b = append(b, m.Line()...)
	}
	b = append(b, FormatLine("SPID", strconv.Itoa(h.SPID))...)
	b = append(b, FormatLine("CUID", strconv.FormatUint(uint64(h.CUID), 10))...)
	b = append(b, FormatLine("COOKIE", h.Cookie)...)
	b = append(b, FormatLine("DONE")...)
	_, err := w.Write(b)
	return err
}

// maxHandshakeLines bounds the greeting a client reads: a server that never
// says DONE cannot keep the client reading forever. Dovecot offers about 20
// mechanisms; 1024 lines leaves room for any real server.
const maxHandshakeLines = 1024

// readClientHandshake reads the server greeting up to DONE.
func readClientHandshake(c *Conn) (Handshake, error) {
	var h Handshake
	sawVersion, sawSPID, sawCUID, sawCookie := false, false, false, false
	for n := 0; n < maxHandshakeLines; n++ {
		args, err := c.ReadLine()
		if err != nil {
			return h, err
		}
		if !sawVersion {
			if args[0] != "VERSION" || len(args) < 3 {
				return h, fmt.Errorf("%w: handshake must start with VERSION", ErrMalformed)
			}
			if args[1] != strconv.Itoa(ClientMajor) {
				return h, fmt.Errorf("%w: server speaks %s.%s", ErrVersion, args[1], args[2])
			}
			sawVersion = true
			continue
		}
		switch args[0] {
		case "MECH":
			m, err := parseMech(args)
			if err != nil {
				return h, err
			}
			h.Mechs = append(h.Mechs, m)
		case "SPID":
			if len(args) < 2 {
				return h, fmt.Errorf("%w: SPID", ErrMalformed)
			}
			pid, err := strconv.Atoi(args[1])
			if err != nil || pid <= 0 {
				return h, fmt.Errorf("%w: SPID %q", ErrMalformed, args[1])
			}
			h.SPID, sawSPID = pid, true
		case "CUID":
			if len(args) < 2 {
				return h, fmt.Errorf("%w: CUID", ErrMalformed)
			}
			u, err := strconv.ParseUint(args[1], 10, 32)
			if err != nil {
				return h, fmt.Errorf("%w: CUID %q", ErrMalformed, args[1])
			}
			h.CUID, sawCUID = uint32(u), true
		case "COOKIE":
			if len(args) < 2 || !ValidCookie(args[1]) {
				return h, fmt.Errorf("%w: COOKIE", ErrMalformed)
			}
			h.Cookie, sawCookie = args[1], true
		case "DONE":
			if !sawSPID || !sawCUID || !sawCookie {
				return h, fmt.Errorf("%w: handshake lacks SPID, CUID or COOKIE", ErrMalformed)
			}
			return h, nil
		default:
			// Dovecot clients skip handshake lines they do not know, so a
			// server may add some; so do we.
		}
	}
	return h, fmt.Errorf("%w: handshake too long", ErrMalformed)
}

func parseID(s string) (uint32, error) {
	// Dovecot refuses id 0 and non-decimal ids.
	u, err := strconv.ParseUint(s, 10, 32)
	if err != nil || u == 0 || s[0] == '+' {
		return 0, fmt.Errorf("%w: request id %q", ErrMalformed, s)
	}
	return uint32(u), nil
}

func formatID(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

// decodeResponse decodes a base64 SASL payload and applies MaxSASLResponse.
func decodeResponse(s string) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(s)) > MaxSASLResponse+2 {
		return nil, ErrTooLarge
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64", ErrMalformed)
	}
	if len(b) > MaxSASLResponse {
		return nil, ErrTooLarge
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

func parseVersion(args []string) (int, int, error) {
	if len(args) < 3 {
		return 0, 0, fmt.Errorf("%w: VERSION", ErrMalformed)
	}
	major, err1 := strconv.Atoi(args[1])
	minor, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return 0, 0, fmt.Errorf("%w: VERSION", ErrMalformed)
	}
	return major, minor, nil
}

func parsePID(args []string) (int, error) {
	if len(args) < 2 {
		return 0, fmt.Errorf("%w: CPID", ErrMalformed)
	}
	pid, err := strconv.Atoi(args[1])
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%w: CPID %q", ErrMalformed, args[1])
	}
	return pid, nil
}

// ParseClientCommand parses one line (ParseLine's result) a client sent on
// auth-client. An unknown command is ErrMalformed, as Dovecot's server
// disconnects on it. A VERSION with another major number is ErrVersion.
func ParseClientCommand(args []string) (*ClientCommand, error) {
	if len(args) == 0 {
		return nil, ErrMalformed
	}
	cmd := &ClientCommand{Kind: args[0]}
	var err error
	switch args[0] {
	case CmdVersion:
		if cmd.Major, cmd.Minor, err = parseVersion(args); err != nil {
			return nil, err
		}
		if cmd.Major != ClientMajor {
			return nil, fmt.Errorf("%w: client speaks %d.%d", ErrVersion, cmd.Major, cmd.Minor)
		}
	case CmdCPID:
		if cmd.PID, err = parsePID(args); err != nil {
			return nil, err
		}
	case CmdAuth:
		if len(args) < 3 {
			return nil, fmt.Errorf("%w: AUTH needs an id and a mechanism", ErrMalformed)
		}
		if cmd.ID, err = parseID(args[1]); err != nil {
			return nil, err
		}
		if cmd.Auth, err = parseAuth(args[2], args[3:]); err != nil {
			return nil, err
		}
	case CmdCont:
		if len(args) != 3 {
			return nil, fmt.Errorf("%w: CONT needs an id and a response", ErrMalformed)
		}
		if cmd.ID, err = parseID(args[1]); err != nil {
			return nil, err
		}
		if cmd.Data, err = decodeResponse(args[2]); err != nil {
			return nil, err
		}
	case CmdCancel:
		if len(args) != 2 {
			return nil, fmt.Errorf("%w: CANCEL needs an id", ErrMalformed)
		}
		if cmd.ID, err = parseID(args[1]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown command", ErrMalformed)
	}
	return cmd, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: address %q", ErrMalformed, s)
	}
	return a.Unmap(), nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: port %q", ErrMalformed, s)
	}
	return uint16(p), nil
}

func parseAuth(mech string, args []string) (*Request, error) {
	if mech == "" {
		return nil, fmt.Errorf("%w: empty mechanism", ErrMalformed)
	}
	r := &Request{Mech: mech}
	var lip, rip netip.Addr
	var lport, rport uint16
	sawService := false
	for _, f := range ParseFields(args) {
		var err error
		switch f.Key {
		case "service":
			r.Service, sawService = f.Value, f.HasValue && f.Value != ""
		case "secured":
			r.Secured = true
		case "valid-client-cert":
			r.ValidClientCert = true
		case "no-penalty":
			r.NoPenalty = true
		case "lip", "rip", "lport", "rport":
			// Empty values mean "unknown" (Postfix may send them so).
			if !f.HasValue || f.Value == "" {
				continue
			}
			switch f.Key {
			case "lip":
				lip, err = parseAddr(f.Value)
			case "rip":
				rip, err = parseAddr(f.Value)
			case "lport":
				lport, err = parsePort(f.Value)
			case "rport":
				rport, err = parsePort(f.Value)
			}
		case "local_name":
			r.LocalName = f.Value
		case "resp":
			r.InitialResponse, err = decodeResponse(f.Value)
		case FieldCBindType:
			switch f.Value {
			case "tls-exporter", "tls-server-end-point":
				r.CBindType = f.Value
			default:
				err = fmt.Errorf("%w: channel binding type %q", ErrMalformed, f.Value)
			}
		case FieldCBind:
			r.CBind, err = base64.StdEncoding.Strict().DecodeString(f.Value)
			if err != nil || len(r.CBind) == 0 {
				err = fmt.Errorf("%w: %s is not base64", ErrMalformed, FieldCBind)
			}
		case FieldCertUser:
			r.CertUser = f.Value
		default:
			r.Extra = append(r.Extra, f)
		}
		if err != nil {
			return nil, err
		}
	}
	if !sawService {
		// Dovecot's auth server refuses an AUTH without service= too.
		return nil, fmt.Errorf("%w: AUTH without service", ErrMalformed)
	}
	if (r.CBindType == "") != (len(r.CBind) == 0) {
		return nil, fmt.Errorf("%w: %s and %s go together", ErrMalformed, FieldCBindType, FieldCBind)
	}
	if lip.IsValid() {
		r.Local = netip.AddrPortFrom(lip, lport)
	} else if lport != 0 {
		return nil, fmt.Errorf("%w: lport without lip", ErrMalformed)
	}
	if rip.IsValid() {
		r.Remote = netip.AddrPortFrom(rip, rport)
	} else if rport != 0 {
		return nil, fmt.Errorf("%w: rport without rip", ErrMalformed)
	}
	return r, nil
}

// Args renders the AUTH line's arguments for request id (FormatLine
// escapes them).
func (r *Request) Args(id uint32) []string {
	args := []string{CmdAuth, formatID(id), r.Mech, "service=" + r.Service}
	if r.Secured {
		args = append(args, "secured")
	}
	if r.ValidClientCert {
		args = append(args, "valid-client-cert")
	}
	if r.NoPenalty {
		args = append(args, "no-penalty")
	}
	if r.Local.Addr().IsValid() {
		args = append(args, "lip="+r.Local.Addr().String())
		if r.Local.Port() != 0 {
			args = append(args, "lport="+strconv.Itoa(int(r.Local.Port())))
		}
	}
	if r.Remote.Addr().IsValid() {
		args = append(args, "rip="+r.Remote.Addr().String())
		if r.Remote.Port() != 0 {
			args = append(args, "rport="+strconv.Itoa(int(r.Remote.Port())))
		}
	}
	if r.LocalName != "" {
		args = append(args, "local_name="+r.LocalName)
	}
	if r.CBindType != "" {
		args = append(args, FieldCBindType+"="+r.CBindType, FieldCBind+"="+base64.StdEncoding.EncodeToString(r.CBind))
	}
	if r.CertUser != "" {
		args = append(args, FieldCertUser+"="+r.CertUser)
	}
	args = append(args, r.Extra.Args()...)
	// resp= goes last, as Dovecot's clients send it: the long field at the
	// end keeps the others readable in a trace.
	if r.InitialResponse != nil {
		args = append(args, "resp="+base64.StdEncoding.EncodeToString(r.InitialResponse))
	}
	return args
}

// Line renders the reply to request id.
func (r Reply) Line(id uint32) []byte {
	switch r.Kind {
	case KindCont:
		return FormatLine(KindCont, formatID(id), base64.StdEncoding.EncodeToString(r.Data))
	case KindOK:
		args := []string{KindOK, formatID(id)}
		if r.User != "" {
			args = append(args, "user="+r.User)
		}
		args = append(args, r.Fields.Args()...)
		if len(r.Data) > 0 {
			// Success data (SCRAM's server-final message) rides on OK as
			// resp=, as Dovecot sends it.
			args = append(args, "resp="+base64.StdEncoding.EncodeToString(r.Data))
		}
		return FormatLine(args...)
	default:
		args := []string{KindFail, formatID(id)}
		if r.User != "" {
			args = append(args, "user="+r.User)
		}
		args = append(args, r.Fields.Args()...)
		if r.Temp {
			args = append(args, "temp")
		}
		if r.NoLogin {
			args = append(args, "nologin")
		}
		if r.Reason != "" {
			args = append(args, "reason="+r.Reason)
		}
		return FormatLine(args...)
	}
}

// ParseReply parses one server reply line on auth-client (CONT, OK, FAIL)
// and returns the request id it answers.
func ParseReply(args []string) (uint32, Reply, error) {
	if len(args) < 2 {
		return 0, Reply{}, fmt.Errorf("%w: short reply", ErrMalformed)
	}
	id, err := parseID(args[1])
	if err != nil {
		return 0, Reply{}, err
	}
	r := Reply{Kind: args[0]}
	switch args[0] {
	case KindCont:
		if len(args) != 3 {
			return 0, Reply{}, fmt.Errorf("%w: CONT needs one payload", ErrMalformed)
		}
		// A challenge has no size rule in the protocol; the line cap
		// bounds it.
		r.Data, err = base64.StdEncoding.Strict().DecodeString(args[2])
		if err != nil {
			return 0, Reply{}, fmt.Errorf("%w: bad base64 in CONT", ErrMalformed)
		}
		if r.Data == nil {
			r.Data = []byte{}
		}
	case KindOK, KindFail:
		for _, f := range ParseFields(args[2:]) {
			switch {
			case f.Key == "user" && f.HasValue:
				r.User = f.Value
			case f.Key == "reason" && f.HasValue && r.Kind == KindFail:
				r.Reason = f.Value
			case f.Key == "temp" && !f.HasValue && r.Kind == KindFail:
				r.Temp = true
			case f.Key == "nologin" && !f.HasValue && r.Kind == KindFail:
				r.NoLogin = true
			case f.Key == "resp" && f.HasValue && r.Kind == KindOK:
				r.Data, err = base64.StdEncoding.Strict().DecodeString(f.Value)
				if err != nil {
					return 0, Reply{}, fmt.Errorf("%w: bad base64 in OK resp", ErrMalformed)
				}
			default:
				r.Fields = append(r.Fields, f)
			}
		}
	default:
		return 0, Reply{}, fmt.Errorf("%w: unknown reply", ErrMalformed)
	}
	return id, r, nil
}
