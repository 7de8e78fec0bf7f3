package postlogin

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
	// Config is what User was opened from (home, mail location): pop3
	// places its session lock in the INBOX's directory.
	Config storage.UserConfig
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

	master *authproto.MasterConn // one auth-master connection shared by all sessions

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
		master: authproto.NewMasterConn(cfg.AuthMaster),
		uid:    os.Geteuid(), gid: os.Getegid(), check: os.Getenv(ipc.EnvNoPrivsep) != "1",
	}
}

// Close closes the auth-master and anvil connections.
func (s *Server) Close() {
	s.master.Close()
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
	if err := mailuser.MakeHome(ucfg.Home); err != nil {
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
	err = s.proto.Serve(ctx, &Login{Record: rec, User: su, Conn: client, Log: log, Config: ucfg})
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
	var name string
	var fields authproto.Fields
	err := s.master.Do(ctx, func(m *authproto.Master) error {
		if m.ServerPID() != rec.AuthPID {
			// The login authenticated with another auth process (auth
			// restarted since): that one's memory of the OK is gone.
			return fmt.Errorf("the login authenticated with auth pid %d, auth-master is pid %d", rec.AuthPID, m.ServerPID())
		}
		var err error
		name, fields, err = m.Request(ctx, pid, rec.AuthID, rec.Cookie)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return name, fields.Map(), nil
}

// userConfig checks the userdb's uid and gid against the process's and
// builds the store configuration (pkg/mailuser, shared with lmtp).
func (s *Server) userConfig(rec *ipc.Handoff, name string, fields map[string]string) (storage.UserConfig, error) {
	return mailuser.ForProcess(s.root, mailuser.Process{UID: s.uid, GID: s.gid, Check: s.check}, name, fields,
		mailuser.Session{Service: s.proto.Name, ID: rec.SessionID, Local: rec.Local.Addr(), Remote: rec.Remote.Addr()})
}
