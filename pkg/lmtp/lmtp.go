package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// UserdbSocket is auth's userdb lookup socket, relative to base_dir.
const UserdbSocket = "auth-userdb"

const (
	// maxLineLength bounds a command line and a DATA line alike (go-smtp
	// uses one limit for both). RFC 5321's 1000 octets would make one long
	// body line fail the whole transaction and close the connection, and
	// Postfix accepts such lines, so the bound is only a memory guard.
	maxLineLength = 1 << 20
	// readTimeout is RFC 5321 section 4.5.3.2's DATA block timeout (the
	// longest of its server timeouts): a client silent for that long is gone.
	readTimeout  = 10 * time.Minute
	writeTimeout = 5 * time.Minute
	// lookupTimeout bounds one userdb lookup: auth answers from memory or
	// one database query, so longer means it is stuck.
	lookupTimeout = 30 * time.Second
)

// Config is what a Server needs besides the settings.
type Config struct {
	// Userdb is the auth-userdb socket; "" means base_dir's.
	Userdb string
	// Drivers are the storage drivers by mail_location scheme.
	Drivers map[string]storage.Driver
	Log     *zap.Logger
}

// Server delivers the messages of LMTP clients; Handle is its
// service.Handler.
type Server struct {
	cfg         Config
	root        *settings.Section // the lmtp protocol's view of the settings
	hostname    string
	maxSize     int64
	delimiters  string
	addReceived bool
	uid, gid    int
	check       bool // compare userdb ids with the process's (not without privilege separation)
	seq         atomic.Uint64

	master *authproto.MasterConn // one auth-userdb connection shared by all sessions
}

// New returns a Server for the settings cfg (the lmtp protocol filter
// applies). It fails on settings it cannot honour.
func New(settingsCfg *settings.Config, cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Userdb == "" {
		cfg.Userdb = filepath.Join(settingsCfg.Root.Get("base_dir"), UserdbSocket)
	}
	root := settingsCfg.Protocol("lmtp")
	maxSize, err := mailuser.MaxMailSize(root)
	if err != nil {
		return nil, err
	}
	host := root.Get("hostname")
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
	}
	return &Server{
		cfg: cfg, root: root, hostname: host, maxSize: maxSize,
		master:      authproto.NewMasterConn(cfg.Userdb),
		delimiters:  root.Get("recipient_delimiter"),
		addReceived: root.Bool("lmtp_add_received_header"),
		uid:         os.Geteuid(), gid: os.Getegid(), check: os.Getenv(ipc.EnvNoPrivsep) != "1",
	}, nil
}

// Close closes the auth-userdb connection.
func (s *Server) Close() {
	s.master.Close()
}

// Handle serves one LMTP client until it quits or ctx is cancelled
// (shutdown: the connection is closed; a transaction without its replies
// was not acknowledged, so the client retries it).
func (s *Server) Handle(ctx context.Context, conn net.Conn, _ *service.Listener) {
	id := fmt.Sprintf("%x%06x", time.Now().Unix(), s.seq.Add(1)&0xffffff)
	log := s.cfg.Log.With(zap.String("proto", "lmtp"), zap.String("session", id))
	if ra := conn.RemoteAddr(); ra != nil && ra.String() != "" && ra.String() != "@" {
		log = log.With(zap.String("remote", ra.String()))
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c, ctx: ctx, id: id, log: log}, nil
	}))
	srv.LMTP = true
	srv.Domain = s.hostname
	srv.MaxMessageBytes = s.maxSize
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = readTimeout
	srv.WriteTimeout = writeTimeout
	srv.ErrorLog = zapPrintf{log}

	oc := &oneConn{Conn: conn, closed: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	l := &oneListener{c: oc, addr: conn.LocalAddr()}
	_ = srv.Serve(l) // returns once the connection is closed
}

// zapPrintf adapts go-smtp's error logger.
type zapPrintf struct{ log *zap.Logger }

func (z zapPrintf) Printf(format string, v ...any) { z.log.Warn(fmt.Sprintf(format, v...)) }
func (z zapPrintf) Println(v ...any)               { z.log.Warn(fmt.Sprint(v...)) }

// oneConn signals when go-smtp closes it, which it does when the session
// ends (after Logout).
type oneConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *oneConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// oneListener hands go-smtp's Serve one connection, then blocks until that
// connection is closed, so Serve returns exactly when the session ended:
// the service runtime owns accepting and client slots.
type oneListener struct {
	c    *oneConn
	addr net.Addr
	used bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.c, nil
	}
	<-l.c.closed
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return l.addr }

// recipient is an accepted RCPT: the address as given and the store
// configuration of the user it resolved to.
type recipient struct {
	addr string
	user string
	cfg  storage.UserConfig
}

type session struct {
	s     *Server
	c     *smtp.Conn
	ctx   context.Context
	id    string
	log   *zap.Logger
	from  string
	rcpts []*recipient
}

func (ss *session) Reset() {
	ss.from = ""
	ss.rcpts = nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.rcpts = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	name := ss.s.lookupName(to)
	if name == "" {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "<" + to + "> Invalid recipient address"}
	}
	user, fields, err := ss.s.lookup(ss.ctx, name)
	switch {
	case errors.Is(err, authproto.ErrNotFound):
		ss.log.Info("rcpt refused: unknown user", zap.String("rcpt", to), zap.String("user", name))
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + "> User doesn't exist: " + to}
	case err != nil:
		ss.log.Error("rcpt: userdb lookup failed", zap.String("rcpt", to), zap.Error(err))
		return tempFail(to)
	}
	cfg, err := ss.s.userConfig(ss.id, user, fields, ss.c.Conn())
	if err != nil {
		ss.log.Error("rcpt: userdb fields", zap.String("rcpt", to), zap.String("user", user), zap.Error(err))
		return tempFail(to)
	}
	ss.rcpts = append(ss.rcpts, &recipient{addr: to, user: user, cfg: cfg})
	return nil
}

func tempFail(addr string) error {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "<" + addr + "> Temporary internal error"}
}

// Data is go-smtp's SMTP entry point; the server runs in LMTP mode, where
// LMTPData is called instead. It delivers and returns the first failure.
func (ss *session) Data(r io.Reader) error {
	var first error
	err := ss.LMTPData(r, statusFunc(func(_ string, err error) {
		if first == nil {
			first = err
		}
	}))
	if err != nil {
		return err
	}
	return first
}

type statusFunc func(string, error)

func (f statusFunc) SetStatus(rcpt string, err error) { f(rcpt, err) }

// LMTPData spools the message once (bare LFs made CRLF) and saves it for
// every recipient in RCPT order, setting each one's status when its save
// committed or failed.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	spool, err := os.CreateTemp("", "cote-lmtp-*")
	if err != nil {
		ss.log.Error("data: spool file", zap.Error(err))
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary internal error"}
	}
	// Unlinked at once: the spool is only ever reached through this fd.
	os.Remove(spool.Name())
	defer spool.Close()
	w := bufio.NewWriterSize(spool, 64<<10)
	size, err := copyCRLF(w, r)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return err // go-smtp's own verdict (too large, reset)
		}
		ss.log.Warn("data: reading the message failed", zap.Error(err))
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary internal error"}
	}
	now := time.Now()
	for _, rc := range ss.rcpts {
		hdr := ss.headers(rc, now)
		body := io.MultiReader(bytes.NewReader(hdr), io.NewSectionReader(spool, 0, size))
		err := ss.s.deliver(rc, body, ss.log)
		log := ss.log.With(zap.String("rcpt", rc.addr), zap.String("user", rc.user), zap.String("from", ss.from))
		if err != nil {
			log.Error("delivery failed", zap.Error(err))
			status.SetStatus(rc.addr, deliveryError(rc.addr, err))
			continue
		}
		log.Info("saved mail to INBOX", zap.Int64("size", size+int64(len(hdr))))
		status.SetStatus(rc.addr, nil)
	}
	return nil
}

// deliveryError maps a store failure to the recipient's reply.
func deliveryError(addr string, err error) error {
	switch {
	case errors.Is(err, storage.ErrOverQuota):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "<" + addr + "> Quota exceeded (mailbox for user is full)"}
	case errors.Is(err, storage.ErrTooBig):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 3}, Message: "<" + addr + "> Message is too big"}
	}
	return tempFail(addr)
}

// headers returns the trace fields prepended for rc: Return-Path and
// Delivered-To (RFC 5321 section 4.4, Dovecot's lmtp_hdr_delivery_address =
// final: the RCPT address), and Received when lmtp_add_received_header is set.
func (ss *session) headers(rc *recipient, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", ss.from)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", rc.addr)
	if ss.s.addReceived {
		from := ss.c.Hostname()
		if tcp, ok := ss.c.Conn().RemoteAddr().(*net.TCPAddr); ok {
			from += " ([" + tcp.IP.String() + "])"
		}
		fmt.Fprintf(&b, "Received: from %s\r\n\tby %s with LMTP\r\n\tid %s\r\n\t(envelope-from <%s>)\r\n\tfor <%s>; %s\r\n",
			from, ss.s.hostname, ss.id, ss.from, rc.addr, now.Format(time.RFC1123Z))
	}
	return b.Bytes()
}

// copyCRLF copies r to w turning every bare LF into CRLF; it returns the
// bytes written.
func copyCRLF(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	out := make([]byte, 0, 64<<10)
	var n int64
	prevCR := false
	for {
		k, err := r.Read(buf)
		out = out[:0]
		for _, c := range buf[:k] {
			if c == '\n' && !prevCR {
				out = append(out, '\r')
			}
			out = append(out, c)
			prevCR = c == '\r'
		}
		if len(out) > 0 {
			m, werr := w.Write(out)
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// deliver saves body into rc's INBOX in one save transaction; Commit
// returns only once the message is on stable storage.
func (s *Server) deliver(rc *recipient, body io.Reader, log *zap.Logger) error {
	if err := mailuser.MakeHome(rc.cfg.Home); err != nil {
		return fmt.Errorf("home directory: %w", err)
	}
	u, err := storage.OpenUser(rc.cfg, s.cfg.Drivers, log)
	if err != nil {
		return err
	}
	defer u.Close()
	mb, err := u.OpenSave("INBOX")
	if err != nil {
		return err
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		return err
	}
	if err := sv.Append(body, storage.AppendOptions{}); err != nil {
		sv.Abort()
		return err
	}
	_, _, err = sv.Commit()
	return err
}

// lookupName is the user name asked of the userdb for an RCPT address:
// the address with the detail (from the first recipient_delimiter
// character of the local part up to the @) removed. "" for an empty local
// part.
func (s *Server) lookupName(addr string) string {
	local, domain, hasAt := addr, "", false
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain, hasAt = addr[:i], addr[i+1:], true
	}
	if s.delimiters != "" {
		if i := strings.IndexAny(local, s.delimiters); i > 0 {
			local = local[:i]
		}
	}
	if local == "" {
		return ""
	}
	if hasAt {
		return local + "@" + domain
	}
	return local
}

// lookup asks the userdb for name on one shared auth-userdb connection,
// redialled once when it broke (auth restarted).
func (s *Server) lookup(ctx context.Context, name string) (string, map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var user string
	var fields authproto.Fields
	err := s.master.Do(ctx, func(m *authproto.Master) error {
		var err error
		user, fields, err = m.User(ctx, name, "lmtp", nil)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if user == "" {
		user = name
	}
	return user, fields.Map(), nil
}

// userConfig checks the userdb's uid and gid against the process's (a
// user with another uid is a system user, whose delivery needs a per-uid
// helper this service does not have) and builds the store configuration
// (pkg/mailuser, shared with the imap process).
func (s *Server) userConfig(session, name string, fields map[string]string, conn net.Conn) (storage.UserConfig, error) {
	sess := mailuser.Session{Service: "lmtp", ID: session}
	if tcp, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		sess.Local, _ = netip.AddrFromSlice(tcp.IP)
		sess.Local = sess.Local.Unmap()
	}
	if tcp, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		sess.Remote, _ = netip.AddrFromSlice(tcp.IP)
		sess.Remote = sess.Remote.Unmap()
	}
	return mailuser.ForProcess(s.root, mailuser.Process{UID: s.uid, GID: s.gid, Check: s.check}, name, fields, sess)
}
