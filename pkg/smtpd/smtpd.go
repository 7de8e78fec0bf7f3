package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	caddr "github.com/cote-mail/cote/pkg/smtp"
)

// Recipient is one final recipient of a queued message (after alias
// expansion); ORcpt is the DSN ORCPT as "addr-type;address" (the address
// given at RCPT when the client sent no ORCPT), Notify its DSN NOTIFY.
type Recipient struct {
	Addr   string
	ORcpt  string
	Notify []string
}

// Envelope mirrors the queue's envelope (pkg/queue.Envelope): cmd/smtpd
// converts field by field, so this package does not link the queue.
type Envelope struct {
	From                   string // "" for the null sender
	Rcpts                  []Recipient
	Received               time.Time
	ClientAddr, ClientHelo string
	AuthUser               string
	RET, EnvID             string
	SMTPUTF8, EightBitMIME bool
}

// MessageWriter is a message being spooled: *queue.Writer's methods.
type MessageWriter interface {
	io.Writer
	// ID is the queue ID the message will have (for the Received header).
	ID() string
	// Commit makes the message durable and returns its queue ID.
	Commit() (string, error)
	Abort() error
}

// Sink creates spool files (the queue's *Spool through an adapter).
type Sink interface {
	Create(env Envelope) (MessageWriter, error)
}

// Users answers whether a name is a userdb user (auth-userdb USER).
type Users interface {
	Exists(ctx context.Context, name string) (bool, error)
}

// ConnCounter counts concurrent connections per IP across processes
// (anvil). Connect registers one and returns how many this IP now has.
type ConnCounter interface {
	Connect(ip netip.Addr) (count int, release func(), err error)
}

// ConnRater counts connection events per IP in a time window across
// processes (anvil's RATE): one call per connection, returning the count
// in the current window including this one.
type ConnRater interface {
	ConnRate(ip netip.Addr, window time.Duration) (count int, err error)
}

// Bare newline policies (smtpd_forbid_bare_newline).
const (
	BareLFAllow     = "no"        // stored as received
	BareLFNormalize = "normalize" // bare LF stored as CRLF
	BareLFReject    = "yes"       // 521 5.5.2 and disconnect
)

// Config is everything a Server needs; LoadConfig builds it from settings.
type Config struct {
	Hostname           string // myhostname
	Routing            caddr.Routing
	MyNetworks         []netip.Prefix
	Aliases            *caddr.Aliases // alias_maps, for Local-class domains; nil: none
	VirtualAliases     *caddr.Aliases // virtual_alias_maps; nil: none
	RecipientDelimiter string
	MaxSize            int64 // message_size_limit; 0 = no limit
	RcptLimit          int   // smtpd_recipient_limit; 0 = no limit
	ErrorLimit         int   // smtpd_hard_error_limit; 0 = no limit
	BareNewline        string
	GreetWait          time.Duration // postscreen_greet_wait; 0 = no pre-greeting check
	ConnCountLimit     int           // smtpd_client_connection_count_limit; 0 = none
	ConnRateLimit      int           // smtpd_client_connection_rate_limit; 0 = none
	RateTimeUnit       time.Duration // anvil_rate_time_unit (the rate's window)
	// SenderMustMatchLogin is smtpd_sender_must_match_login.
	SenderMustMatchLogin bool
	// SMTPUTF8 advertises SMTPUTF8 (smtputf8_enable).
	SMTPUTF8 bool
	TLS      *tls.Config // nil: no STARTTLS, no implicit TLS

	Sink    Sink
	Users   Users
	Auth    Authenticator // nil: no AUTH anywhere (submission then refuses MAIL)
	Counter ConnCounter   // nil: no connection count limit
	Rater   ConnRater     // nil: no connection rate limit
	Log     *zap.Logger
	Now     func() time.Time // nil: time.Now
}

const (
	// maxLineLength bounds command and DATA lines alike (go-smtp has one
	// limit): RFC 5321's 1000 would make one long body line fail the whole
	// transaction and close the connection, and Postfix accepts such lines
	// (it splits them), so this is a memory guard only.
	maxLineLength = 1 << 20
	// RFC 5321 section 4.5.3.2: 5 minutes for commands, 10 for a DATA block.
	readTimeout   = 10 * time.Minute
	writeTimeout  = 5 * time.Minute
	lookupTimeout = 30 * time.Second
	authTimeout   = 60 * time.Second
)

// Server serves SMTP clients; Handle is its service.Handler-shaped entry.
type Server struct {
	cfg Config
	seq atomic.Uint64
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Sink == nil {
		return nil, fmt.Errorf("smtpd: no spool")
	}
	if cfg.Users == nil {
		return nil, fmt.Errorf("smtpd: no userdb")
	}
	if cfg.Hostname == "" {
		return nil, fmt.Errorf("smtpd: myhostname is empty")
	}
	switch cfg.BareNewline {
	case "":
		cfg.BareNewline = BareLFReject
	case BareLFAllow, BareLFNormalize, BareLFReject:
	default:
		return nil, fmt.Errorf("smtpd_forbid_bare_newline: unknown value %q (use no, normalize or yes)", cfg.BareNewline)
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RateTimeUnit <= 0 {
		cfg.RateTimeUnit = time.Minute // Postfix's anvil_rate_time_unit
	}
	return &Server{cfg: cfg}, nil
}

// Listener kinds.
const (
	KindMX         = "smtp"        // port 25
	KindSubmission = "submission"  // 587: STARTTLS, AUTH required
	KindImplicit   = "submissions" // 465: implicit TLS, AUTH required
)

// Conn describes one client connection for Serve.
type Conn struct {
	Kind string // KindMX, KindSubmission or KindImplicit (SSL listeners force TLS first)
	// SSL: the listener is implicit TLS (the handshake is done here).
	SSL bool
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.MyNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(c net.Conn) netip.Addr {
	if c == nil || c.RemoteAddr() == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Serve speaks SMTP with one client until it quits, the connection breaks
// or ctx is cancelled (the connection is then closed: an unacknowledged
// transaction is the client's to retry).
func (s *Server) Serve(ctx context.Context, conn net.Conn, kind Conn) {
	id := fmt.Sprintf("%x%06x", time.Now().Unix(), s.seq.Add(1)&0xffffff)
	ip := remoteIP(conn)
	log := s.cfg.Log.With(zap.String("proto", "smtp"), zap.String("session", id), zap.String("listener", kind.Kind))
	if ip.IsValid() {
		log = log.With(zap.String("remote", ip.String()))
	}
	// Shutdown closes the socket itself (not a TLS layer above it, whose
	// Close would try to write close_notify to a client that may not read).
	raw := conn
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	trusted := ip.IsValid() && s.trusted(ip)
	// A unix-socket client (no IP) is local: it is trusted.
	if !ip.IsValid() {
		trusted = true
	}
	if s.cfg.Counter != nil && s.cfg.ConnCountLimit > 0 && !trusted {
		n, release, err := s.cfg.Counter.Connect(ip)
		if err != nil {
			log.Warn("connection count unavailable (anvil)", zap.Error(err))
		} else {
			defer release()
			if n > s.cfg.ConnCountLimit {
				log.Info("refused: too many connections", zap.Int("count", n), zap.Int("limit", s.cfg.ConnCountLimit))
				conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(conn, "421 4.7.0 %s Error: too many connections from %s\r\n", s.cfg.Hostname, ip)
				return
			}
		}
	}
	if s.cfg.Rater != nil && s.cfg.ConnRateLimit > 0 && !trusted {
		// Postfix's smtpd_client_event_limit_exceptions = $mynetworks.
		n, err := s.cfg.Rater.ConnRate(ip, s.cfg.RateTimeUnit)
		if err != nil {
			log.Warn("connection rate unavailable (anvil)", zap.Error(err))
		} else if n > s.cfg.ConnRateLimit {
			log.Info("refused: connection rate limit exceeded", zap.Int("rate", n),
				zap.Int("limit", s.cfg.ConnRateLimit), zap.Duration("unit", s.cfg.RateTimeUnit))
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "421 4.7.0 %s Error: too many connections from %s\r\n", s.cfg.Hostname, ip)
			return
		}
	}
	// go-smtp closes what it is given when the session ends; oneConn is
	// below any TLS layer so that close is seen, and a *tls.Conn stays
	// the outermost type, which is how go-smtp detects TLS.
	oc := &oneConn{Conn: conn, closed: make(chan struct{})}
	conn = oc
	// Early returns (pregreet refusal, failed handshake) leave go-smtp
	// out of it; what was written still goes out before the caller closes.
	defer oc.Flush()
	var ec *errorCounter
	if s.cfg.ErrorLimit > 0 {
		ec = &errorCounter{limit: int32(s.cfg.ErrorLimit), host: s.cfg.Hostname, raw: oc, log: log}
		oc.ec = ec
	}
	if kind.SSL {
		if s.cfg.TLS == nil {
			log.Error("implicit TLS listener without a TLS configuration (ssl_cert/ssl_key)")
			return
		}
		tc := tls.Server(conn, s.cfg.TLS)
		conn.SetDeadline(time.Now().Add(writeTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Info("TLS handshake failed", zap.Error(err))
			return
		}
		conn.SetDeadline(time.Time{})
		conn = tc
	}
	if ec != nil {
		ec.base = conn
	}
	if !isSubmission(kind.Kind) && !trusted && s.cfg.GreetWait > 0 {
		if !s.pregreet(conn, log) {
			return
		}
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		if ec != nil {
			ec.conn.Store(c)
		}
		return s.newSession(ctx, c, kind, id, ip, trusted, ec, oc, log), nil
	}))
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxSize
	srv.MaxLineLength = maxLineLength
	srv.MaxRecipients = s.cfg.RcptLimit
	srv.ReadTimeout = readTimeout
	srv.WriteTimeout = writeTimeout
	srv.TLSConfig = s.cfg.TLS
	srv.EnableSMTPUTF8 = s.cfg.SMTPUTF8
	srv.EnableDSN = true
	srv.ErrorLog = zapPrintf{log}
	if ec != nil {
		srv.Debug = ec // sees every reply go-smtp writes (errors.go)
	}
	_ = srv.Serve(&oneListener{c: conn, closed: oc.closed, addr: conn.LocalAddr()})
}

// pregreet is postscreen's greet check: send the first line of a
// multi-line banner, then wait GreetWait; a client that sends anything
// before the banner is complete does not wait for replies, as spam engines
// do not. It reports whether the session may go on.
func (s *Server) pregreet(conn net.Conn, log *zap.Logger) bool {
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprintf(conn, "220-%s ESMTP\r\n", s.cfg.Hostname); err != nil {
		return false
	}
	conn.SetReadDeadline(time.Now().Add(s.cfg.GreetWait))
	var b [1]byte
	n, err := conn.Read(b[:])
	conn.SetReadDeadline(time.Time{})
	if n > 0 {
		log.Info("PREGREET: client talked before the greeting; closed")
		fmt.Fprintf(conn, "554 5.5.1 %s Error: SMTP protocol synchronization: talked before the greeting\r\n", s.cfg.Hostname)
		return false
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return true
	}
	return false // EOF or a broken connection
}

// zapPrintf adapts go-smtp's error logger.
type zapPrintf struct{ log *zap.Logger }

func (z zapPrintf) Printf(format string, v ...any) { z.log.Warn(fmt.Sprintf(format, v...)) }
func (z zapPrintf) Println(v ...any)               { z.log.Warn(fmt.Sprint(v...)) }

// oneConn is the connection below any TLS layer. It signals when go-smtp
// closes it (the session ended). With an error counter it also tells the
// counter which of go-smtp's Debug writes are replies (errors.go), and
// drops every write once the 421 is out.
//
// It also corks replies (RFC 2920 section 3.2: the server may group the
// replies of a pipelined group). go-smtp writes and flushes every reply
// line on its own (textproto's PrintfLine), so a pipelined MAIL/RCPT/DATA
// cost three writes and three wake-ups of the client. Writes are held
// here instead and go out in one write when go-smtp (or TLS) next reads
// from this connection, which happens only once everything buffered above
// (textproto's bufio.Reader, TLS records) is consumed, that is right
// before a read that may block; and on Close, on Flush (the session calls
// it before it waits for the spool) and right after the write that
// follows flushNext (the reply to DATA/BDAT LAST goes out at once). So a
// reply the client may be waiting for is never held while the server
// waits for the client. Write deadlines stay the socket's: go-smtp sets
// one before each reply and the flush writes under it.
type oneConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
	ec     *errorCounter // nil: no smtpd_hard_error_limit

	mu        sync.Mutex
	out       []byte // corked replies
	flushNext bool   // the next Write is flushed at once
	werr      error  // the first failed flush; later writes fail with it
}

// corkMax bounds the held bytes: replies are small, so only a reply
// larger than this (never in practice) is written through directly.
const corkMax = 16 << 10

func (c *oneConn) Read(p []byte) (int, error) {
	if c.ec != nil {
		c.ec.wrote.Store(false)
	}
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *oneConn) Write(p []byte) (int, error) {
	if c.ec != nil {
		if c.ec.done.Load() {
			return len(p), nil // after 421 the client hears nothing more
		}
		c.ec.wrote.Store(true)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if len(c.out)+len(p) > corkMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > corkMax {
			return c.Conn.Write(p)
		}
	}
	c.out = append(c.out, p...)
	if c.flushNext {
		c.flushNext = false
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes the corked replies.
func (c *oneConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// FlushNextWrite makes the next Write go out at once (the reply to DATA).
func (c *oneConn) FlushNextWrite() {
	c.mu.Lock()
	c.flushNext = true
	c.mu.Unlock()
}

func (c *oneConn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	if err != nil {
		c.werr = err
	}
	return err
}

// SetWriteDeadline and SetDeadline flush first when the new deadline is
// already past: that is how a writer says "stop now" (crypto/tls sends
// close_notify under a short deadline and then sets it to now), and what
// was written before must still go out under the deadline it was
// written under. Future deadlines (go-smtp sets one before each reply)
// just apply to the next flush.
func (c *oneConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() && !t.After(time.Now()) {
		c.Flush()
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *oneConn) SetDeadline(t time.Time) error {
	if !t.IsZero() && !t.After(time.Now()) {
		c.Flush()
	}
	return c.Conn.SetDeadline(t)
}

func (c *oneConn) Close() error {
	c.Flush() // the last replies (221, 421) before the socket goes
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// closeRead ends the client's input so go-smtp's loop sees EOF after the
// reply being written: used after 421.
func closeRead(c net.Conn) {
	type closeReader interface{ CloseRead() error }
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if oc, ok := c.(*oneConn); ok {
		c = oc.Conn
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cr, ok := c.(closeReader); ok {
		cr.CloseRead()
		return
	}
	c.SetReadDeadline(time.Now())
}

// oneListener hands go-smtp's Serve one connection, then blocks until it is
// closed, so Serve returns when the session ends; the service runtime owns
// accepting and client slots.
type oneListener struct {
	c      net.Conn
	closed <-chan struct{}
	addr   net.Addr
	used   bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return l.addr }

func isSubmission(kind string) bool { return strings.HasPrefix(kind, KindSubmission) }
