package imapd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
	"github.com/cote-mail/cote/pkg/testkit"
)

// serveNamespaces runs one session for a user with the given namespaces
// and returns the client's end.
func serveNamespaces(t *testing.T, nss []storage.NamespaceConfig) net.Conn {
	t.Helper()
	d := maildir.New(nil)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: t.TempDir(), MailLocation: "maildir:~/Maildir", Namespaces: nss},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		NewSession(Config{AppendLimit: 1 << 20, Log: zaptest.NewLogger(t)}, u, conn, nil).Serve(ctx, nil, "")
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		ln.Close()
		wg.Wait()
		u.Close()
		d.Close()
	})
	return c
}

// TestNamespaceLayouts runs testdata/ns/*.tr with Dovecot's common
// non-default namespace layouts, where the store's names ("Work/Projects",
// "Sent") differ from the IMAP names ("Work.Projects", "INBOX.Sent"): the
// session must compare full names through the namespace mapping.
func TestNamespaceLayouts(t *testing.T) {
	layouts := map[string][]storage.NamespaceConfig{
		// namespace inbox { separator = . prefix = }
		"dot": {{Name: "inbox", Separator: ".", Inbox: true, List: "yes", Subscriptions: true}},
		// namespace inbox { separator = . prefix = INBOX. } (Courier style)
		"inboxdot": {{Name: "inbox", Separator: ".", Prefix: "INBOX.", Inbox: true, List: "yes", Subscriptions: true}},
	}
	files, err := filepath.Glob("testdata/ns/*.tr")
	if err != nil || len(files) != len(layouts) {
		t.Fatalf("transcripts %v (%v), want one per layout", files, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".tr")
		t.Run(name, func(t *testing.T) {
			nss, ok := layouts[name]
			if !ok {
				t.Fatalf("no layout for %s", f)
			}
			testkit.RunTranscript(t, serveNamespaces(t, nss), f, testkit.TranscriptOptions{})
		})
	}
}
