package smtpd

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"time"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/login"
)

// Socket names under base_dir (pkg/settings/services.go defines them).
const (
	UserdbSocket = "auth-userdb" // userdb lookups, as lmtp makes them
	AuthSocket   = "auth-smtp"   // auth-client for AUTH, 0600 owned by mail_owner
	AnvilSocket  = "anvil-smtp"  // connection counts, 0600 owned by mail_owner
	anvilService = "smtpd"
)

// Exchange is one SASL exchange on the auth service (*authproto.Exchange).
type Exchange interface {
	Next(ctx context.Context) (authproto.Reply, error)
	Continue(resp []byte) error
	Abort()
}

// Authenticator runs SASL exchanges on the auth service.
type Authenticator interface {
	Mechanisms(ctx context.Context) ([]authproto.Mech, bool)
	Start(ctx context.Context, r authproto.Request) (Exchange, error)
}

// AuthService adapts login's auth-client connection (one per process,
// redialled when auth restarts).
func AuthService(a *login.Auth) Authenticator { return loginAuth{a} }

type loginAuth struct{ a *login.Auth }

func (l loginAuth) Mechanisms(ctx context.Context) ([]authproto.Mech, bool) {
	return l.a.Mechanisms(ctx)
}

func (l loginAuth) Start(ctx context.Context, r authproto.Request) (Exchange, error) {
	return l.a.Start(ctx, r)
}

// Userdb answers Users.Exists with auth-userdb USER lookups on one shared
// connection, with service "lmtp": the lookup lmtp makes when the queue
// delivers, so an address accepted here is one lmtp accepts.
type Userdb struct{ m *authproto.MasterConn }

// NewUserdb returns a Userdb on the socket at path.
func NewUserdb(path string) *Userdb { return &Userdb{m: authproto.NewMasterConn(path)} }

// Exists reports whether name is a userdb user.
func (u *Userdb) Exists(ctx context.Context, name string) (bool, error) {
	err := u.m.Do(ctx, func(m *authproto.Master) error {
		_, _, err := m.User(ctx, name, "lmtp", nil)
		return err
	})
	if errors.Is(err, authproto.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Close closes the connection.
func (u *Userdb) Close() { u.m.Close() }

// AnvilCounter counts connections in anvil under service "smtpd", shared
// by every smtpd process.
type AnvilCounter struct {
	c   *anvil.Client
	pid int
}

// NewAnvilCounter dials anvil at path.
func NewAnvilCounter(ctx context.Context, path string) (*AnvilCounter, error) {
	c, err := anvil.Dial(ctx, path)
	if err != nil {
		return nil, err
	}
	return &AnvilCounter{c: c, pid: os.Getpid()}, nil
}

// Connect registers the connection and returns the IP's count including it.
func (a *AnvilCounter) Connect(ip netip.Addr) (int, func(), error) {
	if err := a.c.Connect(a.pid, anvilService, "", ip); err != nil {
		return 0, nil, err
	}
	release := func() { a.c.Disconnect(a.pid, anvilService, "", ip) }
	n, err := a.c.Lookup(anvilService, "", ip)
	if err != nil {
		release()
		return 0, nil, err
	}
	return n, release, nil
}

// ConnRate counts the connection in anvil's RATE window for the IP.
func (a *AnvilCounter) ConnRate(ip netip.Addr, window time.Duration) (int, error) {
	return a.c.Rate(anvilService, "", ip, window)
}

// Close closes the anvil connection.
func (a *AnvilCounter) Close() error { return a.c.Close() }
