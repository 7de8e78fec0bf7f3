package lmtp

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// startUnixServer runs a Server on a unix socket (the peer credential
// decides whether the resume signal counts) and returns the socket path;
// resumeUIDs replaces the Server's trusted uids.
func startUnixServer(t *testing.T, userdb string, resumeUIDs map[uint32]bool) string {
	t.Helper()
	t.Setenv(ipc.EnvNoPrivsep, "1")
	dir := t.TempDir()
	conf := filepath.Join(dir, "cote.conf")
	text := "protocols = lmtp\nbase_dir = " + dir + "\nmail_location = maildir:~/Maildir\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Config{Userdb: userdb, Drivers: map[string]storage.Driver{"maildir": maildir.New(nil).Open}})
	if err != nil {
		t.Fatal(err)
	}
	srv.resumeUIDs = resumeUIDs
	t.Cleanup(srv.Close)
	path := filepath.Join(dir, "lmtp")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go srv.Handle(ctx, c, nil)
		}
	}()
	return path
}

// sendLMTP delivers body to rcpts with ENVID envid (sent only when the
// server offers DSN, as the queue's client does) and returns the
// per-recipient reply texts, and whether DSN was offered.
func sendLMTP(t *testing.T, path, envid, body string, rcpts ...string) (map[string]string, bool) {
	t.Helper()
	conn, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("queue.test"); err != nil {
		t.Fatal(err)
	}
	dsn, _ := c.Extension("DSN")
	if err := c.Mail("s@remote.test", &gosmtp.MailOptions{EnvelopeID: envid}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithLMTPResponse()
	if err != nil {
		t.Fatalf("LMTP replies: %v", err)
	}
	out := map[string]string{}
	for r, dr := range resp {
		out[r] = dr.StatusText
	}
	return out, dsn
}

func TestResume(t *testing.T) {
	const qid = "0006123456789ABC01F2A3"
	body := "Received: from client (unknown [192.0.2.1])\r\n\tby mx.test (cote) with ESMTP id " + qid + "; Fri, 27 Nov 2026 20:00:00 +0000\r\nSubject: resume\r\n\r\nbody\r\n"
	envid := resumePrefix + qid + "." + "1700000000"
	tests := []struct {
		name    string
		trusted bool
		envid   string
		body    string
		// first: recipients that got the message before the resumed
		// transaction; want: their message counts after it.
		first    []string
		want     map[string]int
		wantText map[string]string
	}{
		{"trusted: delivered one skipped, other stored", true, envid, body,
			[]string{"alice@example.org"}, map[string]int{"alice": 1, "bob": 1},
			map[string]string{"alice@example.org": "already delivered"}},
		{"trusted: nothing delivered before", true, envid, body,
			nil, map[string]int{"alice": 1, "bob": 1}, nil},
		{"untrusted peer: signal ignored", false, envid, body,
			[]string{"alice@example.org"}, map[string]int{"alice": 2, "bob": 1}, nil},
		{"trusted, no signal", true, "", body,
			[]string{"alice@example.org"}, map[string]int{"alice": 2, "bob": 1}, nil},
		{"trusted, message without the queue id", true, envid, strings.Replace(body, qid, "0006123456789ABC01F2A4", 1),
			[]string{"alice@example.org"}, map[string]int{"alice": 2, "bob": 1}, nil},
		{"trusted, other message of the same queue id", true, envid, body + "more\r\n",
			[]string{"alice@example.org"}, map[string]int{"alice": 2, "bob": 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			users := map[string]authproto.Fields{
				"alice@example.org": {field("home", filepath.Join(root, "alice"))},
				"bob@example.org":   {field("home", filepath.Join(root, "bob"))},
			}
			uids := map[uint32]bool{uint32(os.Geteuid()) + 1: true}
			if tc.trusted {
				uids = map[uint32]bool{uint32(os.Geteuid()): true}
			}
			path := startUnixServer(t, fakeUserdb(t, users), uids)
			if len(tc.first) > 0 {
				sendLMTP(t, path, "", body, tc.first...)
			}
			got, dsn := sendLMTP(t, path, tc.envid, tc.body, "alice@example.org", "bob@example.org")
			if dsn != tc.trusted {
				t.Errorf("DSN offered = %v, want %v (only to a trusted peer)", dsn, tc.trusted)
			}
			for u, n := range tc.want {
				if m := inbox(t, filepath.Join(root, u)); len(m) != n {
					t.Errorf("%s has %d messages, want %d", u, len(m), n)
				}
			}
			for r, w := range tc.wantText {
				if !strings.Contains(got[r], w) {
					t.Errorf("reply for %s = %q, want %q", r, got[r], w)
				}
			}
		})
	}
}

func TestParseResume(t *testing.T) {
	tests := []struct {
		name, envid string
		ok          bool
	}{
		{"valid", "cote-resume.0006123456789ABC01F2A3.1700000000", true},
		{"user envid", "abc123", false},
		{"no time", "cote-resume.0006123456789ABC01F2A3", false},
		{"lowercase id", "cote-resume.abc.1700000000", false},
		{"bad time", "cote-resume.ABC.x", false},
		{"empty id", "cote-resume..1700000000", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseResume(tc.envid); (got != nil) != tc.ok {
				t.Errorf("parseResume(%q) = %v, want ok=%v", tc.envid, got, tc.ok)
			}
		})
	}
}
