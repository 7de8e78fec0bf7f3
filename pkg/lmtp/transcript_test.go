package lmtp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// folder returns the messages of a Maildir++ folder (".name"), or of the
// INBOX for "INBOX".
func folder(t *testing.T, home, name string) []string {
	t.Helper()
	dir := filepath.Join(home, "Maildir")
	if name != "INBOX" {
		dir = filepath.Join(dir, "."+name)
	}
	var msgs []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, string(b))
		}
	}
	return msgs
}

// createMailbox creates name in the store of the user whose home is home.
func createMailbox(t *testing.T, home, name string) {
	t.Helper()
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": maildir.New(nil).Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Create(name); err != nil {
		t.Fatal(err)
	}
}

func subscriptions(t *testing.T, home string) []string {
	t.Helper()
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": maildir.New(nil).Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	subs, err := u.Subscriptions()
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

// transaction is one pipelined LMTP transaction: LHLO, MAIL, the RCPTs,
// DATA with body, QUIT; it returns the replies after LHLO and MAIL.
func transaction(t *testing.T, addr string, rcpts []string, body string, want int) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("LHLO client.test\nMAIL FROM:<s@remote.test>\n")
	for _, r := range rcpts {
		b.WriteString("RCPT TO:<" + r + ">\n")
	}
	b.WriteString("DATA\n" + body + ".\nQUIT\n")
	got := converse(t, addr, b.String(), 3+want)
	return got[3:]
}

func checkReplies(t *testing.T, got, want []string) {
	t.Helper()
	for i, w := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], w) {
			t.Fatalf("replies = %q, want prefixes %q", got, want)
		}
	}
}

// TestDetailMailbox covers lmtp_save_to_detail_mailbox with and without
// lda_mailbox_autocreate/autosubscribe.
func TestDetailMailbox(t *testing.T) {
	root := t.TempDir()
	users := map[string]authproto.Fields{}
	for _, u := range []string{"alice", "bob"} {
		users[u+"@example.org"] = authproto.Fields{field("home", filepath.Join(root, u))}
	}
	db := fakeUserdb(t, users)
	createMailbox(t, filepath.Join(root, "alice"), "lists")
	plain, _ := startServer(t, db, "lmtp_save_to_detail_mailbox = yes\n")
	auto, _ := startServer(t, db, "lmtp_save_to_detail_mailbox = yes\nlda_mailbox_autocreate = yes\nlda_mailbox_autosubscribe = yes\n")
	off, _ := startServer(t, db, "")
	tests := []struct {
		name, addr, rcpt string
		user, mailbox    string
	}{
		{"existing detail mailbox", plain, "alice+lists@example.org", "alice", "lists"},
		{"missing detail mailbox falls back to INBOX", plain, "alice+nosuch@example.org", "alice", "INBOX"},
		{"setting off", off, "alice+lists@example.org", "alice", "INBOX"},
		{"autocreate", auto, "bob+new@example.org", "bob", "new"},
		{"second delivery to autocreated", auto, "bob+new@example.org", "bob", "new"},
	}
	count := map[string]int{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := transaction(t, tc.addr, []string{tc.rcpt}, "Subject: "+tc.name+"\n\nbody\n", 3)
			checkReplies(t, got, []string{"250", "354", "250"})
			count[tc.user+"/"+tc.mailbox]++
			msgs := folder(t, filepath.Join(root, tc.user), tc.mailbox)
			if len(msgs) != count[tc.user+"/"+tc.mailbox] || !strings.Contains(msgs[len(msgs)-1]+strings.Join(msgs, ""), "Subject: "+tc.name) {
				t.Fatalf("%s/%s holds %d messages (want %d): %q", tc.user, tc.mailbox, len(msgs), count[tc.user+"/"+tc.mailbox], msgs)
			}
		})
	}
	if subs := subscriptions(t, filepath.Join(root, "bob")); !slices.Contains(subs, "new") {
		t.Errorf("autocreated mailbox not subscribed: %q", subs)
	}
	if subs := subscriptions(t, filepath.Join(root, "alice")); slices.Contains(subs, "nosuch") {
		t.Errorf("mailbox subscribed without autocreate: %q", subs)
	}
}

// TestQuota: over quota is 552 5.2.2 after DATA, 452 4.2.2 with
// quota_full_tempfail, and refused at RCPT with lmtp_rcpt_check_quota;
// the other recipient of the transaction is delivered.
func TestQuota(t *testing.T) {
	const quota = "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_rule = *:messages=1\n}\n"
	tests := []struct {
		name, conf string
		want       []string // replies to: RCPT full, RCPT other, DATA, statuses
	}{
		{"permanent", "", []string{"250", "250", "354", "552 5.2.2 <full@example.org> Quota exceeded", "250"}},
		{"tempfail", "quota_full_tempfail = yes\n", []string{"250", "250", "354", "452 4.2.2 <full@example.org> Quota exceeded", "250"}},
		{"at rcpt", "lmtp_rcpt_check_quota = yes\n", []string{"552 5.2.2 <full@example.org> Quota exceeded", "250", "354", "250"}},
		{"at rcpt tempfail", "lmtp_rcpt_check_quota = yes\nquota_full_tempfail = yes\n", []string{"452 4.2.2", "250", "354", "250"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			users := map[string]authproto.Fields{
				"full@example.org":  {field("home", filepath.Join(root, "full"))},
				"other@example.org": {field("home", filepath.Join(root, "other"))},
			}
			addr, _ := startServer(t, fakeUserdb(t, users), quota+tc.conf)
			got := transaction(t, addr, []string{"full@example.org"}, "Subject: first\n\nx\n", 3)
			checkReplies(t, got, []string{"250", "354", "250"})
			got = transaction(t, addr, []string{"full@example.org", "other@example.org"}, "Subject: second\n\nx\n", len(tc.want))
			checkReplies(t, got, tc.want)
			if n := len(folder(t, filepath.Join(root, "full"), "INBOX")); n != 1 {
				t.Errorf("full has %d messages, want 1", n)
			}
			if n := len(folder(t, filepath.Join(root, "other"), "INBOX")); n != 1 {
				t.Errorf("other has %d messages, want 1", n)
			}
		})
	}
}

// TestBDAT covers CHUNKING (RFC 3030) in LMTP: chunks make one message,
// statuses per recipient after BDAT LAST; a chunk over the size limit is
// refused with 552 before anything is stored.
func TestBDAT(t *testing.T) {
	root := t.TempDir()
	users := map[string]authproto.Fields{"alice@example.org": {field("home", filepath.Join(root, "alice"))}}
	addr, _ := startServer(t, fakeUserdb(t, users), "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_max_mail_size = 200\n}\n")
	c1 := "Subject: chunked\r\n\r\n"
	c2 := "one\r\ntwo\r\n"
	client := fmt.Sprintf("LHLO c\nMAIL FROM:<s@remote.test>\nRCPT TO:<alice@example.org>\nRCPT TO:<nobody@example.org>\nBDAT %d\n%sBDAT %d LAST\n%sQUIT\n",
		len(c1), strings.ReplaceAll(c1, "\r\n", "\n"), len(c2), strings.ReplaceAll(c2, "\r\n", "\n"))
	got := converse(t, addr, client, 8)
	checkReplies(t, got[3:], []string{"250", "550 5.1.1", "250", "250", "221"})
	msgs := folder(t, filepath.Join(root, "alice"), "INBOX")
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0], "\r\n"+c1+c2) {
		t.Fatalf("stored %q", msgs)
	}

	big := strings.Repeat("y", 300)
	got = converse(t, addr, fmt.Sprintf("LHLO c\nMAIL FROM:<s@remote.test>\nRCPT TO:<alice@example.org>\nBDAT %d LAST\n%sQUIT\n", len(big), big), 6)
	checkReplies(t, got[3:], []string{"250", "552"})
	if n := len(folder(t, filepath.Join(root, "alice"), "INBOX")); n != 1 {
		t.Fatalf("a refused message was stored: %d messages", n)
	}
}

// TestCapabilities checks the LHLO extensions.
func TestCapabilities(t *testing.T) {
	addr, _ := startServer(t, fakeUserdb(t, nil), "")
	c := converseRaw(t, addr, "LHLO c\nQUIT\n", "221")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING"} {
		if !strings.Contains(c, "250-"+ext) && !strings.Contains(c, "250 "+ext) {
			t.Errorf("LHLO lacks %s:\n%s", ext, c)
		}
	}
	if strings.Contains(c, "SMTPUTF8") {
		t.Errorf("SMTPUTF8 advertised:\n%s", c)
	}
}

// converseRaw sends client and returns everything read up to and
// including the first line starting with end+" ".
func converseRaw(t *testing.T, addr, client, end string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.ReplaceAll(client, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			t.Fatalf("%v after %q", err, b.String())
		}
		if strings.HasPrefix(line, end+" ") {
			return b.String()
		}
	}
}

// TestDropMidData: a client that disconnects in the middle of DATA leaves
// nothing in the Maildir (not even in tmp/); the next transaction is
// stored once.
func TestDropMidData(t *testing.T) {
	root := t.TempDir()
	users := map[string]authproto.Fields{"alice@example.org": {field("home", filepath.Join(root, "alice"))}}
	addr, _ := startServer(t, fakeUserdb(t, users), "")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	c.Write([]byte("LHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a mess"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "354 ") {
			break
		}
	}
	c.Close()
	got := transaction(t, addr, []string{"alice@example.org"}, "Subject: whole\n\nbody\n", 3)
	checkReplies(t, got, []string{"250", "354", "250"})
	msgs := folder(t, filepath.Join(root, "alice"), "INBOX")
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: whole") {
		t.Fatalf("INBOX: %q", msgs)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "alice", "Maildir", "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ holds %d files", len(ents))
	}
}
