package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/testkit"
)

// mailNamespace is the namespace the in-process transcripts of pkg/imapd
// are written against (its testServer): INBOX plus Sent (\Sent,
// auto-subscribed) and Trash (\Trash, auto-created), "/" as separator.
const mailNamespace = `namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = create
  }
}
`

// userPassword is the password of every user of startMailSuite.
func userPassword(user string) string { return user + "-pw" }

// startMailSuite boots a suite for IMAP sessions: a passwd-file passdb
// holding users (each with userPassword), a static userdb of virtual users
// owned by vmail with homes in a temp directory, maildir storage and
// mailNamespace.
func startMailSuite(t *testing.T, users ...string) *testkit.Suite {
	t.Helper()
	return startMailSuiteWith(t, "", users...)
}

// startMailSuiteWith is startMailSuite with extra settings after the
// kit's (a setting given again there wins).
func startMailSuiteWith(t *testing.T, extra string, users ...string) *testkit.Suite {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	s := testkit.New(t, testkit.Options{})
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	var sb strings.Builder
	for _, u := range users {
		// A cheap scheme: the login path is the same and the many users
		// of these tests would otherwise cost seconds of SHA512-CRYPT.
		h, err := passwd.Hash("SSHA256", u, userPassword(u), passwd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s:%s::::::\n", u, h)
	}
	if err := os.WriteFile(usersFile, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(t, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	homes := mailRoot(t, s)
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%d/%%n
}
# APPENDLIMIT: the in-process server of pkg/imapd's transcripts has 1 MiB.
mail_plugins = quota
plugin {
  quota = maildir:User quota
  quota_max_mail_size = 1M
}
%s
%s`, usersFile, homes, mailNamespace, extra))
	s.Start()
	return s
}

// The two messages the transcripts of pkg/imapd expect in INBOX (its
// session_test.go's msg1 and msg2), with their internal dates.
const (
	fixtureMsg1 = "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hello\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello Bob.\r\n"
	fixtureMsg2 = "From: Carol <carol@example.org>\r\nTo: bob@example.org\r\nSubject: =?ISO-8859-1?Q?Caf=E9?= menu\r\nDate: Tue, 03 Jan 2006 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nlunch at noon\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\ndGhlIHNlY3JldCB3b3Jk\r\n--b--\r\n"
)

// seedInbox logs user in over plaintext loopback and APPENDs the fixture
// messages to INBOX without selecting it, so the next session to select
// INBOX gets them as \Recent, as after an lmtp delivery. Two APPENDs, not
// one MULTIAPPEND, on purpose: the second must not claim \Recent for the
// first (APPEND opens its target with storage's OpenSave), which the
// transcripts' "* 2 RECENT" checks.
func seedInbox(t *testing.T, s *testkit.Suite, user string) {
	t.Helper()
	c := dial(t, s.Addr("imap-login", "imap"))
	defer c.conn.Close()
	c.line()
	if _, got := c.cmd("a", fmt.Sprintf("LOGIN %s %s", user, userPassword(user))); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("LOGIN %s: %q", user, got)
	}
	for i, m := range []struct{ date, body string }{
		{"02-Jan-2006 15:04:05 +0000", fixtureMsg1},
		{"03-Jan-2006 15:04:05 +0000", fixtureMsg2},
	} {
		tag := fmt.Sprintf("s%d", i)
		c.send(fmt.Sprintf("%s APPEND INBOX \"%s\" {%d+}\r\n%s", tag, m.date, len(m.body), m.body))
		if got := c.readUntil(tag + " "); !strings.HasPrefix(got[len(got)-1], tag+" OK") {
			t.Fatalf("seed APPEND: %q", got)
		}
	}
	if _, got := c.cmd("z", "LOGOUT"); !strings.HasPrefix(got, "z OK") {
		t.Fatalf("LOGOUT: %q", got)
	}
}

// loginPrologue replaces the in-process server's PREAUTH greeting: the
// imap-login greeting, then LOGIN over plaintext from loopback (which
// counts as secured), answered by the imap process.
const loginPrologue = `S~ \* OK \[CAPABILITY IMAP4rev1 .*\] .*
C: l0 LOGIN ${user} ${password}
S~ l0 OK \[CAPABILITY IMAP4rev1 .*\] Logged in
`

// realSuiteEdits are the only changes made to pkg/imapd's transcripts for
// the real suite, each for a configuration the in-process server sets and
// the real one has at its default. Every edit must match exactly one step,
// so a stale one fails rather than silently doing nothing.
var realSuiteEdits = []struct {
	file, from, to, why string
}{}

// sessionTranscript loads a transcript of pkg/imapd, drops its first
// step, the PREAUTH greeting, which the login prologue stands for, and
// applies realSuiteEdits.
func sessionTranscript(t *testing.T, path string) *testkit.Transcript {
	t.Helper()
	tr, err := testkit.LoadTranscript(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Steps) == 0 || !strings.Contains(tr.Steps[0].Text, "PREAUTH") {
		t.Fatalf("%s does not start with the PREAUTH greeting", path)
	}
	tr.Steps = tr.Steps[1:]
	for _, e := range realSuiteEdits {
		if e.file != filepath.Base(path) {
			continue
		}
		n := 0
		for i := range tr.Steps {
			if tr.Steps[i].Text == e.from {
				tr.Steps[i].Text = e.to
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s: edit %q (%s) matched %d steps, want 1", path, e.from, e.why, n)
		}
	}
	return tr
}

// TestIMAPSessionTranscripts plays the post-login transcripts of pkg/imapd
// (the same files its in-process test runs) and this directory's imap-*.tr
// against the real binaries: each on one connection to imap-login, after
// a login prologue, as a user of its own with the two fixture messages in
// INBOX.
func TestIMAPSessionTranscripts(t *testing.T) {
	shared, err := filepath.Glob("../../pkg/imapd/testdata/*.tr")
	if err != nil || len(shared) == 0 {
		t.Fatalf("no pkg/imapd transcripts: %v", err)
	}
	local, err := filepath.Glob("testdata/imap-*.tr")
	if err != nil || len(local) == 0 {
		t.Fatalf("no imap-*.tr transcripts: %v", err)
	}
	type tcase struct {
		name, path string
		preauth    bool // starts with PREAUTH (pkg/imapd), else after the prologue
	}
	var cases []tcase
	for _, f := range shared {
		cases = append(cases, tcase{"imapd/" + strings.TrimSuffix(filepath.Base(f), ".tr"), f, true})
	}
	for _, f := range local {
		cases = append(cases, tcase{strings.TrimSuffix(filepath.Base(f), ".tr"), f, false})
	}
	users := make([]string, len(cases))
	for i := range cases {
		users[i] = fmt.Sprintf("tr%d@example.com", i)
	}
	s := startMailSuite(t, users...)
	prologue, err := testkit.ParseTranscript("login prologue", []byte(loginPrologue))
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := users[i]
			seedInbox(t, s, user)
			var tr *testkit.Transcript
			if tc.preauth {
				tr = sessionTranscript(t, tc.path)
			} else {
				var err error
				if tr, err = testkit.LoadTranscript(tc.path); err != nil {
					t.Fatal(err)
				}
			}
			opts := testkit.TranscriptOptions{Vars: map[string]string{
				"user": user, "password": userPassword(user),
				// One C: step carrying several commands is one write:
				// pipelining.
				"crlf": "\r\n",
			}}
			conn, err := net.DialTimeout("tcp", s.Addr("imap-login", "imap"), ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Two transcripts on one connection: the prologue ends on the
			// tagged LOGIN reply, after which the server sends nothing
			// unasked, so no byte is left in the first run's buffer.
			if tc.preauth {
				if err := prologue.Run(conn, opts); err != nil {
					t.Fatal(err)
				}
			}
			if err := tr.Run(conn, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}
