package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/testkit"
)

// pop3Messages are delivered (over IMAP APPEND) before the POP3 client
// tests: a dot-stuffed line, a long body, a plain one.
var pop3Messages = []string{
	"From: a@example.org\r\nTo: pop@example.com\r\nSubject: first\r\n\r\nline one\r\n.starts with a dot\r\n..two dots\r\n.\r\nend\r\n",
	"From: b@example.org\r\nTo: pop@example.com\r\nSubject: second\r\n\r\n" + strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n", 400),
	"From: c@example.org\r\nTo: pop@example.com\r\nSubject: third\r\n\r\nshort\r\n",
}

// startPOP3dSuite boots the real suite with POP3 (pop3-login and pop3)
// for users whose passwords are stored {PLAIN} (APOP digests the password
// itself), userPassword each.
func startPOP3dSuite(t *testing.T, extra string, users ...string) *testkit.Suite {
	t.Helper()
	if !settings.BuiltServices["pop3"] || !settings.BuiltServices["pop3-login"] {
		t.Skip("this build has no pop3 or pop3-login service")
	}
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	s := testkit.New(t, testkit.Options{})
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	var sb strings.Builder
	for _, u := range users {
		fmt.Fprintf(&sb, "%s:{PLAIN}%s::::::\n", u, userPassword(u))
	}
	if err := os.WriteFile(usersFile, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(t, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	homes := mailRoot(t, s)
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login apop
auth_failure_delay = %s
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%d/%%n
}
%s`, authFailDelay, usersFile, homes, extra))
	s.Start()
	return s
}

// imapLogin logs user in over plaintext loopback IMAP.
func imapLogin(t *testing.T, s *testkit.Suite, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr("imap-login", "imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, userPassword(user)).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	return c
}

// imapAppend delivers msgs into user's INBOX over IMAP.
func imapAppend(t *testing.T, c *imapclient.Client, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		cmd := c.Append("INBOX", int64(len(m)), nil)
		if _, err := cmd.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND: %v", err)
		}
	}
}

// imapSubjects returns the subjects of INBOX (selected anew).
func imapSubjects(t *testing.T, c *imapclient.Client) []string {
	t.Helper()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	// Stop 0 is "*".
	all, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range all {
		out = append(out, m.Envelope.Subject)
	}
	return out
}

// TestPOP3Poplib drives the suite with Python's poplib: the bytes it
// downloads are the delivered messages, the UIDLs are Dovecot's format,
// DELE+RSET deletes nothing, DELE+QUIT over STLS deletes, APOP and pop3s
// see the same maildrop.
func TestPOP3Poplib(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	const user = "pop@example.com"
	s := startPOP3dSuite(t, "", user)
	ic := imapLogin(t, s, user)
	imapAppend(t, ic, pop3Messages...)

	_, port, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3"))
	_, sport, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3s"))
	out, err := exec.Command(python, "testdata/pop3/poplib_client.py", "localhost", port, sport, user, userPassword(user), s.Cert.CertFile).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	var got struct {
		Stat          []int64  `json:"stat"`
		List          []string `json:"list"`
		UIDL          []string `json:"uidl"`
		UIDL2         string   `json:"uidl2"`
		Top           string   `json:"top"`
		Retr          []string `json:"retr"`
		StatAfterDele []int64  `json:"stat_after_dele"`
		QuitRset      string   `json:"quit_rset"`
		APOPStat      []int64  `json:"apop_stat"`
		QuitDele      string   `json:"quit_dele"`
		SSLStat       []int64  `json:"ssl_stat"`
		SSLUIDL       []string `json:"ssl_uidl"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("poplib output: %v\n%s", err, out)
	}
	var total int64
	for i, m := range pop3Messages {
		total += int64(len(m))
		if want := fmt.Sprintf("%d %d", i+1, len(m)); got.List[i] != want {
			t.Errorf("LIST line %q, want %q", got.List[i], want)
		}
		b, _ := base64.StdEncoding.DecodeString(got.Retr[i])
		if string(b) != m {
			t.Errorf("RETR %d: got %q, want %q", i+1, b, m)
		}
	}
	if !slices.Equal(got.Stat, []int64{3, total}) || !slices.Equal(got.APOPStat, got.Stat) {
		t.Errorf("STAT %v, APOP STAT %v, want [3 %d]", got.Stat, got.APOPStat, total)
	}
	if !slices.Equal(got.StatAfterDele, []int64{2, total - int64(len(pop3Messages[0]))}) {
		t.Errorf("STAT after DELE 1: %v", got.StatAfterDele)
	}
	if top, _ := base64.StdEncoding.DecodeString(got.Top); string(top) != "From: a@example.org\r\nTo: pop@example.com\r\nSubject: first\r\n\r\nline one\r\n" {
		t.Errorf("TOP 1 1: %q", top)
	}
	for i, u := range got.UIDL {
		if len(u) != len("1 ")+16 || !strings.HasPrefix(u, fmt.Sprintf("%d %08x", i+1, i+1)) {
			t.Errorf("UIDL line %q is not %%08Xu%%08Xv of UID %d", u, i+1)
		}
	}
	if got.UIDL2 != "+OK "+got.UIDL[1] {
		t.Errorf("UIDL 2: %q, want +OK %s", got.UIDL2, got.UIDL[1])
	}
	if got.QuitRset != "+OK Logging out." || got.QuitDele != "+OK Logging out, messages deleted." {
		t.Errorf("QUIT answers %q and %q", got.QuitRset, got.QuitDele)
	}
	// pop3s after the STLS session's deletion: messages 2 and 3, with the
	// UIDLs they had (a UIDL never changes).
	if !slices.Equal(got.SSLStat, []int64{2, total - int64(len(pop3Messages[0]))}) {
		t.Errorf("pop3s STAT %v", got.SSLStat)
	}
	if want := []string{"1 " + strings.Fields(got.UIDL[1])[1], "2 " + strings.Fields(got.UIDL[2])[1]}; !slices.Equal(got.SSLUIDL, want) {
		t.Errorf("pop3s UIDL %q, want %q", got.SSLUIDL, want)
	}
	if subj := imapSubjects(t, ic); !slices.Equal(subj, []string{"second", "third"}) {
		t.Errorf("IMAP sees %q after the POP3 deletion, want second and third", subj)
	}
}

// TestPOP3Curl downloads with curl over pop3:// (message listing and
// RETR) and pop3s://.
func TestPOP3Curl(t *testing.T) {
	curl := testkit.RequireTool(t, "curl", "curl")
	const user = "curl@example.com"
	s := startPOP3dSuite(t, "", user)
	imapAppend(t, imapLogin(t, s, user), pop3Messages...)
	_, port, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3"))
	_, sport, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3s"))
	run := func(args ...string) string {
		t.Helper()
		base := []string{"-sS", "--max-time", "20", "--user", user + ":" + userPassword(user), "--cacert", s.Cert.CertFile,
			"--resolve", "localhost:" + port + ":127.0.0.1", "--resolve", "localhost:" + sport + ":127.0.0.1"}
		out, err := exec.Command(curl, append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	var list strings.Builder
	for i, m := range pop3Messages {
		fmt.Fprintf(&list, "%d %d\r\n", i+1, len(m))
	}
	for _, url := range []string{"pop3://localhost:" + port + "/", "pop3s://localhost:" + sport + "/"} {
		if got := run(url); got != list.String() {
			t.Errorf("curl %s: %q, want %q", url, got, list.String())
		}
		for i, m := range pop3Messages {
			if got := run(fmt.Sprintf("%s%d", url, i+1)); got != m {
				t.Errorf("curl %s%d: %d octets differ from the %d delivered", url, i+1, len(got), len(m))
			}
		}
	}
	// STLS on the plain port (--ssl-reqd) and a DELE by custom request.
	if got := run("--ssl-reqd", "-X", "DELE", "-I", "pop3://localhost:"+port+"/2"); got != "" {
		t.Errorf("curl DELE: %q", got)
	}
	if got := run("pop3://localhost:" + port + "/"); got != fmt.Sprintf("1 %d\r\n2 %d\r\n", len(pop3Messages[0]), len(pop3Messages[2])) {
		t.Errorf("after DELE 2: %q", got)
	}
}

// TestPOP3Fetchmail: fetchmail downloads the maildrop into a file
// through an MDA and deletes it from the server; the bytes are the
// delivered messages (fetchmail hands the MDA LF line ends).
func TestPOP3Fetchmail(t *testing.T) {
	fetchmail := testkit.RequireTool(t, "fetchmail", "fetchmail")
	const user = "fetch@example.com"
	s := startPOP3dSuite(t, "", user)
	ic := imapLogin(t, s, user)
	imapAppend(t, ic, pop3Messages...)
	_, sport, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3s"))
	_, port, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3"))
	dir := t.TempDir()
	box := filepath.Join(dir, "mbox")
	for _, mode := range []struct{ name, opts, port string }{
		{"pop3s", "ssl sslcertck sslcommonname localhost sslcertfile " + s.Cert.CertFile, sport},
		{"stls", "sslproto tls1.2+ sslcertck sslcommonname localhost sslcertfile " + s.Cert.CertFile, port},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if mode.name == "stls" {
				imapAppend(t, ic, pop3Messages...)
			}
			os.Remove(box)
			rc := filepath.Join(dir, "fetchmailrc")
			// The MDA writes each message between markers so the file
			// splits back into messages.
			conf := fmt.Sprintf("set no bouncemail\npoll localhost via 127.0.0.1 service %s protocol pop3 uidl\n  user %q password %q is root here\n  %s\n  fetchall nokeep no rewrite\n  mda \"sh -c 'cat >> %s; echo =====END===== >> %s'\"\n",
				mode.port, user, userPassword(user), mode.opts, box, box)
			if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(fetchmail, "-f", rc, "--nodetach", "--invisible", "-i", filepath.Join(dir, "fetchids"))
			cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fetchmail: %v\n%s", err, out)
			}
			data, err := os.ReadFile(box)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(data), "=====END=====\n"), "=====END=====\n")
			if len(got) != len(pop3Messages) {
				t.Fatalf("fetchmail delivered %d messages, want %d\n%s", len(got), len(pop3Messages), out)
			}
			for i, m := range pop3Messages {
				if want := strings.ReplaceAll(m, "\r\n", "\n"); got[i] != want {
					t.Errorf("message %d: got %q, want %q", i+1, firstDiff(got[i], want), "")
				}
			}
			if subj := imapSubjects(t, ic); len(subj) != 0 {
				t.Errorf("server still has %q after fetchmail's nokeep", subj)
			}
		})
	}
}

// firstDiff shows where two strings part.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return fmt.Sprintf("at %d: %q vs %q", i, a[i:min(len(a), i+40)], b[i:min(len(b), i+40)])
}

// TestPOP3WithIMAP: a POP3 session and an IMAP session on one mailbox at
// once. Mail appended over IMAP during the POP3 session is not in its
// list and survives its QUIT; what POP3 deleted is gone from IMAP after
// QUIT (expunges announced to the selected IMAP session); nothing else
// is lost.
func TestPOP3WithIMAP(t *testing.T) {
	const user = "both@example.com"
	s := startPOP3dSuite(t, "", user)
	ic := imapLogin(t, s, user)
	imapAppend(t, ic, pop3Messages...)
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	c := dial(t, s.Addr("pop3-login", "pop3"))
	pop := func(cmd, want string) {
		t.Helper()
		c.send(cmd)
		if got := c.line(); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %q, want %q...", cmd, got, want)
		}
	}
	c.line()
	pop("USER "+user, "+OK")
	pop("PASS "+userPassword(user), "+OK Logged in.")
	pop("STAT", "+OK 3 ")
	pop("DELE 1", "+OK")
	pop("DELE 3", "+OK")
	imapAppend(t, ic, "Subject: during\r\n\r\nappended during the POP3 session\r\n")
	pop("STAT", "+OK 1 ")
	pop("QUIT", "+OK Logging out, messages deleted.")
	c.conn.Close()

	// The selected IMAP session learns of the expunges.
	if err := ic.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if subj := imapSubjects(t, ic); !slices.Equal(subj, []string{"second", "during"}) {
		t.Errorf("IMAP sees %q, want second and during", subj)
	}
	c2 := dial(t, s.Addr("pop3-login", "pop3"))
	c = c2
	c.line()
	pop("USER "+user, "+OK")
	pop("PASS "+userPassword(user), "+OK Logged in.")
	pop("STAT", "+OK 2 ")
	pop("QUIT", "+OK Logging out.")
}

// TestPOP3LockSession: with pop3_lock_session a second POP3 session on
// the mailbox is refused with [IN-USE] while the first lasts.
func TestPOP3LockSession(t *testing.T) {
	const user = "lock@example.com"
	s := startPOP3dSuite(t, "pop3_lock_session = yes\n", user)
	login := func() *client {
		c := dial(t, s.Addr("pop3-login", "pop3"))
		c.line()
		c.send("USER " + user)
		c.line()
		c.send("PASS " + userPassword(user))
		return c
	}
	c1 := login()
	if l := c1.line(); l != "+OK Logged in." {
		t.Fatal(l)
	}
	c2 := login()
	if l := c2.line(); !strings.HasPrefix(l, "-ERR [IN-USE] ") {
		t.Fatalf("second session: %q", l)
	}
	c1.send("QUIT")
	c1.line()
	c3 := login()
	if l := c3.line(); l != "+OK Logged in." {
		t.Fatalf("after the first QUIT: %q", l)
	}
}

// TestPOP3UserIPLimit: mail_max_userip_connections counts pop3 sessions
// (pkg/postlogin with anvil); one over it is refused with [IN-USE] and
// Dovecot's text.
func TestPOP3UserIPLimit(t *testing.T) {
	const user = "limit@example.com"
	s := startPOP3dSuite(t, "mail_max_userip_connections = 1\n", user)
	login := func() *client {
		c := dial(t, s.Addr("pop3-login", "pop3"))
		c.line()
		c.send("USER " + user)
		c.line()
		c.send("PASS " + userPassword(user))
		return c
	}
	c1 := login()
	if l := c1.line(); l != "+OK Logged in." {
		t.Fatal(l)
	}
	c2 := login()
	if l := c2.line(); l != "-ERR [IN-USE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=1)" {
		t.Fatalf("second session: %q", l)
	}
	c1.send("QUIT")
	c1.line()
}

// TestPOP3PipelinedLogin: a client that pipelines its whole session
// behind USER/PASS gets every answer in order: what followed PASS reaches
// the pop3 process in the handoff record's preamble.
func TestPOP3PipelinedLogin(t *testing.T) {
	const user = "pipe@example.com"
	s := startPOP3dSuite(t, "", user)
	imapAppend(t, imapLogin(t, s, user), pop3Messages[2])
	c := dial(t, s.Addr("pop3-login", "pop3"))
	c.line()
	c.send("USER " + user + "\r\nPASS " + userPassword(user) + "\r\nSTAT\r\nUIDL 1\r\nRETR 1\r\nQUIT")
	var got []string
	for {
		l := c.line()
		got = append(got, l)
		if strings.HasPrefix(l, "+OK Logging out") || strings.HasPrefix(l, "-ERR") {
			break
		}
	}
	want := []string{"+OK", "+OK Logged in.", fmt.Sprintf("+OK 1 %d", len(pop3Messages[2]))}
	if len(got) < 6 || !slices.Equal(got[:3], want) || !strings.HasPrefix(got[3], "+OK 1 ") ||
		got[4] != fmt.Sprintf("+OK %d octets", len(pop3Messages[2])) || got[len(got)-1] != "+OK Logging out." {
		t.Errorf("pipelined session answered %q", got)
	}
	if body := strings.Join(got[5:len(got)-2], "\r\n") + "\r\n"; body != pop3Messages[2] {
		t.Errorf("RETR body %q", body)
	}
}
