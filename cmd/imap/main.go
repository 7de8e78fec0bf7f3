// Command imap is the post-login IMAP service: the master spawns it as
// mail_uid with the login/imap listener, on which imap-login hands over
// authenticated clients (ARCHITECTURE.md, contract 4). pkg/postlogin
// receives and redeems each handoff, pkg/imapd serves the session; main
// only wires them, with the session limits from the settings (config.go). Build it with CGO_ENABLED=0 (the privilege drop needs
// AllThreadsSyscall).
package main

import (
	"context"
	"fmt"
	"net"

	"github.com/cote-mail/cote/pkg/imapd"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/postlogin"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		icfg, err := sessionConfig(rt.Settings.Protocol("imap"), rt.Log)
		if err != nil {
			return err
		}
		md := maildir.New(rt.Log)
		md.SetCharsetDecoder(charset.Decode) // APPENDed messages get their previews at once
		srv := postlogin.New(rt.Settings, postlogin.Protocol{
			Name: "imap",
			Refuse: func(conn net.Conn, tag, code, text string) error {
				_, err := fmt.Fprintf(conn, "%s NO [%s] %s\r\n", tag, code, text)
				return err
			},
			Serve: func(ctx context.Context, l *postlogin.Login) error {
				return imapd.NewSession(icfg, l.User, l.Conn, l.Log).Serve(ctx, l.Record.Preamble, l.Record.Tag)
			},
		}, postlogin.Config{
			Drivers: map[string]storage.Driver{"maildir": md.Open},
			Log:     rt.Log,
		})
		defer srv.Close()
		return rt.Serve(ctx, srv.Handle)
	})
}
