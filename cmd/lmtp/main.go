// Command lmtp is the local delivery service: the master spawns it as
// mail_uid with the lmtp unix listener (and the optional inet one); pkg/lmtp
// serves each LMTP client. With `service lmtp { user = root }` (for system
// users with their own uids) it runs as root and delivers every recipient
// through the deliver binary next to it, exec'd as the user. Build it with
// CGO_ENABLED=0 (the privilege drop needs AllThreadsSyscall).
package main

import (
	"context"

	"github.com/cote-mail/cote/pkg/lmtp"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// The delivery process's bounds on the mailbox indexes it keeps between
// deliveries (maildir.Driver.SetIdleLimits).
const (
	idleBoxes    = 64
	idleMessages = 50000
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		md := maildir.New(rt.Log)
		md.SetCharsetDecoder(charset.Decode) // cached previews of every charset
		// Each delivery opens its recipient's INBOX for one save: keeping
		// the indexes of the recently delivered-to mailboxes (bounded in
		// messages, so in memory) saves the next delivery to each of them
		// from reading its whole index again.
		md.SetIdleLimits(idleBoxes, idleMessages)
		srv, err := lmtp.New(rt.Settings, lmtp.Config{
			Drivers: map[string]storage.Driver{"maildir": md.Open},
			Log:     rt.Log,
		})
		if err != nil {
			return err
		}
		defer srv.Close()
		return rt.Serve(ctx, srv.Handle)
	})
}
