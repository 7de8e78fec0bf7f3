// Command imap-login is the pre-authentication IMAP service: the master
// spawns it with the imap and imaps listeners (ARCHITECTURE.md). All the
// work is in pkg/imaplogin; main only wires the runtime to it. Build it
// with CGO_ENABLED=0 (the privilege drop needs AllThreadsSyscall).
package main

import (
	"context"

	"github.com/cote-mail/cote/pkg/imaplogin"
	"github.com/cote-mail/cote/pkg/service"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		srv, err := imaplogin.New(rt.Settings, rt.Log, imaplogin.Options{})
		if err != nil {
			return err
		}
		// The master says "overflow" when every imap-login process is
		// full and a client waits: make room as Dovecot does.
		rt.OnOverflow(srv.EvictOldest)
		return rt.Serve(ctx, srv.Handle)
	})
}
