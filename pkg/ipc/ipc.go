package ipc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Fixed descriptor numbers of the master -> service contract.
const (
	FDLog      = 2
	FDSettings = 3
	FDStatus   = 4
	FDControl  = 5
	FDListen   = 6 // first listener; the rest follow in EnvListeners order
)

// Environment variables of the contract. Our own names: os/exec cannot set
// systemd's LISTEN_PID to the child's pid before the fork.
const (
	EnvService   = "COTE_SERVICE"
	EnvListeners = "COTE_LISTENERS"
	EnvRestrict  = "COTE_RESTRICT"
	// EnvNoPrivsep is set (to "1") when the master runs unprivileged and
	// privilege separation is off; a service then skips the drop.
	EnvNoPrivsep = "COTE_NO_PRIVSEP"
)

// Status messages, service -> master, one a line on FDStatus.
const (
	StatusReady = "ready" // "ready N": restrictions applied, N client slots free
	StatusAvail = "avail" // "avail N": N client slots free now
	StatusDone  = "done"  // "done": no new clients from this process (service_count reached or told to stop)
)

// Control messages, master -> service, one a line on FDControl.
const (
	ControlStop     = "stop"     // stop accepting, finish the current clients, exit
	ControlShutdown = "shutdown" // close every client now (with BYE) and exit
	// ControlOverflow tells a login process that its whole service is at
	// process_limit with every slot taken while a client waits on a
	// listener: evict the oldest client that has not logged in (Dovecot's
	// "Connection queue full"), so the waiting one is accepted.
	ControlOverflow = "overflow"
)

// ListenerSpec names one inherited listener and its flags.
type ListenerSpec struct {
	Name    string // the inet_listener or unix_listener name, e.g. "imaps"
	Unix    bool
	SSL     bool // implicit TLS (inet_listener ssl = yes)
	HAProxy bool // PROXY protocol header expected (haproxy = yes)
}

// EncodeListeners renders specs as "imap:imaps+ssl:auth-client+unix".
func EncodeListeners(specs []ListenerSpec) string {
	parts := make([]string, len(specs))
	for i, s := range specs {
		p := s.Name
		if s.Unix {
			p += "+unix"
		}
		if s.SSL {
			p += "+ssl"
		}
		if s.HAProxy {
			p += "+haproxy"
		}
		parts[i] = p
	}
	return strings.Join(parts, ":")
}

// ParseListeners is the inverse of EncodeListeners.
func ParseListeners(s string) ([]ListenerSpec, error) {
	if s == "" {
		return nil, nil
	}
	var out []ListenerSpec
	for _, p := range strings.Split(s, ":") {
		fields := strings.Split(p, "+")
		spec := ListenerSpec{Name: fields[0]}
		if spec.Name == "" {
			return nil, fmt.Errorf("ipc: empty listener name in %q", s)
		}
		for _, f := range fields[1:] {
			switch f {
			case "unix":
				spec.Unix = true
			case "ssl":
				spec.SSL = true
			case "haproxy":
				spec.HAProxy = true
			default:
				return nil, fmt.Errorf("ipc: unknown listener flag %q in %q", f, s)
			}
		}
		out = append(out, spec)
	}
	return out, nil
}

// Restrict is the restriction record a service applies before anything else.
type Restrict struct {
	UID    int   // -1: keep
	GID    int   // -1: keep
	Groups []int // supplementary groups; nil with UID >= 0 means none
	Chroot string
	// RlimitData is RLIMIT_DATA in bytes (vsz_limit); 0 means unlimited.
	RlimitData uint64
	// GoMemLimit is the soft limit handed to the Go runtime; 0 means none.
	GoMemLimit uint64
	// RootUntilHandoff keeps root until a system user's session is handed
	// over (post-login processes for system users).
	RootUntilHandoff bool
}

// NoRestrict keeps the current credentials.
var NoRestrict = Restrict{UID: -1, GID: -1}

// Encode renders r for EnvRestrict.
func (r Restrict) Encode() string {
	v := url.Values{}
	v.Set("uid", strconv.Itoa(r.UID))
	v.Set("gid", strconv.Itoa(r.GID))
	if r.Groups != nil {
		g := make([]string, len(r.Groups))
		for i, x := range r.Groups {
			g[i] = strconv.Itoa(x)
		}
		v.Set("groups", strings.Join(g, ","))
	}
	if r.Chroot != "" {
		v.Set("chroot", r.Chroot)
	}
	if r.RlimitData != 0 {
		v.Set("rlimit_data", strconv.FormatUint(r.RlimitData, 10))
	}
	if r.GoMemLimit != 0 {
		v.Set("gomemlimit", strconv.FormatUint(r.GoMemLimit, 10))
	}
	if r.RootUntilHandoff {
		v.Set("root_until_handoff", "1")
	}
	return v.Encode()
}

// ParseRestrict is the inverse of Encode.
func ParseRestrict(s string) (Restrict, error) {
	r := NoRestrict
	v, err := url.ParseQuery(s)
	if err != nil {
		return r, fmt.Errorf("ipc: restriction record: %w", err)
	}
	num := func(key string, dst *int) error {
		if x := v.Get(key); x != "" {
			n, err := strconv.Atoi(x)
			if err != nil {
				return fmt.Errorf("ipc: restriction record: %s: %w", key, err)
			}
			*dst = n
		}
		return nil
	}
	unum := func(key string, dst *uint64) error {
		if x := v.Get(key); x != "" {
			n, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return fmt.Errorf("ipc: restriction record: %s: %w", key, err)
			}
			*dst = n
		}
		return nil
	}
	if err := errors.Join(num("uid", &r.UID), num("gid", &r.GID),
		unum("rlimit_data", &r.RlimitData), unum("gomemlimit", &r.GoMemLimit)); err != nil {
		return r, err
	}
	if v.Has("groups") {
		r.Groups = []int{}
		if g := v.Get("groups"); g != "" {
			for _, x := range strings.Split(g, ",") {
				n, err := strconv.Atoi(x)
				if err != nil {
					return r, fmt.Errorf("ipc: restriction record: groups: %w", err)
				}
				r.Groups = append(r.Groups, n)
			}
		}
	}
	r.Chroot = v.Get("chroot")
	r.RootUntilHandoff = v.Get("root_until_handoff") == "1"
	return r, nil
}

// Message is one status or control line: a verb and an optional number.
type Message struct {
	Verb string
	N    int
}

func (m Message) String() string {
	if m.Verb == StatusReady || m.Verb == StatusAvail {
		return m.Verb + " " + strconv.Itoa(m.N)
	}
	return m.Verb
}

// WriteMessage writes m as one line. Pipes write lines of this size atomically.
func WriteMessage(w io.Writer, m Message) error {
	_, err := io.WriteString(w, m.String()+"\n")
	return err
}

// maxMessage bounds a status or control line; anything longer is a protocol error.
const maxMessage = 64

// ReadMessage reads one line written by WriteMessage.
func ReadMessage(r *bufio.Reader) (Message, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return Message{}, errors.New("ipc: message line too long")
		}
		return Message{}, err
	}
	if len(line) > maxMessage {
		return Message{}, errors.New("ipc: message line too long")
	}
	verb, arg, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), " ")
	m := Message{Verb: verb}
	switch verb {
	case StatusReady, StatusAvail:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return Message{}, fmt.Errorf("ipc: bad %s count %q", verb, arg)
		}
		m.N = n
	case StatusDone, ControlStop, ControlShutdown, ControlOverflow:
		if arg != "" {
			return Message{}, fmt.Errorf("ipc: unexpected argument to %s", verb)
		}
	default:
		return Message{}, fmt.Errorf("ipc: unknown message %q", verb)
	}
	return m, nil
}
