package login

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/tlsconf"
)

// Timeouts of a pre-login session. Zero fields take the defaults below.
type Timeouts struct {
	Idle      time.Duration // one command read
	Session   time.Duration // the whole session before login
	Handshake time.Duration // one TLS handshake
	Write     time.Duration // one flush to the client
	Bye       time.Duration // the farewell line on shutdown or timeout
}

// Default timeouts.
const (
	// DefaultSessionTimeout is Dovecot's CLIENT_LOGIN_TIMEOUT
	// (MASTER_LOGIN_TIMEOUT_SECS, 3 minutes): a client gets that long in
	// total to log in, so idle pre-auth connections cannot hold slots.
	DefaultSessionTimeout = 3 * time.Minute
	// DefaultIdleTimeout bounds the wait for one command. A client that
	// greets and then says nothing for a minute is not logging in.
	DefaultIdleTimeout = time.Minute
	// DefaultHandshakeTimeout bounds a TLS handshake: long enough for a
	// slow mobile link, short enough that half-open handshakes do not pile up.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds one flush; a client that does not read
	// its responses is dropped.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultByeTimeout bounds the farewell line, so a shutdown is not
	// held up by a client that does not read.
	DefaultByeTimeout = 2 * time.Second
)

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Idle, DefaultIdleTimeout)
	def(&t.Session, DefaultSessionTimeout)
	def(&t.Handshake, DefaultHandshakeTimeout)
	def(&t.Write, DefaultWriteTimeout)
	def(&t.Bye, DefaultByeTimeout)
	return t
}

// Config is what the login core needs from the settings.
type Config struct {
	Proto string // "imap" or "pop3": the log field and the settings filter
	// TLS serves implicit TLS and STARTTLS; nil when ssl = no.
	TLS *tls.Config
	// SSLRequired is ssl = required: plaintext authentication needs a
	// secured connection even when disable_plaintext_auth = no.
	SSLRequired bool
	// DisablePlaintextAuth is disable_plaintext_auth.
	DisablePlaintextAuth bool
	// Trusted is login_trusted_networks.
	Trusted  []netip.Prefix
	Timeouts Timeouts
	Log      *zap.Logger
}

// ConfigFrom reads the login settings of protocol proto: ssl and the
// certificates (through tlsconf), disable_plaintext_auth and
// login_trusted_networks.
func ConfigFrom(cfg *settings.Config, proto string, log *zap.Logger) (Config, error) {
	if log == nil {
		log = zap.NewNop()
	}
	sec := cfg.Protocol(proto)
	c := Config{
		Proto:                proto,
		SSLRequired:          sec.Get("ssl") == "required",
		DisablePlaintextAuth: sec.Bool("disable_plaintext_auth"),
		Log:                  log,
	}
	tc, warnings, err := tlsconf.New(tlsconf.FromSection(sec, cfg.LocalNames()))
	if err != nil {
		return Config{}, err
	}
	// The master logs these once when it loads the configuration; a
	// service repeating them in every process would be noise.
	for _, w := range warnings {
		log.Debug("tls settings warning", zap.String("warning", w))
	}
	c.TLS = tc
	c.Trusted, err = ParseNetworks(sec.List("login_trusted_networks"))
	if err != nil {
		return Config{}, fmt.Errorf("login_trusted_networks: %w", err)
	}
	return c, nil
}

// ParseNetworks parses login_trusted_networks entries: addresses or CIDR
// prefixes, IPv4 or IPv6.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("invalid network %q", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("invalid address %q", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Session speaks a protocol with one client. It returns when the client is
// done; the core closes the connection afterwards. ctx is cancelled on
// service shutdown, and the client's deadlines then expire at once.
type Session func(ctx context.Context, c *Client)

// Server is the login core of one service process.
type Server struct {
	cfg     Config
	session Session

	mu      sync.Mutex
	clients map[*Client]struct{} // guarded by mu: the client table
	warned  map[string]bool      // guarded by mu: listeners already reported as misconfigured
}

// NewServer returns a Server that runs session for every client.
func NewServer(cfg Config, session Session) *Server {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	cfg.Timeouts = cfg.Timeouts.withDefaults()
	return &Server{cfg: cfg, session: session, clients: map[*Client]struct{}{}, warned: map[string]bool{}}
}

// Clients returns the number of connected clients.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Handle serves one accepted connection; it is a service.Handler. The
// caller (service.Serve) closes conn after it returns.
func (s *Server) Handle(ctx context.Context, conn net.Conn, l *service.Listener) {
	c := s.newClient(conn, l)
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, c.interrupt)
	defer stop()
	defer c.close()

	if l != nil && l.SSL {
		if s.cfg.TLS == nil {
			s.warnListener(l.Name)
			return
		}
		if err := c.handshake(ctx); err != nil {
			c.Log.Info("disconnected: TLS handshake failed", zap.Error(err))
			return
		}
	}
	c.Log.Debug("connected")
	s.session(ctx, c)
}

func (s *Server) warnListener(name string) {
	s.mu.Lock()
	first := !s.warned[name]
	s.warned[name] = true
	s.mu.Unlock()
	if first {
		s.cfg.Log.Error("listener has ssl = yes but TLS is disabled (ssl = no); closing its connections",
			zap.String("proto", s.cfg.Proto), zap.String("listener", name))
	}
}

// Client is one pre-login connection.
type Client struct {
	ID     string // session id, as in Dovecot's session=<...> log field
	Log    *zap.Logger
	Remote netip.AddrPort
	Local  netip.AddrPort

	srv      *Server
	fields   []zap.Field // the log fields other than tls
	raw      net.Conn
	deadline time.Time // end of the whole pre-login session
	started  time.Time // when the connection was accepted: eviction takes the oldest
	trusted  bool

	mu      sync.Mutex // guards conn, isTLS, closing, loggedIn and evicted
	conn    net.Conn   // raw, or the TLS connection over it
	isTLS   bool
	closing bool // the service is shutting down: deadlines only move to the past
	// loggedIn is set when the handoff starts: the client belongs to a
	// post-login process (or the proxy) and is never evicted.
	loggedIn bool
	// evicted: EvictOldest told the client to go to make room.
	evicted bool
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) newClient(conn net.Conn, l *service.Listener) *Client {
	c := &Client{
		ID:       newSessionID(),
		Remote:   addrPort(conn.RemoteAddr()),
		Local:    addrPort(conn.LocalAddr()),
		srv:      s,
		raw:      conn,
		conn:     conn,
		deadline: time.Now().Add(s.cfg.Timeouts.Session),
		started:  time.Now(),
	}
	for _, p := range s.cfg.Trusted {
		if c.Remote.Addr().IsValid() && p.Contains(c.Remote.Addr()) {
			c.trusted = true
			break
		}
	}
	c.fields = []zap.Field{
		zap.String("proto", s.cfg.Proto),
		zap.String("session", c.ID),
		zap.String("remote", c.Remote.String()),
		zap.String("local", c.Local.String()),
	}
	if l != nil {
		c.fields = append(c.fields, zap.String("listener", l.Name))
	}
	c.setLog(false)
	return c
}

// setLog rebuilds the connection's logger with its tls field.
func (c *Client) setLog(isTLS bool) {
	c.Log = c.srv.cfg.Log.With(append(c.fields[:len(c.fields):len(c.fields)], zap.Bool("tls", isTLS))...)
}

// Conn returns the connection to speak over: the TLS connection once TLS
// is up. It changes after StartTLS.
func (c *Client) Conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// TLS reports whether the connection is encrypted.
func (c *Client) TLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isTLS
}

// Trusted reports whether the client is in login_trusted_networks.
func (c *Client) Trusted() bool { return c.trusted }

// Secured follows Dovecot's rule: TLS, a trusted network, or a client on
// the same IP as the server (a local client: sniffing needs root there).
func (c *Client) Secured() bool {
	if c.TLS() || c.trusted {
		return true
	}
	return c.Remote.Addr().IsValid() && c.Remote.Addr() == c.Local.Addr()
}

// PlaintextAuthAllowed reports whether a password may be sent in the
// clear on this connection: always when secured, otherwise only with
// disable_plaintext_auth = no and ssl other than required (Dovecot's
// client_check_plaintext_auth).
func (c *Client) PlaintextAuthAllowed() bool {
	if c.Secured() {
		return true
	}
	return !c.srv.cfg.DisablePlaintextAuth && !c.srv.cfg.SSLRequired
}

// StartTLSAvailable reports whether STARTTLS can be offered.
func (c *Client) StartTLSAvailable() bool {
	return c.srv.cfg.TLS != nil && !c.TLS()
}

// ShuttingDown reports whether the service asked every client to go, or
// this one (EvictOldest): the session then says ByeText and ends.
func (c *Client) ShuttingDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// ByeText is the BYE text for a client that ShuttingDown tells to go.
func (c *Client) ByeText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.evicted {
		return TextQueueFull
	}
	return "Server shutting down."
}

// TextQueueFull is the BYE text of an evicted client, in Dovecot's words.
const TextQueueFull = "Connection queue full"

// EvictOldest makes room in a full process, as Dovecot's login processes
// do when the service is at its process_limit and a new client is
// waiting: the oldest client that has not logged in is told to go (its
// session says "BYE Connection queue full" and ends, freeing its slot).
// It reports whether a client was evicted; clients being handed off or
// proxied are never chosen.
func (s *Server) EvictOldest() bool {
	s.mu.Lock()
	var oldest *Client
	for c := range s.clients {
		c.mu.Lock()
		ok := !c.loggedIn && !c.closing
		c.mu.Unlock()
		if ok && (oldest == nil || c.started.Before(oldest.started)) {
			oldest = c
		}
	}
	s.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.mu.Lock()
	defer oldest.mu.Unlock()
	if oldest.loggedIn || oldest.closing {
		// It logged in or left since the scan: evicting another is
		// the caller's next call.
		return false
	}
	oldest.evicted, oldest.closing = true, true
	_ = oldest.raw.SetDeadline(time.Now())
	oldest.Log.Info("evicting: the process is full", zap.Duration("age", time.Since(oldest.started).Round(time.Millisecond)))
	return true
}

// markLoggedIn takes the client out of eviction's reach; it fails when
// the client was evicted first.
func (c *Client) markLoggedIn(on bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on && c.evicted {
		return false
	}
	c.loggedIn = on
	return true
}

// interrupt runs when the service context is cancelled: it unblocks any
// read or write in progress.
func (c *Client) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	_ = c.raw.SetDeadline(time.Now())
}

// PrepareRead sets the deadline of the next command read: the idle
// timeout, capped by the session deadline.
func (c *Client) PrepareRead() {
	d := time.Now().Add(c.srv.cfg.Timeouts.Idle)
	if c.deadline.Before(d) {
		d = c.deadline
	}
	c.setReadDeadline(d)
}

// PrepareWrite sets the deadline of the next flush.
func (c *Client) PrepareWrite() {
	c.setWriteDeadline(time.Now().Add(c.srv.cfg.Timeouts.Write))
}

// PrepareBye sets a short write deadline for a farewell line; it works
// during shutdown too, where PrepareWrite does not.
func (c *Client) PrepareBye() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.raw.SetWriteDeadline(time.Now().Add(c.srv.cfg.Timeouts.Bye))
}

func (c *Client) setReadDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		t = time.Now()
	}
	_ = c.raw.SetReadDeadline(t)
}

func (c *Client) setWriteDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		t = time.Now()
	}
	_ = c.raw.SetWriteDeadline(t)
}

// IsTimeout reports whether err is a deadline expiry that was not caused
// by shutdown: the client was idle too long.
func (c *Client) IsTimeout(err error) bool {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return false
	}
	return !c.ShuttingDown()
}

// StartTLS performs the server side of a TLS handshake on the connection
// (after the protocol's go-ahead has been flushed). Any plaintext the
// caller buffered must be discarded: it was sent before the handshake and
// could have been injected by a man in the middle (CVE-2011-0411).
func (c *Client) StartTLS(ctx context.Context) error {
	if c.srv.cfg.TLS == nil {
		return fmt.Errorf("login: TLS is not configured")
	}
	if c.TLS() {
		return fmt.Errorf("login: TLS is already active")
	}
	return c.handshake(ctx)
}

func (c *Client) handshake(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, c.srv.cfg.Timeouts.Handshake)
	defer cancel()
	tc := tls.Server(c.raw, c.srv.cfg.TLS)
	// HandshakeContext honours hctx through the connection deadline;
	// clear any read deadline left from the plaintext phase first.
	c.setReadDeadline(time.Time{})
	c.setWriteDeadline(time.Time{})
	if err := tc.HandshakeContext(hctx); err != nil {
		return err
	}
	st := tc.ConnectionState()
	c.mu.Lock()
	c.conn = tc
	c.isTLS = true
	c.mu.Unlock()
	c.setLog(true)
	c.Log.Debug("TLS established",
		zap.String("tls_version", tls.VersionName(st.Version)),
		zap.String("tls_cipher", tls.CipherSuiteName(st.CipherSuite)))
	return nil
}

// drainLimit bounds what Drain discards.
const drainLimit = 1 << 20

// Drain is a lingering close for a session ended by a protocol error while
// the client may still be sending (a line over the cap): it ends our
// direction of the connection and discards input until the client closes,
// drainLimit bytes, or the farewell deadline. Closing with unread input
// would make the kernel send a reset, which can destroy the farewell line
// before the client reads it.
func (c *Client) Drain() {
	conn := c.Conn()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.mu.Lock()
	_ = c.raw.SetReadDeadline(time.Now().Add(c.srv.cfg.Timeouts.Bye))
	c.mu.Unlock()
	_, _ = io.CopyN(io.Discard, conn, drainLimit)
}

// close closes the connection; for TLS it sends close_notify first, with
// a short deadline.
func (c *Client) close() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != c.raw {
		_ = c.raw.SetWriteDeadline(time.Now().Add(c.srv.cfg.Timeouts.Bye))
		_ = conn.Close()
	}
	_ = c.raw.Close()
}
