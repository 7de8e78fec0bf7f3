package postlogin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// AuthMasterSocket is auth's socket for post-login processes, relative to
// base_dir.
const AuthMasterSocket = "auth-master"

// requestTimeout bounds the REQUEST on auth-master: auth answers it from
// memory (and a userdb lookup), so seconds mean it is stuck.
const requestTimeout = 30 * time.Second

// Login is a client whose login was redeemed: the protocol serves it.
type Login struct {
	Record *ipc.Handoff
	User   *storage.User
	Conn   net.Conn // the client (or the login process's TLS proxy)
	Log    *zap.Logger
}

// Protocol is what a post-login service plugs in.
type Protocol struct {
	// Name is the protocol ("imap"): the service name in REQUEST's
	// log fields and the settings filter.
	Name string
	// Refuse answers the pending command tag with a failure carrying
	// the response code (UNAVAILABLE, SERVERBUG, LIMIT) and text.
	Refuse func(conn net.Conn, tag, code, text string) error
	// Serve runs the session; it returns when the client is done. The
	// server closes the user and the connection afterwards.
	Serve func(ctx context.Context, l *Login) error
}

// Config is what a Server needs.
type Config struct {
	// AuthMaster is the auth-master socket; "" means base_dir's.
	AuthMaster string
	// Anvil is anvil's socket for post-login processes; "" means
	// base_dir's AnvilSocket.
	Anvil string
	// Drivers are the storage drivers by mail_location scheme.
	Drivers map[string]storage.Driver
	Log     *zap.Logger
}

// textInternal is the client's text for every refusal, in Dovecot's
// words: the cause is for the log.
const textInternal = "Internal error occurred. Refer to server log for more information."

// Server receives handed-off clients of one protocol.
type Server struct {
	cfg   Config
	proto Protocol
	root  *settings.Section // the protocol's view of the settings
	uid   int               // the process's uid and gid: what userdb ids must equal
	gid   int
	check bool // compare userdb ids (not when privilege separation is off)

	mu     sync.Mutex // guards master: one auth-master connection shared by all sessions
	master *authproto.Master

	anvilMu sync.Mutex // guards anvil and serializes admit
	anvil   *anvil.Client
}

// New returns a Server for proto with the settings cfg.
func New(settingsCfg *settings.Config, proto Protocol, cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.AuthMaster == "" {
		cfg.AuthMaster = filepath.Join(settingsCfg.Root.Get("base_dir"), AuthMasterSocket)
	}
	if cfg.Anvil == "" {
		cfg.Anvil = filepath.Join(settingsCfg.Root.Get("base_dir"), AnvilSocket)
	}
	return &Server{
		cfg: cfg, proto: proto, root: settingsCfg.Protocol(proto.Name),
		uid: os.Geteuid(), gid: os.Getegid(), check: os.Getenv(ipc.EnvNoPrivsep) != "1",
	}
}

// Close closes the auth-master and anvil connections.
func (s *Server) Close() {
	s.mu.Lock()
	if s.master != nil {
		s.master.Close()
		s.master = nil
	}
	s.mu.Unlock()
	s.anvilMu.Lock()
	defer s.anvilMu.Unlock()
	if s.anvil != nil {
		s.anvil.Close()
		s.anvil = nil
	}
}

// Handle takes one handoff connection; it is the service.Handler of the
// post-login service's login/<proto> listener. It returns when the
// client's session ended.
func (s *Server) Handle(ctx context.Context, conn net.Conn, _ *service.Listener) {
	log := s.cfg.Log.With(zap.String("proto", s.proto.Name))
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		log.Error("handoff listener is not a unix socket", zap.String("type", fmt.Sprintf("%T", conn)))
		return
	}
	_ = uc.SetDeadline(time.Now().Add(ipc.HandoffTimeout))
	peer, err := ipc.PeerPID(uc)
	if err != nil {
		log.Error("handoff: peer credentials", zap.Error(err))
		return
	}
	rec, f, err := ipc.ReceiveHandoff(uc)
	uc.Close()
	if err != nil {
		log.Warn("handoff refused", zap.Int("peer_pid", peer), zap.Error(err))
		return
	}
	client, err := net.FileConn(f)
	f.Close()
	if err != nil {
		log.Error("handoff: client socket", zap.Error(err))
		return
	}
	defer client.Close()
	log = log.With(zap.String("session", rec.SessionID), zap.String("remote", rec.Remote.String()),
		zap.String("local", rec.Local.String()), zap.Bool("tls", rec.TLS))
	refuseText := func(code, text string) {
		_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = s.proto.Refuse(client, rec.Tag, code, text)
	}
	refuse := func(code string) { refuseText(code, textInternal) }

	if rec.ClientPID != peer {
		log.Warn("handoff refused: the record names another process than the peer",
			zap.Int("record_pid", rec.ClientPID), zap.Int("peer_pid", peer))
		refuse("UNAVAILABLE")
		return
	}
	name, fields, err := s.redeem(ctx, peer, rec)
	if err != nil {
		log.Warn("login refused: auth request failed", zap.Error(err))
		refuse("UNAVAILABLE")
		return
	}
	log = log.With(zap.String("user", name))
	ucfg, err := s.userConfig(rec, name, fields)
	if err != nil {
		log.Error("login refused: userdb fields", zap.Error(err))
		refuse("UNAVAILABLE")
		return
	}
	limit, err := s.userIPLimit(fields)
	if err != nil {
		log.Error("login refused: userdb fields", zap.Error(err))
		refuse("UNAVAILABLE")
		return
	}
	release, err := s.admit(ctx, name, rec.Remote.Addr(), limit, log)
	if err != nil {
		log.Info("login refused", zap.Error(err), zap.Int("mail_max_userip_connections", limit))
		refuseText("LIMIT", limitText(limit))
		return
	}
	defer release()
	if err := makeHome(ucfg.Home); err != nil {
		log.Error("login refused: cannot create the home directory", zap.Error(err))
		refuse("SERVERBUG")
		return
	}
	su, err := storage.OpenUser(ucfg, s.cfg.Drivers, log)
	if err != nil {
		log.Error("login refused: cannot open the mail store", zap.Error(err))
		refuse("SERVERBUG")
		return
	}
	defer su.Close()
	_ = client.SetDeadline(time.Time{})
	log.Info("logged in")
	start := time.Now()
	err = s.proto.Serve(ctx, &Login{Record: rec, User: su, Conn: client, Log: log})
	fields2 := []zap.Field{zap.Duration("duration", time.Since(start).Round(time.Millisecond))}
	if err != nil {
		fields2 = append(fields2, zap.String("reason", err.Error()))
	}
	log.Info("disconnected", fields2...)
}

// redeem sends REQUEST for the record's auth id and cookie on behalf of
// the login process pid, on one shared auth-master connection, redialled
// once when it broke (auth restarted).
func (s *Server) redeem(ctx context.Context, pid int, rec *ipc.Handoff) (string, map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		m, err := s.conn(ctx)
		if err != nil {
			return "", nil, err
		}
		if m.ServerPID() != rec.AuthPID {
			// The login authenticated with another auth process (auth
			// restarted since): that one's memory of the OK is gone.
			return "", nil, fmt.Errorf("the login authenticated with auth pid %d, auth-master is pid %d", rec.AuthPID, m.ServerPID())
		}
		name, fields, err := m.Request(ctx, pid, rec.AuthID, rec.Cookie)
		var fe *authproto.FailError
		switch {
		case err == nil:
			out := map[string]string{}
			for _, f := range fields {
				out[f.Key] = f.Value
			}
			return name, out, nil
		case errors.As(err, &fe), errors.Is(err, authproto.ErrNotFound), ctx.Err() != nil, attempt > 0:
			return "", nil, err
		}
		s.drop(m)
	}
}

func (s *Server) conn(ctx context.Context) (*authproto.Master, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master != nil {
		return s.master, nil
	}
	m, err := authproto.DialMaster(ctx, s.cfg.AuthMaster)
	if err != nil {
		return nil, fmt.Errorf("auth-master: %w", err)
	}
	s.master = m
	return m, nil
}

func (s *Server) drop(m *authproto.Master) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == m {
		s.master = nil
	}
	m.Close()
}

// userConfig checks the userdb's uid and gid against the process's and
// builds the store configuration.
func (s *Server) userConfig(rec *ipc.Handoff, name string, fields map[string]string) (storage.UserConfig, error) {
	for _, k := range []struct {
		key  string
		want int
	}{{"uid", s.uid}, {"gid", s.gid}} {
		v, ok := fields[k.key]
		if !ok {
			continue
		}
		id, err := resolveID(k.key, v)
		if err != nil {
			return storage.UserConfig{}, err
		}
		if s.check && id != k.want {
			return storage.UserConfig{}, fmt.Errorf("userdb %s=%s (%d), but this process runs as %d: set mail_uid/mail_gid to the virtual mail user", k.key, v, id, k.want)
		}
		fields[k.key] = strconv.Itoa(id)
	}
	if _, ok := fields["home"]; !ok && fields["mail"] == "" && s.root.Get("mail_location") == "" {
		return storage.UserConfig{}, errors.New("neither a userdb home or mail field nor mail_location says where the mail is")
	}
	cfg, err := mailuser.Config(s.root, mailuser.User{Name: name, Fields: fields})
	if err != nil {
		return storage.UserConfig{}, err
	}
	// mail_location and the userdb mail field may hold %u, %d, %n, %h
	// (Dovecot's mail_location = maildir:/var/vmail/%d/%n).
	vars := settings.Vars{"user": name, "home": fields["home"], "service": s.proto.Name,
		"uid": fields["uid"], "gid": fields["gid"], "session": rec.SessionID}
	if rec.Local.IsValid() {
		vars["lip"] = rec.Local.Addr().String()
	}
	if rec.Remote.IsValid() {
		vars["rip"] = rec.Remote.Addr().String()
	}
	if cfg.MailLocation, err = settings.Expand(cfg.MailLocation, vars); err != nil {
		return storage.UserConfig{}, fmt.Errorf("mail location: %w", err)
	}
	return cfg, nil
}

// resolveID turns a userdb uid or gid (a number or a name, as Dovecot
// allows) into a number. The process is not chrooted, so /etc/passwd and
// /etc/group are readable.
func resolveID(key, v string) (int, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return n, nil
	}
	if key == "uid" {
		u, err := user.Lookup(v)
		if err != nil {
			return 0, fmt.Errorf("userdb uid=%s: %w", v, err)
		}
		return strconv.Atoi(u.Uid)
	}
	g, err := user.LookupGroup(v)
	if err != nil {
		return 0, fmt.Errorf("userdb gid=%s: %w", v, err)
	}
	return strconv.Atoi(g.Gid)
}

// makeHome creates a missing home directory (and missing parents, such as
// the domain level of /var/vmail/%d/%n) with mode 0700, as Dovecot does
// on a virtual user's first login. The process runs as the mail user, so
// it can only create what that user may.
func makeHome(home string) error {
	if home == "" || !filepath.IsAbs(home) {
		return nil
	}
	if _, err := os.Stat(home); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.MkdirAll(home, 0o700)
}
