// Command auth is the authentication service: passdb/userdb lookups, SASL
// and Dovecot's auth protocols on the auth-client, login/auth-client,
// auth-master and auth-userdb sockets (ARCHITECTURE.md). It runs as
// default_internal_user, unchrooted; shadow and PAM lookups go to the root
// auth-worker. All the work is in pkg/auth. Build with CGO_ENABLED=0.
package main

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/auth"
	"github.com/cote-mail/cote/pkg/service"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		base := rt.Settings.Root.Get("base_dir")
		a, err := auth.NewAuth(rt.Settings, rt.Log, filepath.Join(base, "auth-worker"))
		if err != nil {
			return err
		}
		pen := &lazyAnvil{path: filepath.Join(base, "anvil")}
		defer pen.close()
		srv, err := auth.NewServer(rt.Settings, rt.Log, a, auth.Options{Penalties: pen})
		if err != nil {
			return err
		}
		return rt.Serve(ctx, func(ctx context.Context, c net.Conn, l *service.Listener) {
			srv.Handle(ctx, c, l.Name)
		})
	})
}

// anvilDialTimeout bounds connecting to anvil; the penalty is advisory and
// an authentication must not wait long for it.
const anvilDialTimeout = 2 * time.Second

// lazyAnvil dials anvil on first use and again after a failed dial, so auth
// starts (and serves) while anvil is not up; penalties then do not apply,
// as in Dovecot when anvil is unreachable.
type lazyAnvil struct {
	path string
	mu   sync.Mutex // guards c
	c    *anvil.Client
}

func (l *lazyAnvil) client() (*anvil.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), anvilDialTimeout)
	defer cancel()
	c, err := anvil.Dial(ctx, l.path)
	if err != nil {
		return nil, err
	}
	l.c = c
	return c, nil
}

func (l *lazyAnvil) PenaltyGet(ip netip.Addr) (int, time.Time, error) {
	c, err := l.client()
	if err != nil {
		return 0, time.Time{}, err
	}
	return c.PenaltyGet(ip)
}

func (l *lazyAnvil) PenaltyInc(ip netip.Addr, checksum uint32, value int) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return c.PenaltyInc(ip, checksum, value)
}

func (l *lazyAnvil) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		l.c.Close()
	}
}
