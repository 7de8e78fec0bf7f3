// Command pop3 is the post-login POP3 service: the master spawns it as
// mail_uid with the login/pop3 listener, on which pop3-login hands over
// authenticated clients (ARCHITECTURE.md, contract 4). pkg/postlogin
// receives and redeems each handoff (mail_max_userip_connections
// included), pkg/pop3d serves the session; main only wires them, with
// the pop3_* settings (config.go). Build it with CGO_ENABLED=0 (the
// privilege drop needs AllThreadsSyscall).
package main

import (
	"context"
	"fmt"
	"net"

	"github.com/cote-mail/cote/pkg/pop3d"
	"github.com/cote-mail/cote/pkg/postlogin"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		sec := rt.Settings.Protocol("pop3")
		pcfg, err := sessionConfig(sec)
		if err != nil {
			return err
		}
		lock := sec.Bool("pop3_lock_session")
		srv := postlogin.New(rt.Settings, postlogin.Protocol{
			Name:   "pop3",
			Refuse: refuse,
			Serve: func(ctx context.Context, l *postlogin.Login) error {
				cfg := pcfg
				if lock {
					dir, err := inboxDir(l.Config)
					if err != nil {
						return err
					}
					cfg.SessionLock = func() (func(), error) { return pop3d.LockSession(dir) }
				}
				return pop3d.NewSession(cfg, l.User, l.Conn, l.Log).Serve(ctx, l.Record.Preamble)
			},
		}, postlogin.Config{
			Drivers: map[string]storage.Driver{"maildir": maildir.New(rt.Log).Open},
			Log:     rt.Log,
		})
		defer srv.Close()
		return rt.Serve(ctx, srv.Handle)
	})
}

// refuse answers a login the post-login side cannot serve with RFC 2449
// / RFC 3206 response codes: over mail_max_userip_connections is IN-USE
// (the user can act on it: another client holds the mailbox), anything
// else a temporary system failure.
func refuse(conn net.Conn, _ string, code, text string) error {
	c := "SYS/TEMP"
	if code == "LIMIT" {
		c = "IN-USE"
	}
	_, err := fmt.Fprintf(conn, "-ERR [%s] %s\r\n", c, text)
	return err
}
