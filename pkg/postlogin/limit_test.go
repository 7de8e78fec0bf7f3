package postlogin

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// startAnvil serves a real anvil.Server on a unix socket at path.
func startAnvil(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := anvil.NewServer(zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				srv.ServeConn(ctx, c)
			}()
		}
	}()
}

func TestUserIPLimit(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	const limited = "a NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections="
	tests := []struct {
		name    string
		conf    string // extra settings
		field   string // userdb mail_max_userip_connections, "" for none
		others  int    // sessions of alice from ip already registered
		noAnvil bool
		want    string // first line; "n=" is the count anvil had during the session
	}{
		{"under the default limit", "", "", 9, false, "a OK alice n=10"},
		{"at the default limit", "", "", 10, false, limited + "10)"},
		{"configured limit", "mail_max_userip_connections = 2\n", "", 2, false, limited + "2)"},
		{"configured limit not reached", "mail_max_userip_connections = 2\n", "", 1, false, "a OK alice n=2"},
		{"protocol filter", "protocol imap {\n  mail_max_userip_connections = 1\n}\n", "", 1, false, limited + "1)"},
		{"no limit", "mail_max_userip_connections = 0\n", "", 20, false, "a OK alice n=21"},
		{"userdb raises it", "mail_max_userip_connections = 1\n", "3", 2, false, "a OK alice n=3"},
		{"userdb lowers it", "", "1", 1, false, limited + "1)"},
		{"anvil down: advisory", "", "", 0, true, "a OK alice n=-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "cote.conf")
			text := "protocols = imap\nbase_dir = " + dir + "\nmail_location = maildir:~/Maildir\n" + tc.conf
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := settings.Load(conf)
			if err != nil {
				t.Fatal(err)
			}
			fields := authproto.Fields{{Key: "home", Value: filepath.Join(dir, "alice"), HasValue: true}}
			if tc.field != "" {
				fields = append(fields, authproto.Field{Key: "mail_max_userip_connections", Value: tc.field, HasValue: true})
			}
			master := filepath.Join(dir, "auth-master")
			startFakeMaster(t, master, fields)
			sock := filepath.Join(dir, AnvilSocket)
			var other *anvil.Client
			if !tc.noAnvil {
				startAnvil(t, sock)
				if other, err = anvil.Dial(context.Background(), sock); err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				for range tc.others {
					if err := other.Connect(1, "imap", "alice", ip); err != nil {
						t.Fatal(err)
					}
				}
				// CONNECT has no reply: a LOOKUP on the same connection
				// returns once anvil has counted them.
				if _, err := other.Lookup("imap", "alice", ip); err != nil {
					t.Fatal(err)
				}
			}
			count := func() int {
				if other == nil {
					return -1
				}
				n, err := other.Lookup("imap", "alice", ip)
				if err != nil {
					t.Errorf("lookup: %v", err)
				}
				return n
			}
			srv := New(cfg, Protocol{
				Name: "imap",
				Refuse: func(c net.Conn, tag, code, text string) error {
					_, err := fmt.Fprintf(c, "%s NO [%s] %s\r\n", tag, code, text)
					return err
				},
				Serve: func(ctx context.Context, l *Login) error {
					_, err := fmt.Fprintf(l.Conn, "%s OK %s n=%d\r\n", l.Record.Tag, l.User.Name(), count())
					return err
				},
			}, Config{AuthMaster: master, Drivers: map[string]storage.Driver{"maildir": maildir.New(nil).Open},
				Log: zaptest.NewLogger(t)})
			t.Cleanup(srv.Close)
			rec := &ipc.Handoff{SessionID: "s1", AuthPID: fakeSPID, ClientPID: os.Getpid(), AuthID: goodAuthID,
				Cookie: goodCookie, Tag: "a",
				Local: netip.MustParseAddrPort("127.0.0.1:143"), Remote: netip.AddrPortFrom(ip, 5000)}
			if got := handoff(t, srv, rec); got != tc.want {
				t.Errorf("client got %q, want %q", got, tc.want)
			}
			// The session's registration ends with it.
			if !tc.noAnvil {
				if n := count(); n != tc.others {
					t.Errorf("after the session anvil counts %d, want %d", n, tc.others)
				}
			}
		})
	}
}
