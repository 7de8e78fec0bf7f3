package lmtp

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// fakeUserdb answers USER on a real unix socket: users maps a name to its
// userdb fields; other names are NOTFOUND.
func fakeUserdb(t *testing.T, users map[string]authproto.Fields) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth-userdb")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ac := authproto.NewConn(c)
				if ac.Write(authproto.MasterHandshake(4242)) != nil {
					return
				}
				for {
					args, err := ac.ReadLine()
					if err != nil {
						return
					}
					cmd, err := authproto.ParseMasterCommand(args)
					if err != nil || cmd.Kind != authproto.CmdUser {
						continue
					}
					if f, ok := users[cmd.User]; ok {
						ac.Write(authproto.UserLine(cmd.ID, cmd.User, f))
					} else {
						ac.Write(authproto.NotFoundLine(cmd.ID))
					}
				}
			}()
		}
	}()
	return path
}

func field(k, v string) authproto.Field { return authproto.Field{Key: k, Value: v, HasValue: true} }

// startServer runs a Server on 127.0.0.1:0 and returns its address.
func startServer(t *testing.T, userdb, extraConf string) (string, string) {
	t.Helper()
	// In-process delivery: as root with privilege separation, every
	// recipient would go through the deliver helper (TestSystemUsers).
	t.Setenv(ipc.EnvNoPrivsep, "1")
	return startServerWith(t, userdb, extraConf, "", nil)
}

// startServerWith is startServer with privilege separation as the
// environment says, helper as Config.Helper, and tweak applied to the
// Server before it serves.
func startServerWith(t *testing.T, userdb, extraConf, helper string, tweak func(*Server)) (string, string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "cote.conf")
	text := "protocols = lmtp\nbase_dir = " + dir + "\nmail_location = maildir:~/Maildir\n" + extraConf
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Config{Userdb: userdb, Helper: helper, Drivers: map[string]storage.Driver{"maildir": maildir.New(nil).Open}})
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(srv)
	}
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
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
	return l.Addr().String(), dir
}

// converse sends (each \n as CRLF, each <LF> as a bare LF) the whole client side at once (pipelined) and reads
// want replies (one per line, continuation lines folded away).
func converse(t *testing.T, addr, client string, want int) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(client, "\n", "\r\n"), "<LF>", "\n"))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var out []string
	for len(out) < want {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) > 3 && line[3] == '-' {
			continue
		}
		out = append(out, line)
	}
	return out
}

func inbox(t *testing.T, home string) []string {
	t.Helper()
	var msgs []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(home, "Maildir", sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(home, "Maildir", sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, string(b))
		}
	}
	return msgs
}

func TestDelivery(t *testing.T) {
	root := t.TempDir()
	blocker := filepath.Join(root, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	users := map[string]authproto.Fields{
		"alice@example.org": {field("home", filepath.Join(root, "alice"))},
		"bob@example.org":   {field("home", filepath.Join(root, "bob"))},
		// A home under a regular file: the store cannot be opened.
		"broken@example.org": {field("home", filepath.Join(blocker, "broken"))},
	}
	addr, _ := startServer(t, fakeUserdb(t, users), "")
	msg := "Subject: hi\nFrom: <s@remote.test>\n\nline one<LF>line two\n.\n"
	tests := []struct {
		name     string
		rcpts    []string
		want     []string // replies after LHLO/MAIL: RCPT replies, DATA, per-recipient
		wantMail map[string]int
	}{
		{"mixed outcomes", []string{"alice@example.org", "nobody@example.org", "broken@example.org", "bob+lists@example.org"},
			[]string{"250", "550 5.1.1 <nobody@example.org> User doesn't exist", "250", "250", "354", "250", "451 4.3.0", "250"},
			map[string]int{"alice": 1, "bob": 1}},
		{"unknown only", []string{"nobody@example.org"},
			[]string{"550 5.1.1", "502"}, map[string]int{"alice": 1, "bob": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("LHLO client.test\nMAIL FROM:<s@remote.test>\n")
			for _, r := range tc.rcpts {
				b.WriteString("RCPT TO:<" + r + ">\n")
			}
			b.WriteString("DATA\n" + msg + "QUIT\n")
			got := converse(t, addr, b.String(), 3+len(tc.want))
			if !strings.HasPrefix(got[0], "220 ") || !strings.HasPrefix(got[1], "250 ") || !strings.HasPrefix(got[2], "250 ") {
				t.Fatalf("greeting/LHLO/MAIL = %q", got[:3])
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[3+i], w) {
					t.Errorf("reply %d = %q, want %q...", i, got[3+i], w)
				}
			}
			for u, n := range tc.wantMail {
				if m := inbox(t, filepath.Join(root, u)); len(m) != n {
					t.Errorf("%s has %d messages, want %d", u, len(m), n)
				}
			}
		})
	}
	host, _ := os.Hostname()
	for _, u := range []string{"alice", "bob"} {
		m := inbox(t, filepath.Join(root, u))
		if len(m) != 1 {
			t.Fatalf("%s: %d messages", u, len(m))
		}
		// Several recipients: no per-recipient trace parts (Dovecot's
		// lmtp_hdr_delivery_address is "none" then).
		wantPrefix := "Return-Path: <s@remote.test>\r\nReceived: from client.test ([127.0.0.1])\r\n\tby " + host + " with LMTP\r\n"
		if !strings.HasPrefix(m[0], wantPrefix) || strings.Contains(m[0], "Delivered-To") || strings.Contains(m[0], "for <") {
			t.Errorf("%s: headers %q", u, m[0])
		}
		if !strings.HasSuffix(m[0], "\r\nSubject: hi\r\nFrom: <s@remote.test>\r\n\r\nline one\r\nline two\r\n") {
			t.Errorf("%s: body %q", u, m[0])
		}
		if strings.Contains(strings.ReplaceAll(m[0], "\r\n", ""), "\n") {
			t.Errorf("%s: bare LF stored", u)
		}
	}
}

// inodes returns the inode numbers of the messages in home's INBOX.
func inodes(t *testing.T, home string) []uint64 {
	t.Helper()
	var out []uint64
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(home, "Maildir", sub))
		for _, e := range ents {
			st, err := os.Stat(filepath.Join(home, "Maildir", sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st.Sys().(*syscall.Stat_t).Ino)
		}
	}
	return out
}

// TestOneWrite: a transaction with one recipient names it in
// Delivered-To and Received's "for"; one with several stores the same
// bytes for everyone, as one file hard-linked into every Maildir (same
// file system and owner), and one recipient's failure (over quota, a
// broken store) leaves the others delivered.
func TestOneWrite(t *testing.T) {
	root := t.TempDir()
	blocker := filepath.Join(root, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	home := func(u string) authproto.Field { return field("home", filepath.Join(root, u)) }
	users := map[string]authproto.Fields{
		"solo@example.org":   {home("solo")},
		"broken@example.org": {field("home", filepath.Join(blocker, "broken"))},
		"full@example.org":   {home("full")},
	}
	var multi []string
	for i := range 6 {
		u := "m" + strconv.Itoa(i)
		users[u+"@example.org"] = authproto.Fields{home(u)}
		multi = append(multi, u+"@example.org")
		if i == 2 {
			multi = append(multi, "broken@example.org", "full@example.org")
		}
	}
	addr, _ := startServer(t, fakeUserdb(t, users), "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_rule = *:messages=1\n}\n")
	host, _ := os.Hostname()
	checkReplies(t, transaction(t, addr, []string{"full@example.org"}, "Subject: fill\n\nx\n", 3), []string{"250", "354", "250"})

	got := transaction(t, addr, []string{"solo+x@example.org"}, "Subject: one\n\nbody\n", 3)
	checkReplies(t, got, []string{"250", "354", "250 2.0.0 <solo+x@example.org>"})
	m := inbox(t, filepath.Join(root, "solo"))
	if len(m) != 1 || !strings.HasPrefix(m[0], "Return-Path: <s@remote.test>\r\nDelivered-To: solo+x@example.org\r\nReceived: from client.test ([127.0.0.1])\r\n\tby "+host+" with LMTP\r\n") ||
		!strings.Contains(m[0], "\r\n\t(envelope-from <s@remote.test>)\r\n\tfor <solo+x@example.org>; ") {
		t.Fatalf("one recipient: %q", m)
	}

	want := make([]string, 0, 2*len(multi)+1)
	for range multi {
		want = append(want, "250")
	}
	want = append(want, "354")
	for _, r := range multi {
		switch r {
		case "broken@example.org":
			want = append(want, "451 4.3.0 <"+r+">")
		case "full@example.org":
			want = append(want, "552 5.2.2 <"+r+">")
		default:
			want = append(want, "250 2.0.0 <"+r+">")
		}
	}
	got = transaction(t, addr, multi, "Subject: many\n\nbody\n", len(want))
	checkReplies(t, got, want)
	var first string
	var ino uint64
	for i := range 6 {
		h := filepath.Join(root, "m"+strconv.Itoa(i))
		m := inbox(t, h)
		if len(m) != 1 {
			t.Fatalf("m%d: %d messages", i, len(m))
		}
		in := inodes(t, h)
		if i == 0 {
			first, ino = m[0], in[0]
			if !strings.HasPrefix(first, "Return-Path: <s@remote.test>\r\nReceived: ") || strings.Contains(first, "Delivered-To") || strings.Contains(first, "for <") {
				t.Fatalf("several recipients: headers %q", first)
			}
			continue
		}
		if m[0] != first {
			t.Errorf("m%d stored %q, m0 %q", i, m[0], first)
		}
		if in[0] != ino {
			t.Errorf("m%d: inode %d, m0's %d: not linked", i, in[0], ino)
		}
	}
	if m := inbox(t, filepath.Join(root, "full")); len(m) != 1 {
		t.Errorf("over-quota recipient holds %d messages, want 1", len(m))
	}
}

func TestUserdbDown(t *testing.T) {
	addr, _ := startServer(t, filepath.Join(t.TempDir(), "no-such-socket"), "")
	got := converse(t, addr, "LHLO c\nMAIL FROM:<>\nRCPT TO:<alice@example.org>\nQUIT\n", 5)
	if !strings.HasPrefix(got[3], "451 4.3.0 <alice@example.org>") {
		t.Fatalf("RCPT = %q", got[3])
	}
}

func TestNoReceivedAndSize(t *testing.T) {
	root := t.TempDir()
	users := map[string]authproto.Fields{"alice@example.org": {field("home", filepath.Join(root, "alice"))}}
	addr, _ := startServer(t, fakeUserdb(t, users), "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_max_mail_size = 100\n}\n")
	got := converse(t, addr, "LHLO c\nQUIT\n", 3)
	if !strings.HasPrefix(got[1], "250 ") {
		t.Fatalf("LHLO = %q", got)
	}
	big := strings.Repeat("x", 200)
	got = converse(t, addr, "LHLO c\nMAIL FROM:<a@b>\nRCPT TO:<alice@example.org>\nDATA\n"+big+"\n.\nQUIT\n", 6)
	if !strings.HasPrefix(got[5], "552") {
		t.Fatalf("too big: %q", got)
	}
	if m := inbox(t, filepath.Join(root, "alice")); len(m) != 0 {
		t.Fatalf("a refused message was stored: %q", m)
	}
}

// TestSameUserTwice: one user named twice in a transaction (the address
// and a detail address) gets the message twice, both replies 250.
func TestSameUserTwice(t *testing.T) {
	root := t.TempDir()
	users := map[string]authproto.Fields{"solo@example.org": {field("home", filepath.Join(root, "solo"))}}
	addr, _ := startServer(t, fakeUserdb(t, users), "")
	got := transaction(t, addr, []string{"solo@example.org", "solo+y@example.org", "solo@example.org"}, "Subject: twice\n\nbody\n", 7)
	checkReplies(t, got, []string{"250", "250", "250", "354", "250 2.0.0 <solo@example.org>", "250 2.0.0 <solo+y@example.org>", "250 2.0.0 <solo@example.org>"})
	m := inbox(t, filepath.Join(root, "solo"))
	if len(m) != 3 || m[0] != m[1] || m[1] != m[2] {
		t.Fatalf("INBOX: %q", m)
	}
}
