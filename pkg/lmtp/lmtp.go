package lmtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/delivery"
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
	// Helper is the deliver binary run (with the user's credentials) for
	// each recipient when the service runs as root; "" means "deliver"
	// next to this executable.
	Helper string
}

// Server delivers the messages of LMTP clients; Handle is its
// service.Handler.
type Server struct {
	cfg      Config
	root     *settings.Section // the lmtp protocol's view of the settings
	maxSize  int64
	dlv      *delivery.Deliverer
	uid, gid int
	check    bool // compare userdb ids with the process's (not without privilege separation)
	// mailUID and mailGID are mail_uid and mail_gid, for recipients
	// without userdb ids when the service runs as root.
	mailUID, mailGID int
	seq              atomic.Uint64
	// resumeUIDs are the peers whose resume signal is honoured: mail_owner
	// (the queue) and root.
	resumeUIDs map[uint32]bool

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
	opts, err := delivery.LoadOptions(root)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, root: root, maxSize: maxSize,
		master: authproto.NewMasterConn(cfg.Userdb),
		dlv:    &delivery.Deliverer{Options: opts, Drivers: cfg.Drivers, Log: cfg.Log},
		uid:    os.Geteuid(), gid: os.Getegid(), check: os.Getenv(ipc.EnvNoPrivsep) != "1",
		resumeUIDs: map[uint32]bool{0: true},
	}
	// mail_owner need not exist where no queue runs: then only root may
	// send the resume signal.
	if u, err := user.Lookup(settingsCfg.Root.Get("mail_owner")); err == nil {
		if id, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			s.resumeUIDs[uint32(id)] = true
		}
	}
	if s.uid == 0 && s.check {
		// Running as root (service lmtp { user = root }): every
		// recipient is delivered by a helper with its own ids, so
		// resolve the defaults for users without userdb ids now.
		if cfg.Helper == "" {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("locating the deliver helper: %w", err)
			}
			cfg.Helper = filepath.Join(filepath.Dir(exe), "deliver")
			s.cfg.Helper = cfg.Helper
		}
		if s.mailUID, s.mailGID, err = mailIDs(root); err != nil {
			return nil, err
		}
	}
	return s, nil
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
	trusted := false
	if uid, ok := peerUID(conn); ok && s.resumeUIDs[uid] {
		trusted = true
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c, ctx: ctx, id: id, log: log, trusted: trusted}, nil
	}))
	srv.LMTP = true
	// DSN is offered to the queue only, as the channel of its resume
	// signal (MAIL FROM ENVID, see resume.go): lmtp generates no DSNs, and
	// a client that saw DSN would leave success notices to it.
	srv.EnableDSN = trusted
	srv.Domain = s.dlv.Options.Hostname
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
	// cred is set when the recipient is delivered by a helper process
	// with these credentials (the service runs as root).
	cred *syscall.Credential
}

type session struct {
	s     *Server
	c     *smtp.Conn
	ctx   context.Context
	id    string
	log   *zap.Logger
	from  string
	size  int64 // MAIL FROM SIZE=, 0 when not given
	rcpts []*recipient
	// trusted is a peer (mail_owner, root) whose resume signal counts;
	// resume is that signal for the current transaction, nil without.
	trusted bool
	resume  *resumeSignal
	// users caches the userdb answers of this transaction by lookup
	// name: recipients sharing a user (user+a, user+b) cost one lookup.
	users map[string]userdbEntry
}

// userdbEntry is one userdb answer.
type userdbEntry struct {
	user   string
	fields map[string]string
}

func (ss *session) Reset() {
	ss.from = ""
	ss.size = 0
	ss.rcpts = nil
	ss.users = nil
	ss.resume = nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.from = from
	ss.size = 0
	ss.resume = nil
	if opts != nil {
		ss.size = opts.Size
		if ss.trusted {
			ss.resume = parseResume(opts.EnvelopeID)
		}
	}
	ss.rcpts = nil
	ss.users = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	name, _, ok := delivery.SplitAddress(to, ss.s.dlv.Options.Delimiters)
	if !ok {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "<" + to + "> Invalid recipient address"}
	}
	e, cached := ss.users[name]
	var err error
	if !cached {
		e.user, e.fields, err = ss.s.lookup(ss.ctx, name)
		if err == nil {
			if ss.users == nil {
				ss.users = make(map[string]userdbEntry)
			}
			ss.users[name] = e
		}
	}
	user, fields := e.user, e.fields
	switch {
	case errors.Is(err, authproto.ErrNotFound):
		ss.log.Info("rcpt refused: unknown user", zap.String("rcpt", to), zap.String("user", name))
		return smtpError(to, delivery.NoUser(to))
	case err != nil:
		ss.log.Error("rcpt: userdb lookup failed", zap.String("rcpt", to), zap.Error(err))
		return tempFail(to)
	}
	rc, err := ss.s.recipient(ss.id, to, user, fields, ss.c.Conn())
	if err != nil {
		ss.log.Error("rcpt: cannot deliver to this user (configuration problem)", zap.String("rcpt", to), zap.String("user", user), zap.Error(err))
		return tempFail(to)
	}
	// The RCPT-time quota check opens the store, which a root process
	// must not do for another user: helper recipients are checked at
	// delivery only.
	if ss.s.dlv.Options.RcptCheckQuota && rc.cred == nil {
		if err := ss.s.dlv.CheckQuota(rc.cfg, ss.size); err != nil {
			ss.log.Info("rcpt refused: quota", zap.String("rcpt", to), zap.String("user", user), zap.Error(err))
			return smtpError(to, err)
		}
	}
	ss.rcpts = append(ss.rcpts, rc)
	return nil
}

func tempFail(addr string) error {
	return smtpError(addr, delivery.TempFailure(nil))
}

// smtpError turns a delivery outcome into the recipient's reply,
// prefixed with <addr> unless addr is "".
func smtpError(addr string, err error) error {
	var f *delivery.Failure
	if !errors.As(err, &f) {
		f = delivery.TempFailure(err)
	}
	msg := f.Text
	if addr != "" {
		msg = "<" + addr + "> " + msg
	}
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: smtp.EnhancedCode(f.Enhanced), Message: msg}
}

// Data is go-smtp's SMTP entry point; the server runs in LMTP mode, where
// LMTPData is called instead. It delivers and returns the first failure.
func (ss *session) Data(r io.Reader) error {
	var mu sync.Mutex
	var first error
	err := ss.LMTPData(r, statusFunc(func(_ string, err error) {
		mu.Lock()
		defer mu.Unlock()
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

// spoolWriters buffer the writes of LMTPData's spools.
var spoolWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// LMTPData spools the message once (bare LFs made CRLF; in memory when
// small, spool.go) and saves it for every recipient in RCPT order,
// setting each one's status when its save committed or failed.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	sp := newSpool()
	defer sp.Close()
	w := spoolWriters.Get().(*bufio.Writer)
	w.Reset(sp)
	size, err := delivery.CopyCRLF(w, r)
	if err == nil {
		err = w.Flush()
	}
	w.Reset(nil)
	spoolWriters.Put(w)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return err // go-smtp's own verdict (too large, reset)
		}
		ss.log.Warn("data: spooling the message failed", zap.Error(err))
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary internal error"}
	}
	now := time.Now()
	rcv := &delivery.Received{Helo: ss.c.Hostname(), SessionID: ss.id, Time: now}
	if tcp, ok := ss.c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		rcv.RemoteIP = tcp.IP.String()
	}
	// Several recipients: the message is written once and the
	// recipients' commits overlap (delivery.DeliverAll); each status is
	// set when that recipient's commit returned, and go-smtp writes the
	// replies in RCPT order. Recipients delivered by a helper (the
	// service runs as root) keep one helper process each.
	multi := len(ss.rcpts) > 1
	local := make([]delivery.Recipient, 0, len(ss.rcpts))
	localRcpts := make([]*recipient, 0, len(ss.rcpts))
	for _, rc := range ss.rcpts {
		env := delivery.Envelope{From: ss.from, Rcpt: rc.addr, Received: rcv, MultiRcpt: multi}
		if rc.cred == nil {
			local = append(local, delivery.Recipient{User: rc.cfg, Env: env})
			localRcpts = append(localRcpts, rc)
			continue
		}
		job := delivery.Job{User: rc.cfg, Env: env, Options: ss.s.dlv.Options}
		f, err := sp.File()
		if err != nil {
			ss.log.Error("data: spool file", zap.Error(err))
			ss.report(status, rc, "", size, delivery.TempFailure(err))
			continue
		}
		mailbox, err := delivery.RunHelper(ss.s.cfg.Helper, rc.cred, job, f)
		ss.report(status, rc, mailbox, size, err)
	}
	msg := delivery.Message{R: sp.ReaderAt(), Size: size}
	if ss.resume != nil {
		local, localRcpts = ss.skipDelivered(status, local, localRcpts, msg)
	}
	ss.s.dlv.DeliverAll(local, msg, func(i int, mailbox string, err error) {
		ss.report(status, localRcpts[i], mailbox, size, err)
	})
	return nil
}

// report logs one recipient's outcome and sets its status; it may run
// on several goroutines at once.
func (ss *session) report(status smtp.StatusCollector, rc *recipient, mailbox string, size int64, err error) {
	if err != nil {
		ss.log.Error("delivery failed", zap.String("rcpt", rc.addr), zap.String("user", rc.user), zap.String("from", ss.from), zap.Error(err))
		// go-smtp prefixes per-recipient statuses with <address>.
		status.SetStatus(rc.addr, smtpError("", err))
		return
	}
	ss.log.Info("saved mail", zap.String("rcpt", rc.addr), zap.String("user", rc.user), zap.String("from", ss.from), zap.String("mailbox", mailbox), zap.Int64("size", size))
	status.SetStatus(rc.addr, nil)
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

// recipient builds the store configuration of a user (pkg/mailuser,
// shared with the imap process) and decides how it is delivered: in this
// process when the userdb ids (if any) are the process's; by a helper
// with the user's ids when the process runs as root; an error (logged as
// a configuration problem, a temporary failure for the client) otherwise.
func (s *Server) recipient(session, addr, name string, fields map[string]string, conn net.Conn) (*recipient, error) {
	sess := mailuser.Session{Service: "lmtp", ID: session}
	if tcp, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		sess.Local, _ = netip.AddrFromSlice(tcp.IP)
		sess.Local = sess.Local.Unmap()
	}
	if tcp, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		sess.Remote, _ = netip.AddrFromSlice(tcp.IP)
		sess.Remote = sess.Remote.Unmap()
	}
	_, hasUID := fields["uid"]
	_, hasGID := fields["gid"]
	cfg, err := mailuser.ForProcess(s.root, mailuser.Process{}, name, fields, sess)
	if err != nil {
		return nil, err
	}
	rc := &recipient{addr: addr, user: name, cfg: cfg}
	if !s.check {
		return rc, nil
	}
	if s.uid == 0 {
		if !hasUID {
			rc.cfg.UID = s.mailUID
		}
		if !hasGID {
			rc.cfg.GID = s.mailGID
			if hasUID {
				if rc.cfg.GID, err = primaryGID(rc.cfg.UID); err != nil {
					return nil, err
				}
			}
		}
		if rc.cred, err = delivery.Credential(rc.cfg); err != nil {
			return nil, err
		}
		return rc, nil
	}
	if (hasUID && cfg.UID != s.uid) || (hasGID && cfg.GID != s.gid) {
		return nil, fmt.Errorf("userdb uid=%d gid=%d, but lmtp runs as %d:%d: delivering to users with their own uid needs `service lmtp { user = root }` (lmtp then runs the deliver helper as each user)", cfg.UID, cfg.GID, s.uid, s.gid)
	}
	rc.cfg.UID, rc.cfg.GID = s.uid, s.gid
	return rc, nil
}

// mailIDs resolves mail_uid and mail_gid (mail_uid's primary group when
// empty).
func mailIDs(root *settings.Section) (int, int, error) {
	u, err := user.Lookup(root.Get("mail_uid"))
	if err != nil {
		if u, err = user.LookupId(root.Get("mail_uid")); err != nil {
			return 0, 0, fmt.Errorf("mail_uid: %w", err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if g := root.Get("mail_gid"); g != "" {
		grp, err := user.LookupGroup(g)
		if err != nil {
			if grp, err = user.LookupGroupId(g); err != nil {
				return 0, 0, fmt.Errorf("mail_gid: %w", err)
			}
		}
		gid, _ = strconv.Atoi(grp.Gid)
	}
	return uid, gid, nil
}

// primaryGID is the primary group of uid, for a userdb that gives a uid
// without a gid.
func primaryGID(uid int) (int, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return 0, fmt.Errorf("userdb uid %d without gid: %w", uid, err)
	}
	return strconv.Atoi(u.Gid)
}
