package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/sasl"
	"github.com/cote-mail/cote/pkg/settings"
)

// cookieLifetime bounds how long a successful authentication can be
// redeemed with REQUEST on auth-master. The login process hands the client
// to the post-login process right after OK, over a local socket, so a
// redeem comes within milliseconds; Dovecot drops such finished requests
// after AUTH_REQUEST_TIMEOUT... its master-waiting timeout of a few
// minutes, longer than any handoff needs. 30 s covers a loaded machine and
// keeps the window for a stolen (pid, id, cookie) triple short.
const cookieLifetime = 30 * time.Second

// maxRequestsPerConn bounds concurrent AUTH exchanges on one auth-client
// connection (Dovecot's AUTH_CLIENT_MAX_REQUESTS... a login process has
// one connection for all its clients, so the bound is generous), so one
// client cannot make the server hold unbounded state.
const maxRequestsPerConn = 4096

// exchangeIdleTimeout drops an exchange whose client stopped answering a
// CONT: a login process whose client vanished mid-exchange may never send
// CANCEL. It is long enough for SASL typed by hand (a LOGIN over telnet)
// and keeps an abandoned exchange from holding state for the life of the
// login process's connection.
const exchangeIdleTimeout = 5 * time.Minute

// handshakeTimeout bounds the VERSION/CPID exchange of a new connection.
const handshakeTimeout = 30 * time.Second

// Options tune a Server; zero values take the defaults.
type Options struct {
	// FailureDelay overrides auth_failure_delay (tests shorten it).
	FailureDelay time.Duration
	// Penalties is the anvil client; nil disables the per-IP penalty.
	Penalties Penalties
	// PenaltyInit and PenaltyMax override penaltyInitDelay and
	// penaltyMaxDelay (tests shorten them).
	PenaltyInit, PenaltyMax time.Duration
	// CookieLifetime overrides cookieLifetime (tests).
	CookieLifetime time.Duration
	// PID is the auth server's pid in SPID lines; 0 means os.Getpid().
	PID int
	// Now is the clock of cookie expiry (tests); nil means time.Now.
	Now func() time.Time
}

// Server serves the auth-client, auth-master and auth-userdb protocols
// over an Auth.
type Server struct {
	log       *zap.Logger
	auth      *Auth
	opt       Options
	mechs     map[string]*sasl.Mechanism // offered, upper-case names
	mechList  []authproto.Mech
	noPlain   bool // disable_plaintext_auth
	trusted   []netip.Prefix
	failDelay time.Duration
	cuid      atomic.Uint32

	mu        sync.Mutex // guards pending and lastSweep
	pending   map[pendingKey]*pendingAuth
	lastSweep time.Time
}

type pendingKey struct {
	pid int
	id  uint32
}

// pendingAuth is a finished, successful authentication waiting for the
// post-login process's REQUEST.
type pendingAuth struct {
	cookie  string
	cuid    uint32
	user    string
	ufields authproto.Fields
	req     Request
	expires time.Time
}

// NewServer builds the server from the root settings: auth_mechanisms,
// disable_plaintext_auth, auth_failure_delay, login_trusted_networks.
func NewServer(cfg *settings.Config, log *zap.Logger, a *Auth, opt Options) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	root := cfg.Root
	s := &Server{log: log, auth: a, opt: opt, mechs: map[string]*sasl.Mechanism{}, pending: map[pendingKey]*pendingAuth{},
		noPlain: root.Bool("disable_plaintext_auth"), failDelay: root.Duration("auth_failure_delay")}
	if opt.FailureDelay > 0 {
		s.failDelay = opt.FailureDelay
	}
	if s.opt.PenaltyInit <= 0 {
		s.opt.PenaltyInit = penaltyInitDelay
	}
	if s.opt.PenaltyMax <= 0 {
		s.opt.PenaltyMax = penaltyMaxDelay
	}
	if s.opt.CookieLifetime <= 0 {
		s.opt.CookieLifetime = cookieLifetime
	}
	if s.opt.Now == nil {
		s.opt.Now = time.Now
	}
	if s.opt.PID == 0 {
		s.opt.PID = os.Getpid()
	}
	for _, n := range root.List("login_trusted_networks") {
		if p, err := netip.ParsePrefix(n); err == nil {
			s.trusted = append(s.trusted, p)
		} else if ip, err := netip.ParseAddr(n); err == nil {
			s.trusted = append(s.trusted, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	var names []string
	for _, n := range root.List("auth_mechanisms") {
		name := strings.ToUpper(n)
		m := sasl.Lookup(name)
		switch {
		case m == nil:
			return nil, fmt.Errorf("auth_mechanisms: %s is not supported by cote (use %s)", n, strings.ToLower(strings.Join(sasl.Names(), ", ")))
		case m.Token:
			return nil, fmt.Errorf("auth_mechanisms: %s needs an OAuth2 token validator, which cote does not have yet", n)
		case m.Scheme != "" && !a.CanLookupCredentials():
			return nil, fmt.Errorf("auth_mechanisms: %s needs stored credentials, but no passdb can look them up (pam and shadow only verify passwords); use passwd-file or static", n)
		}
		if _, dup := s.mechs[name]; dup {
			continue
		}
		s.mechs[name] = m
		names = append(names, name)
		// Dovecot 2.3's auth_mechanisms has no -PLUS names: a SCRAM
		// mechanism brings its channel-binding variant (RFC 5802 §6),
		// which the login process offers only over TLS.
		if plus := sasl.Lookup(name + "-PLUS"); plus != nil && plus.ChannelBinding {
			if _, dup := s.mechs[name+"-PLUS"]; !dup {
				s.mechs[name+"-PLUS"] = plus
				names = append(names, name+"-PLUS")
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		s.mechList = append(s.mechList, s.mechs[n].Flags)
	}
	return s, nil
}

// Kind names which protocol a listener speaks, from its name as the
// service definition gives it (auth-client, login/auth-client,
// auth-master, auth-userdb).
func Kind(listener string) string {
	base := listener
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	return base
}

// Handle serves one connection on the listener named listener.
func (s *Server) Handle(ctx context.Context, c net.Conn, listener string) {
	switch Kind(listener) {
	case "auth-client", "auth-smtp": // auth-smtp: smtpd's AUTH (mail_owner only)
		s.ServeClient(ctx, c)
	case "auth-master":
		s.ServeMaster(ctx, c, false)
	case "auth-userdb":
		s.ServeMaster(ctx, c, true)
	default:
		s.log.Error("connection on an unknown auth listener", zap.String("listener", listener))
	}
}

// newCookie returns 16 random bytes as 32 hex digits.
func newCookie() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// peerPID returns the pid of a unix socket's peer, 0 when unknown.
func peerPID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}

// clientConn is one auth-client connection.
type clientConn struct {
	s      *Server
	nc     net.Conn
	conn   *authproto.Conn
	log    *zap.Logger
	cuid   uint32
	cookie string
	pid    int

	mu        sync.Mutex // guards reqs and lastSweep, and each exchange's busy and idleSince
	reqs      map[uint32]*exchange
	lastSweep time.Time
	wg        sync.WaitGroup
}

// exchange is one AUTH in progress.
type exchange struct {
	sess    *sasl.Session
	backend *backend
	busy    bool // a step runs; a CONT now is a protocol error
	sum     []byte
	// idleSince is when the last CONT reply was sent (zero while busy).
	idleSince time.Time
}

// ServeClient speaks the auth-client protocol (login processes, Postfix).
func (s *Server) ServeClient(ctx context.Context, nc net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	cc := &clientConn{s: s, nc: nc, conn: authproto.NewConn(nc), cuid: s.cuid.Add(1), cookie: newCookie(), reqs: map[uint32]*exchange{}}
	cc.log = s.log.With(zap.String("proto", "auth-client"), zap.Uint32("cuid", cc.cuid))
	defer cc.wg.Wait()
	defer cancel()
	if err := authproto.WriteClientHandshake(nc, authproto.Handshake{Mechs: s.mechList, SPID: s.opt.PID, CUID: cc.cuid, Cookie: cc.cookie}); err != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	sawVersion := false
	for {
		args, err := cc.conn.ReadLine()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				cc.log.Info("auth-client: closing connection", zap.Error(err))
			}
			return
		}
		cmd, err := authproto.ParseClientCommand(args)
		if err != nil {
			cc.log.Warn("auth-client: malformed line; closing connection", zap.Error(errClass(err)))
			return
		}
		switch {
		case cmd.Kind == authproto.CmdVersion:
			if sawVersion {
				cc.log.Warn("auth-client: VERSION sent twice; closing connection")
				return
			}
			sawVersion = true
			continue
		case !sawVersion:
			cc.log.Warn("auth-client: command before VERSION; closing connection")
			return
		case cmd.Kind == authproto.CmdCPID:
			if cc.pid != 0 {
				cc.log.Warn("auth-client: CPID sent twice; closing connection")
				return
			}
			if peer := peerPID(nc); peer != 0 && peer != cmd.PID {
				cc.log.Warn("auth-client: CPID does not match the peer's pid; closing connection", zap.Int("cpid", cmd.PID), zap.Int("peer_pid", peer))
				return
			}
			cc.pid = cmd.PID
			cc.log = cc.log.With(zap.Int("client_pid", cc.pid))
			_ = nc.SetReadDeadline(time.Time{})
			continue
		case cc.pid == 0:
			cc.log.Warn("auth-client: request before CPID; closing connection")
			return
		}
		if !cc.command(ctx, cmd) {
			return
		}
	}
}

// command handles AUTH, CONT and CANCEL; false closes the connection.
func (cc *clientConn) command(ctx context.Context, cmd *authproto.ClientCommand) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	ex := cc.reqs[cmd.ID]
	switch cmd.Kind {
	case authproto.CmdCancel:
		if ex != nil && !ex.busy {
			delete(cc.reqs, cmd.ID)
		}
		return true
	case authproto.CmdCont:
		if ex == nil {
			// Dovecot answers a CONT for an unknown id with FAIL (the
			// request may have timed out).
			cc.wg.Add(1)
			go func() {
				defer cc.wg.Done()
				cc.fail(ctx, cmd.ID, nil, authproto.Reply{Kind: authproto.KindFail, Reason: "Authentication request timed out"})
			}()
			return true
		}
		if ex.busy {
			cc.log.Warn("auth-client: CONT while the previous step runs; closing connection", zap.Uint32("id", cmd.ID))
			return false
		}
		ex.busy = true
		ex.sum = append(ex.sum, cmd.Data...)
		cc.wg.Add(1)
		go func() {
			defer cc.wg.Done()
			cc.step(ctx, cmd.ID, ex, cmd.Data)
		}()
		return true
	case authproto.CmdAuth:
		if ex != nil {
			cc.log.Warn("auth-client: AUTH with an id in use; closing connection", zap.Uint32("id", cmd.ID))
			return false
		}
		cc.sweep()
		if len(cc.reqs) >= maxRequestsPerConn {
			cc.log.Warn("auth-client: too many concurrent requests; closing connection")
			return false
		}
		ex = &exchange{busy: true}
		cc.reqs[cmd.ID] = ex
		cc.wg.Add(1)
		go func() {
			defer cc.wg.Done()
			cc.start(ctx, cmd.ID, ex, cmd.Auth)
		}()
		return true
	}
	cc.log.Warn("auth-client: unexpected command; closing connection", zap.String("command", cmd.Kind))
	return false
}

// errClass reduces a parse error to its kind: the detail may quote part of
// the line, which may be a SASL response or a password typed in a wrong
// field, and must not reach the log.
func errClass(err error) error {
	for _, e := range []error{authproto.ErrLineTooLong, authproto.ErrVersion, authproto.ErrTooLarge, authproto.ErrMalformed} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

// sweep drops exchanges idle past exchangeIdleTimeout; cc.mu is held.
func (cc *clientConn) sweep() {
	now := time.Now()
	if now.Sub(cc.lastSweep) < time.Second {
		return
	}
	cc.lastSweep = now
	for id, ex := range cc.reqs {
		if !ex.busy && !ex.idleSince.IsZero() && now.Sub(ex.idleSince) > exchangeIdleTimeout {
			delete(cc.reqs, id)
		}
	}
}

func (s *Server) trustedIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// start begins an AUTH: penalty wait, mechanism checks, first step.
func (cc *clientConn) start(ctx context.Context, id uint32, ex *exchange, ar *authproto.Request) {
	s := cc.s
	rip := ar.Remote.Addr()
	usePenalty := s.opt.Penalties != nil && !ar.NoPenalty && rip.IsValid() && !s.trustedIP(rip)
	if usePenalty {
		if n, last, err := s.opt.Penalties.PenaltyGet(rip.Unmap()); err == nil && n > 0 {
			d := penaltyDelay(n, last, time.Now(), s.opt.PenaltyInit, s.opt.PenaltyMax)
			if !sleepCtx(ctx, d) {
				return
			}
		}
	}
	r := Request{Service: ar.Service, Mech: strings.ToUpper(ar.Mech), Local: ar.Local, Remote: ar.Remote, Secured: ar.Secured, ClientPID: cc.pid}
	ex.backend = &backend{s: s, req: r}
	ex.sum = append([]byte(r.Mech), ar.InitialResponse...)
	m := s.mechs[r.Mech]
	if m == nil {
		cc.fail(ctx, id, ex, authproto.Reply{Kind: authproto.KindFail, Reason: "Unsupported authentication mechanism."})
		return
	}
	if m.Flags.Plaintext && s.noPlain && !ar.Secured {
		cc.fail(ctx, id, ex, authproto.Reply{Kind: authproto.KindFail, Reason: "Plaintext authentication disabled."})
		return
	}
	if ar.Service == "" {
		cc.fail(ctx, id, ex, authproto.Reply{Kind: authproto.KindFail, Reason: "Missing service."})
		return
	}
	sreq := &sasl.Request{Service: ar.Service, Secured: ar.Secured, ValidClientCert: ar.ValidClientCert, Local: ar.Local, Remote: ar.Remote,
		CBindType: ar.CBindType, CBind: ar.CBind, CertUser: ar.CertUser}
	if v, ok := ar.Extra.Get("cote_apop_challenge"); ok {
		sreq.APOPChallenge = v
	}
	ex.sess = m.New(ctx, ex.backend, sreq)
	cc.step(ctx, id, ex, ar.InitialResponse)
}

// step runs one SASL step and answers it.
func (cc *clientConn) step(ctx context.Context, id uint32, ex *exchange, resp []byte) {
	challenge, done, err := ex.sess.Next(resp)
	switch {
	case err != nil:
		reply := authproto.Reply{Kind: authproto.KindFail}
		switch {
		case errors.Is(err, sasl.ErrTempFail):
			reply.Temp = true
		case errors.Is(err, sasl.ErrAuthFailed), errors.Is(err, sasl.ErrUnsupported):
			// No reason: an unknown user and a wrong password must
			// give byte-identical replies.
		case errors.Is(err, sasl.ErrAuthzid):
			reply.Reason = "Authorization identity differs from authentication identity."
		case errors.Is(err, sasl.ErrTooLarge):
			reply.Reason = "Response too large."
		default:
			cc.log.Info("auth-client: exchange failed", zap.Uint32("id", id), zap.String("mech", ex.backend.req.Mech), zap.Error(err))
		}
		cc.fail(ctx, id, ex, reply)
	case !done:
		cc.mu.Lock()
		ex.busy = false
		ex.idleSince = time.Now()
		cc.mu.Unlock()
		_ = cc.conn.Write(authproto.Reply{Kind: authproto.KindCont, Data: challenge}.Line(id))
	default:
		res := ex.sess.Result()
		out := ex.backend.out
		if res == nil || out == nil {
			cc.fail(ctx, id, ex, authproto.Reply{Kind: authproto.KindFail})
			return
		}
		if res.NoLogin || out.noLogin {
			reason := out.reason
			if reason == "" {
				reason = res.Reason
			}
			cc.fail(ctx, id, ex, authproto.Reply{Kind: authproto.KindFail, User: out.user, NoLogin: true, Reason: reason})
			return
		}
		cc.s.remember(cc, id, ex.backend.req, out)
		cc.mu.Lock()
		delete(cc.reqs, id)
		cc.mu.Unlock()
		cc.log.Info("authenticated", zap.String("user", out.user), zap.String("mech", ex.backend.req.Mech),
			zap.String("client_service", ex.backend.req.Service), zap.Uint32("id", id))
		_ = cc.conn.Write(authproto.Reply{Kind: authproto.KindOK, User: out.user}.Line(id))
	}
}

// fail waits auth_failure_delay, raises the IP's penalty (not for temporary
// failures) and sends FAIL.
func (cc *clientConn) fail(ctx context.Context, id uint32, ex *exchange, reply authproto.Reply) {
	s := cc.s
	if ex != nil && !reply.Temp && s.opt.Penalties != nil {
		r := ex.backend.req
		if ip := r.Remote.Addr(); ip.IsValid() && !s.trustedIP(ip) {
			if n, _, err := s.opt.Penalties.PenaltyGet(ip.Unmap()); err == nil {
				if n < penaltyMaxValue {
					n++
				}
				_ = s.opt.Penalties.PenaltyInc(ip.Unmap(), credChecksum(ex.sum), n)
			}
		}
	}
	if !sleepCtx(ctx, s.failDelay) {
		return
	}
	cc.mu.Lock()
	delete(cc.reqs, id)
	cc.mu.Unlock()
	_ = cc.conn.Write(reply.Line(id))
}

// remember files a successful authentication for REQUEST.
func (s *Server) remember(cc *clientConn, id uint32, r Request, out *outcome) {
	now := s.opt.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) > time.Second {
		s.lastSweep = now
		for k, p := range s.pending {
			if now.After(p.expires) {
				delete(s.pending, k)
			}
		}
	}
	r.User = out.user
	s.pending[pendingKey{cc.pid, id}] = &pendingAuth{cookie: cc.cookie, cuid: cc.cuid, user: out.user, ufields: out.ufields,
		req: r, expires: now.Add(s.opt.CookieLifetime)}
}

// redeem takes the pending authentication (pid, id) if cookie matches and
// it has not expired. The entry is removed by any attempt, so a cookie can
// never be redeemed twice.
func (s *Server) redeem(pid int, id uint32, cookie string) *pendingAuth {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[pendingKey{pid, id}]
	if p == nil {
		return nil
	}
	delete(s.pending, pendingKey{pid, id})
	if subtle.ConstantTimeCompare([]byte(p.cookie), []byte(cookie)) != 1 || s.opt.Now().After(p.expires) {
		return nil
	}
	return p
}

// ServeMaster speaks the master protocol: auth-master (REQUEST, USER,
// LIST) or, with userdbOnly, auth-userdb (USER, LIST).
func (s *Server) ServeMaster(ctx context.Context, nc net.Conn, userdbOnly bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	proto := "auth-master"
	if userdbOnly {
		proto = "auth-userdb"
	}
	log := s.log.With(zap.String("proto", proto))
	conn := authproto.NewConn(nc)
	if err := conn.Write(authproto.MasterHandshake(s.opt.PID)); err != nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sawVersion := false
	for {
		args, err := conn.ReadLine()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				log.Info("closing connection", zap.Error(err))
			}
			return
		}
		cmd, err := authproto.ParseMasterCommand(args)
		if err != nil {
			log.Warn("malformed line; closing connection", zap.Error(errClass(err)))
			return
		}
		switch cmd.Kind {
		case authproto.CmdVersion:
			sawVersion = true
			continue
		case authproto.CmdCPID:
			continue
		}
		if !sawVersion {
			log.Warn("command before VERSION; closing connection")
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conn.Write(s.master(ctx, log, cmd, userdbOnly))
		}()
	}
}

func (s *Server) master(ctx context.Context, log *zap.Logger, cmd *authproto.MasterCommand, userdbOnly bool) []byte {
	switch cmd.Kind {
	case authproto.CmdRequest:
		if userdbOnly {
			return authproto.FailLine(cmd.ID, "REQUEST is only allowed on auth-master")
		}
		p := s.redeem(cmd.ClientPID, cmd.AuthID, cmd.Cookie)
		if p == nil {
			log.Warn("REQUEST refused: unknown, used, expired or not matching", zap.Int("client_pid", cmd.ClientPID), zap.Uint32("auth_id", cmd.AuthID))
			return authproto.FailLine(cmd.ID, "")
		}
		r := p.req
		r.afterAuth = true
		user, f, res := s.auth.UserLookup(ctx, &r, p.ufields)
		return userReply(cmd.ID, user, f, res)
	case authproto.CmdUser:
		u, err := s.auth.NormalizeUser(cmd.User)
		if err != nil {
			return authproto.NotFoundLine(cmd.ID)
		}
		r := Request{User: u}
		if v, ok := cmd.Fields.Get("service"); ok {
			r.Service = v
		}
		for _, k := range []string{"rip", "lip"} {
			if v, ok := cmd.Fields.Get(k); ok {
				if ip, err := netip.ParseAddr(v); err == nil {
					if k == "rip" {
						r.Remote = netip.AddrPortFrom(ip, 0)
					} else {
						r.Local = netip.AddrPortFrom(ip, 0)
					}
				}
			}
		}
		user, f, res := s.auth.UserLookup(ctx, &r, nil)
		return userReply(cmd.ID, user, f, res)
	case authproto.CmdList:
		var b []byte
		err := s.auth.List(ctx, cmd.User, func(u string) error {
			b = append(b, authproto.ListLine(cmd.ID, u)...)
			return nil
		})
		if err != nil {
			log.Error("LIST failed", zap.Error(err))
			return append(b, authproto.FailLine(cmd.ID, "")...)
		}
		return append(b, authproto.DoneLine(cmd.ID)...)
	case authproto.CmdPass:
		return authproto.FailLine(cmd.ID, "PASS lookups are not supported")
	}
	return authproto.FailLine(cmd.ID, "unknown command")
}

func userReply(id uint32, user string, f authproto.Fields, res Result) []byte {
	switch res {
	case ResultOK:
		return authproto.UserLine(id, user, f)
	case ResultInternal:
		return authproto.FailLine(id, "userdb lookup failed")
	}
	return authproto.NotFoundLine(id)
}
