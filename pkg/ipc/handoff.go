package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Login -> post-login handoff (ARCHITECTURE.md, contract 4). The login
// process connects to the post-login service's unix listener (login/imap,
// login/pop3), sends one framed record with the client socket attached as
// SCM_RIGHTS, and waits for the one-byte acknowledgement HandoffAck. From
// the acknowledgement on, the post-login process owns the client: it
// redeems the cookie on auth-master and answers the pending command.
//
// Frame: a 4-byte big-endian body length, then the body:
//
//	version   1 byte (HandoffVersion)
//	flags     1 byte (bit 0: the client's connection is TLS)
//	auth pid  uint32 (the auth server's SPID)
//	client pid uint32 (the login process's CPID)
//	auth id   uint32 (the request id of the OK)
//	session, cookie, local, remote, tag: uint16 length + bytes each
//	preamble  uint32 length + bytes
//
// Every length is checked against the limits below before anything is
// allocated, so a forged record cannot make the receiver allocate more
// than MaxHandoffRecord.

// HandoffVersion is the version byte of the record.
const HandoffVersion = 1

// Limits of the handoff record.
const (
	// MaxHandoffField bounds each string field. A session id, cookie and
	// address are tens of bytes; an IMAP tag is a client's atom and RFC
	// 9051 sets no length, but Dovecot's tags live within the 64 KiB
	// command line; 1 KiB is far beyond any real client's.
	MaxHandoffField = 1024
	// MaxHandoffPreamble bounds the client bytes read but not consumed:
	// the login process's read buffer is 4 KiB (pkg/imap readChunk), and
	// a TLS record is at most 16 KiB of plaintext; 64 KiB leaves room.
	MaxHandoffPreamble = 64 * 1024
	// MaxHandoffRecord bounds the whole body.
	MaxHandoffRecord = 3 + 12 + 5*(2+MaxHandoffField) + 4 + MaxHandoffPreamble
)

// HandoffAck is the byte the post-login process writes once it holds the
// record and the client socket.
const HandoffAck = '+'

// HandoffTimeout bounds the exchange on the handoff socket (connect, send,
// acknowledgement). Both ends are local processes that answer at once; a
// post-login process that does not is broken or overloaded, and the
// client is better told so than left waiting.
const HandoffTimeout = 30 * time.Second

// Handoff is the record a login process sends with the client socket.
type Handoff struct {
	SessionID string // the login's session id, kept in the post-login logs
	AuthPID   int    // auth server pid (SPID of the login's auth connection)
	ClientPID int    // the login process's pid (its CPID)
	AuthID    uint32 // the id of the AUTH request that ended with OK
	Cookie    string // the auth connection's handshake COOKIE
	Local     netip.AddrPort
	Remote    netip.AddrPort
	TLS       bool   // the client's connection is TLS (the login proxies it)
	Tag       string // the tag of the LOGIN/AUTHENTICATE to answer
	Preamble  []byte // client bytes read by the login process but not consumed
}

// ErrHandoff is wrapped by every malformed-record error.
var ErrHandoff = errors.New("ipc: malformed handoff record")

func handoffErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrHandoff, fmt.Sprintf(format, args...))
}

// MarshalBinary encodes the framed record (length prefix included).
func (h *Handoff) MarshalBinary() ([]byte, error) {
	strs := []struct{ name, v string }{
		{"session", h.SessionID}, {"cookie", h.Cookie}, {"local", addrText(h.Local)},
		{"remote", addrText(h.Remote)}, {"tag", h.Tag},
	}
	for _, s := range strs {
		if len(s.v) > MaxHandoffField {
			return nil, fmt.Errorf("ipc: handoff %s is %d bytes, at most %d", s.name, len(s.v), MaxHandoffField)
		}
	}
	if len(h.Preamble) > MaxHandoffPreamble {
		return nil, fmt.Errorf("ipc: handoff preamble is %d bytes, at most %d", len(h.Preamble), MaxHandoffPreamble)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"auth pid", h.AuthPID}, {"client pid", h.ClientPID}} {
		if p.v < 0 || int64(p.v) > 1<<32-1 {
			return nil, fmt.Errorf("ipc: handoff %s %d out of range", p.name, p.v)
		}
	}
	b := make([]byte, 4, 64+len(h.Preamble))
	var flags byte
	if h.TLS {
		flags |= 1
	}
	b = append(b, HandoffVersion, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(h.AuthPID))
	b = binary.BigEndian.AppendUint32(b, uint32(h.ClientPID))
	b = binary.BigEndian.AppendUint32(b, h.AuthID)
	for _, s := range strs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.v)))
		b = append(b, s.v...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Preamble)))
	b = append(b, h.Preamble...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

func addrText(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ParseHandoff decodes a record body (without the length prefix).
func ParseHandoff(body []byte) (*Handoff, error) {
	if len(body) > MaxHandoffRecord {
		return nil, handoffErr("record of %d bytes", len(body))
	}
	if len(body) < 2+12 {
		return nil, handoffErr("short record")
	}
	if body[0] != HandoffVersion {
		return nil, handoffErr("version %d", body[0])
	}
	if body[1]&^1 != 0 {
		return nil, handoffErr("unknown flags %#x", body[1])
	}
	h := &Handoff{TLS: body[1]&1 != 0}
	h.AuthPID = int(binary.BigEndian.Uint32(body[2:]))
	h.ClientPID = int(binary.BigEndian.Uint32(body[6:]))
	h.AuthID = binary.BigEndian.Uint32(body[10:])
	rest := body[14:]
	var strs [5]string
	for i := range strs {
		if len(rest) < 2 {
			return nil, handoffErr("truncated field %d", i)
		}
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n > MaxHandoffField || n > len(rest) {
			return nil, handoffErr("field %d of %d bytes", i, n)
		}
		strs[i] = string(rest[:n])
		rest = rest[n:]
	}
	if len(rest) < 4 {
		return nil, handoffErr("truncated preamble length")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if n > MaxHandoffPreamble || int(n) != len(rest) {
		return nil, handoffErr("preamble of %d bytes with %d left", n, len(rest))
	}
	if n > 0 {
		h.Preamble = append([]byte(nil), rest...)
	}
	h.SessionID, h.Cookie, h.Tag = strs[0], strs[1], strs[4]
	for i, dst := range []*netip.AddrPort{&h.Local, &h.Remote} {
		s := strs[2+i]
		if s == "" {
			continue
		}
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, handoffErr("address %q", s)
		}
		*dst = a
	}
	return h, nil
}

// SendHandoff sends the record h with the descriptor fd attached in one
// message on conn, then waits for HandoffAck. The caller sets conn's
// deadline. After a nil return the receiver owns its copy of fd; the
// caller still closes its own.
func SendHandoff(conn *net.UnixConn, h *Handoff, fd int) error {
	b, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	n, oobn, err := conn.WriteMsgUnix(b, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("ipc: handoff send: %w", err)
	}
	if n != len(b) || oobn == 0 {
		// A unix stream socket takes the whole message or fails, unless
		// it is non-blocking and full; the rest cannot follow reliably
		// without the descriptor, so give up.
		return fmt.Errorf("ipc: handoff send: short write %d of %d", n, len(b))
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return fmt.Errorf("ipc: handoff acknowledgement: %w", err)
	}
	if ack[0] != HandoffAck {
		return fmt.Errorf("ipc: handoff refused (%q)", ack[0])
	}
	return nil
}

// ReceiveHandoff reads one record and its descriptor from conn and
// acknowledges it. The caller sets conn's deadline and owns the returned
// file. Extra descriptors are closed; a record without exactly one is an
// error.
func ReceiveHandoff(conn *net.UnixConn) (*Handoff, *os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: handoff receive: %w", err)
	}
	fds, perr := parseRights(oob[:oobn])
	var file *os.File
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if file != nil {
			file.Close()
		}
	}
	if perr != nil {
		closeAll()
		return nil, nil, perr
	}
	if len(fds) != 1 {
		closeAll()
		return nil, nil, handoffErr("%d descriptors attached, want 1", len(fds))
	}
	unix.CloseOnExec(fds[0])
	file = os.NewFile(uintptr(fds[0]), "handoff-client")
	fds = nil
	if n < 4 {
		more, err := readAtLeast(conn, buf[n:], 4-n)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		n += more
	}
	size := binary.BigEndian.Uint32(buf)
	if size > MaxHandoffRecord {
		closeAll()
		return nil, nil, handoffErr("record of %d bytes", size)
	}
	body := make([]byte, size)
	got := copy(body, buf[4:n])
	if n-4 > int(size) {
		closeAll()
		return nil, nil, handoffErr("trailing bytes after the record")
	}
	if _, err := io.ReadFull(conn, body[got:]); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("ipc: handoff receive: %w", err)
	}
	h, err := ParseHandoff(body)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if _, err := conn.Write([]byte{HandoffAck}); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("ipc: handoff acknowledgement: %w", err)
	}
	return h, file, nil
}

func readAtLeast(r io.Reader, buf []byte, min int) (int, error) {
	n, err := io.ReadAtLeast(r, buf, min)
	if err != nil {
		return n, fmt.Errorf("ipc: handoff receive: %w", err)
	}
	return n, nil
}

// parseRights returns the descriptors of every SCM_RIGHTS message in oob.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, handoffErr("control message: %v", err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue // not SCM_RIGHTS (credentials): nothing to close
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// PeerPID returns the pid of the process at the other end of conn
// (SO_PEERCRED: set by the kernel at connect, so it cannot be forged).
func PeerPID(conn *net.UnixConn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}
