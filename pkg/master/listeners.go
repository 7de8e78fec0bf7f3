package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
)

// listenerKey identifies one bound socket. Two configurations that give
// the same key share the socket across a reload: it is kept, not rebound,
// so clients queued in its backlog are not lost.
type listenerKey struct {
	Service string
	Name    string
	Unix    bool
	// inet
	Address   string // normalised: "0.0.0.0", "::", "127.0.0.1"
	Port      int
	SSL       bool
	HAProxy   bool
	ReusePort bool
	// unix
	Path  string
	Mode  uint32
	User  string
	Group string
}

func (k listenerKey) String() string {
	if k.Unix {
		return fmt.Sprintf("service %s: unix_listener %s: %s", k.Service, k.Name, k.Path)
	}
	return fmt.Sprintf("service %s: inet_listener %s: %s", k.Service, k.Name,
		net.JoinHostPort(k.Address, strconv.Itoa(k.Port)))
}

func (k listenerKey) spec() ipc.ListenerSpec {
	return ipc.ListenerSpec{Name: k.Name, Unix: k.Unix, SSL: k.SSL, HAProxy: k.HAProxy}
}

// normAddress maps Dovecot's listen syntax onto an address to bind: "*" is
// every IPv4 address, "::" every IPv6 address, "[::1]" drops its brackets.
func normAddress(a string) string {
	a = strings.TrimSpace(a)
	switch a {
	case "*":
		return "0.0.0.0"
	case "[::]":
		return "::"
	}
	return strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
}

// serviceListeners lists the sockets one service wants, in the order its
// processes receive them (fds 6..): inet listeners first, each on every
// address, then unix listeners. A port of 0 disables an inet listener.
func serviceListeners(s settings.Service) []listenerKey {
	var out []listenerKey
	for _, l := range s.Inet {
		if l.Port == 0 {
			continue
		}
		seen := map[string]bool{}
		for _, a := range l.Addresses {
			addr := normAddress(a)
			if addr == "" || seen[addr] {
				continue
			}
			seen[addr] = true
			out = append(out, listenerKey{Service: s.Name, Name: l.Name, Address: addr, Port: l.Port,
				SSL: l.SSL, HAProxy: l.HAProxy, ReusePort: l.ReusePort})
		}
	}
	for _, l := range s.Unix {
		out = append(out, listenerKey{Service: s.Name, Name: l.Name, Unix: true, Path: l.Path,
			Mode: l.Mode, User: l.User, Group: l.Group})
	}
	return out
}

// diffListeners splits the wanted keys into those already bound (kept) and
// those to bind (added), and lists the bound ones no longer wanted (removed).
func diffListeners(bound map[listenerKey]*boundListener, want []listenerKey) (kept, added, removed []listenerKey) {
	wanted := make(map[listenerKey]bool, len(want))
	for _, k := range want {
		if wanted[k] {
			continue
		}
		wanted[k] = true
		if _, ok := bound[k]; ok {
			kept = append(kept, k)
		} else {
			added = append(added, k)
		}
	}
	for k := range bound {
		if !wanted[k] {
			removed = append(removed, k)
		}
	}
	sortKeys(removed)
	return kept, added, removed
}

func sortKeys(ks []listenerKey) {
	// Deterministic order for logs and tests.
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j].String() < ks[j-1].String(); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

// boundListener is one socket the master holds for the processes of a service.
type boundListener struct {
	key  listenerKey
	ln   net.Listener
	file *os.File // a dup of ln's fd, handed to every process of the service
	raw  syscall.RawConn
	// armed is true while a watch goroutine waits for a client on an idle
	// listener (spawn on demand); owned by the master's loop.
	armed bool
}

// errIPv6Unavailable marks a wildcard IPv6 bind on a host without IPv6: the
// default `listen = *, ::` must still start there.
var errIPv6Unavailable = errors.New("IPv6 is not available on this host")

// bind binds the socket of k. Errors name the service, listener and
// address: "service imap-login: inet_listener imap: 127.0.0.1:10143:
// address already in use".
func bind(k listenerKey, users Users, privsep bool) (*boundListener, error) {
	var ln net.Listener
	var err error
	if k.Unix {
		ln, err = bindUnix(k, users, privsep)
	} else {
		ln, err = bindInet(k)
	}
	if err != nil {
		return nil, err
	}
	bl := &boundListener{key: k, ln: ln}
	type filer interface{ File() (*os.File, error) }
	if bl.file, err = ln.(filer).File(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	// The readiness watch goes through the dup: a net.Listener's RawConn
	// refuses Read (EINVAL), while an os.File of a non-blocking socket is
	// registered with Go's poller and waits for readability.
	if bl.raw, err = bl.file.SyscallConn(); err != nil {
		bl.close()
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	return bl, nil
}

func (bl *boundListener) close() {
	bl.file.Close()
	bl.ln.Close() // a unix socket file stays: closeListener decides
}

// errnoText returns the bare system error ("address already in use") of a
// net error, so the message names our listener instead of Go's op chain.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func bindInet(k listenerKey) (net.Listener, error) {
	ip := net.ParseIP(k.Address)
	if ip == nil {
		return nil, fmt.Errorf("%s: not an IP address", k)
	}
	network := "tcp4"
	v6 := ip.To4() == nil
	if v6 {
		network = "tcp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if v6 {
				// "*" and "::" must coexist on one port.
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
			}
			if serr == nil && k.ReusePort {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), network, net.JoinHostPort(k.Address, strconv.Itoa(k.Port)))
	if err != nil {
		if v6 && ip.IsUnspecified() && (errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
			return nil, fmt.Errorf("%s: %w", k, errIPv6Unavailable)
		}
		return nil, fmt.Errorf("%s: %s", k, errnoText(err))
	}
	return ln, nil
}

func bindUnix(k listenerKey, users Users, privsep bool) (net.Listener, error) {
	if !filepath.IsAbs(k.Path) {
		return nil, fmt.Errorf("%s: path is not absolute", k)
	}
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %s", k, errnoText(err))
	}
	// A socket file left by a master that died is stale: the pid file check
	// has already made sure no live master owns it.
	if st, err := os.Lstat(k.Path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s: exists and is not a socket", k)
		}
		if err := os.Remove(k.Path); err != nil {
			return nil, fmt.Errorf("%s: removing stale socket: %s", k, errnoText(err))
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: k.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("%s: %s", k, errnoText(err))
	}
	// The master decides when a socket file goes (closeListener): on a
	// reload a new listener may already have taken the path.
	ln.SetUnlinkOnClose(false)
	if err := setSocketOwner(k, users, privsep); err != nil {
		ln.Close()
		os.Remove(k.Path)
		return nil, err
	}
	return ln, nil
}

// waitReadable blocks until a client is queued on the listener, or the
// listener is closed. It never accepts: the connection is left for the
// process the master is about to spawn. The poll with a zero timeout
// makes it level-triggered, so a client queued before the wait began (and
// whose edge Go's poller already consumed) is seen at once.
func (bl *boundListener) waitReadable() error {
	return bl.raw.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err == nil && n > 0 && p[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
	})
}

// setSocketOwner applies a unix listener's mode, and its user and group
// when the master is root.
func setSocketOwner(k listenerKey, users Users, privsep bool) error {
	mode := os.FileMode(k.Mode)
	if k.Mode == 0 {
		mode = 0o600
	}
	if err := os.Chmod(k.Path, mode); err != nil {
		return fmt.Errorf("%s: mode: %s", k, errnoText(err))
	}
	if !privsep || (k.User == "" && k.Group == "") {
		return nil
	}
	uid, gid := -1, -1
	if k.User != "" {
		u, g, _, err := users.User(k.User)
		if err != nil {
			return fmt.Errorf("%s: user %s: %w", k, k.User, err)
		}
		uid, gid = u, g
	}
	if k.Group != "" {
		g, err := users.Group(k.Group)
		if err != nil {
			return fmt.Errorf("%s: group %s: %w", k, k.Group, err)
		}
		gid = g
	}
	if err := os.Lchown(k.Path, uid, gid); err != nil {
		return fmt.Errorf("%s: owner: %s", k, errnoText(err))
	}
	return nil
}
