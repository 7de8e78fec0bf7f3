package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cote-mail/cote/pkg/smtp"
	gosmtp "github.com/emersion/go-smtp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// PickupConfig configures the local submission server on base_dir/pickup.
type PickupConfig struct {
	Spool      *Spool
	MyHostname string
	Log        *zap.Logger
	MaxSize    int64 // message_size_limit; 0 = none
	// LookupUID names a uid (default: the passwd database through os/user).
	LookupUID func(uid uint32) (string, error)
}

// Pickup serves ESMTP on a unix socket for local programs (cote-sendmail). The client's uid
// comes from SO_PEERCRED and is recorded (Received:, AuthUser); a sender or recipient without
// a domain gets @myhostname; MAIL FROM:<> means the default sender <login name>@myhostname
// (pickup never queues null-sender mail). Accepted mail goes through Spool.Create and Commit.
type Pickup struct {
	cfg   PickupConfig
	srv   *gosmtp.Server
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewPickup builds the server; Handle serves one connection.
func NewPickup(cfg PickupConfig) *Pickup {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.LookupUID == nil {
		cfg.LookupUID = func(uid uint32) (string, error) {
			u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
			if err != nil {
				return "", err
			}
			return u.Username, nil
		}
	}
	p := &Pickup{cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	p.srv = gosmtp.NewServer(gosmtp.BackendFunc(p.newSession))
	p.srv.Domain = cfg.MyHostname
	p.srv.MaxMessageBytes = cfg.MaxSize
	p.srv.MaxRecipients = 1000
	p.srv.ReadTimeout = 5 * time.Minute
	p.srv.WriteTimeout = 5 * time.Minute
	p.srv.EnableSMTPUTF8 = true
	// go-smtp applies MaxLineLength to DATA lines too: local programs send what they have
	// (long HTML or unwrapped base64 lines), as Postfix's sendmail accepts them.
	p.srv.MaxLineLength = 1 << 20
	// The socket is local: no TLS; no AUTH (the peer's uid identifies it).
	p.srv.AllowInsecureAuth = false
	go p.srv.Serve(&chanListener{p: p})
	return p
}

// Close stops the server.
func (p *Pickup) Close() error {
	p.once.Do(func() { close(p.done) })
	return p.srv.Close()
}

// Handle serves one accepted connection until the client quits or ctx ends.
func (p *Pickup) Handle(ctx context.Context, c net.Conn) {
	w := &waitConn{Conn: c, closed: make(chan struct{})}
	w.uid, w.uidErr = PeerUID(c)
	w.r = &qualifyReader{br: bufio.NewReaderSize(c, 4096), host: p.cfg.MyHostname}
	select {
	case p.conns <- w:
		select {
		case <-w.closed:
		case <-ctx.Done():
			// Shutdown: the session ends now; go-smtp's handler sees the closed conn.
			w.Close()
		}
	case <-p.done:
		c.Close()
	}
}

type waitConn struct {
	net.Conn
	r      io.Reader
	uid    uint32
	uidErr error
	once   sync.Once
	closed chan struct{}
}

func (w *waitConn) Read(b []byte) (int, error) { return w.r.Read(b) }

// qualifyReader adds @myhostname to a domainless MAIL FROM or RCPT TO path before go-smtp's
// parser (which requires a domain) sees the command; message data (after DATA, up to the
// lone dot) passes unchanged. BDAT is not used by cote-sendmail; a BDAT chunk is not parsed.
type qualifyReader struct {
	br      *bufio.Reader
	host    string
	pending []byte
	data    bool // inside DATA
	midline bool // the previous read ended inside a long line
}

var pathCmds = []string{"MAIL FROM:<", "RCPT TO:<"}

func (q *qualifyReader) Read(b []byte) (int, error) {
	if len(q.pending) == 0 {
		line, err := q.br.ReadSlice('\n')
		if len(line) == 0 {
			return 0, err
		}
		atStart := !q.midline
		q.midline = err == bufio.ErrBufferFull
		q.pending = append(q.pending[:0], line...)
		if atStart && !q.midline && line[len(line)-1] == '\n' {
			q.pending = q.rewrite(q.pending)
		}
	}
	n := copy(b, q.pending)
	q.pending = q.pending[n:]
	return n, nil
}

func (q *qualifyReader) rewrite(line []byte) []byte {
	text := strings.TrimRight(string(line), "\r\n")
	if q.data {
		if text == "." {
			q.data = false
		}
		return line
	}
	if strings.EqualFold(text, "DATA") {
		q.data = true
		return line
	}
	for _, c := range pathCmds {
		if len(text) < len(c) || !strings.EqualFold(text[:len(c)], c) {
			continue
		}
		end := strings.IndexByte(text, '>')
		if end < 0 {
			return line
		}
		path := text[len(c):end]
		if path == "" || strings.Contains(path, "@") {
			return line
		}
		return []byte(text[:end] + "@" + q.host + text[end:] + "\r\n")
	}
	return line
}

func (w *waitConn) Close() error {
	err := w.Conn.Close()
	w.once.Do(func() { close(w.closed) })
	return err
}

// chanListener feeds Handle's connections to go-smtp's accept loop.
type chanListener struct{ p *Pickup }

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.p.conns:
		return c, nil
	case <-l.p.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return &net.UnixAddr{Name: "pickup", Net: "unix"} }

// PeerUID returns the uid of the process at the other end of a unix socket.
func PeerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("pickup: not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

func (p *Pickup) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	w, ok := c.Conn().(*waitConn)
	if !ok || w.uidErr != nil {
		return nil, &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "cannot identify the local user"}
	}
	uid := w.uid
	name, err := p.cfg.LookupUID(uid)
	if err != nil {
		name = "uid" + strconv.FormatUint(uint64(uid), 10)
	}
	return &pickupSession{p: p, uid: uid, login: name}, nil
}

type pickupSession struct {
	p       *Pickup
	uid     uint32
	login   string
	env     Envelope
	hasMail bool
}

func (s *pickupSession) Reset()        { s.env, s.hasMail = Envelope{}, false }
func (s *pickupSession) Logout() error { return nil }

// qualify parses an address and adds @myhostname to a bare local part.
func (s *pickupSession) qualify(a string) (string, error) {
	if !strings.Contains(a, "@") {
		a += "@" + s.p.cfg.MyHostname
	}
	addr, err := smtp.ParseAddress(a)
	if err != nil {
		return "", &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "bad address syntax"}
	}
	return addr.String(), nil
}

func (s *pickupSession) Mail(from string, opts *gosmtp.MailOptions) error {
	s.env = Envelope{Received: time.Now(), ClientAddr: "local", ClientHelo: "uid " + strconv.FormatUint(uint64(s.uid), 10),
		AuthUser: s.login}
	switch {
	case from == "":
		s.env.From = s.login + "@" + s.p.cfg.MyHostname
	default:
		f, err := s.qualify(from)
		if err != nil {
			return err
		}
		s.env.From = f
	}
	if opts != nil {
		s.env.SMTPUTF8 = opts.UTF8
		s.env.EightBitMIME = opts.Body == gosmtp.Body8BitMIME
		s.env.RET = string(opts.Return)
		s.env.EnvID = opts.EnvelopeID
	}
	s.hasMail = true
	return nil
}

func (s *pickupSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if !s.hasMail {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"}
	}
	a, err := s.qualify(to)
	if err != nil {
		return err
	}
	r := Recipient{Addr: a}
	if opts != nil {
		for _, n := range opts.Notify {
			r.Notify = append(r.Notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			r.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	s.env.Rcpts = append(s.env.Rcpts, r)
	return nil
}

func (s *pickupSession) Data(r io.Reader) error {
	if len(s.env.Rcpts) == 0 {
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "no valid recipients"}
	}
	w, err := s.p.cfg.Spool.Create(s.env)
	if err != nil {
		s.p.cfg.Log.Error("pickup: spool", zap.Error(err))
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "queue file write error"}
	}
	fmt.Fprintf(w, "Received: by %s (cote pickup, from userid %d)\r\n\tid %s; %s\r\n",
		s.p.cfg.MyHostname, s.uid, w.ID(), s.env.Received.Format(time.RFC1123Z))
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		if errors.Is(err, gosmtp.ErrDataTooLarge) {
			return gosmtp.ErrDataTooLarge
		}
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "queue file write error"}
	}
	id, err := w.Commit()
	if err != nil {
		s.p.cfg.Log.Error("pickup: commit", zap.Error(err))
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "queue file write error"}
	}
	s.p.cfg.Log.Info("pickup", zap.String("queue_id", id), zap.Uint32("uid", s.uid), zap.String("from", s.env.From),
		zap.Int("nrcpt", len(s.env.Rcpts)))
	return nil
}
