// Command pop3-login is the pre-authentication POP3 service: the master
// spawns it with the pop3 and pop3s listeners (ARCHITECTURE.md). All the
// work is in pkg/pop3login; main only wires the runtime to it. Build it
// with CGO_ENABLED=0 (the privilege drop needs AllThreadsSyscall).
package main

import (
	"context"

	"github.com/cote-mail/cote/pkg/pop3login"
	"github.com/cote-mail/cote/pkg/service"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		srv, err := pop3login.New(rt.Settings, rt.Log, pop3login.Options{})
		if err != nil {
			return err
		}
		defer srv.Close()
		// The master says "overflow" when every pop3-login process is
		// full and a client waits: make room as Dovecot does.
		rt.OnOverflow(srv.EvictOldest)
		return rt.Serve(ctx, srv.Handle)
	})
}
