package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cote-mail/cote/pkg/testkit"
)

// idleLatency bounds how long a client in IDLE may wait to learn of a
// message another session appended: the store's change notification
// (inotify) should make it immediate.
const idleLatency = time.Second

// clientMessage is a small message the client tests append.
func clientMessage(subject string) string {
	return "From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@example.org>\r\n\r\nBody of " + subject + ".\r\n"
}

// TestGoIMAPClientSessions drives real sessions with go-imap v2's
// imapclient over STARTTLS and imaps: folder management, APPEND, SELECT,
// FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE, and IDLE seeing another
// session's APPEND.
func TestGoIMAPClientSessions(t *testing.T) {
	modes := []string{"starttls", "imaps"}
	users := make([]string, len(modes))
	for i, m := range modes {
		users[i] = "goimap-" + m + "@example.com"
	}
	s := startMailSuite(t, users...)
	tlsCfg := s.Cert.ClientConfig("localhost")
	dialMode := func(t *testing.T, mode string, opts *imapclient.Options) *imapclient.Client {
		t.Helper()
		o := *opts
		o.TLSConfig = tlsCfg
		var c *imapclient.Client
		var err error
		if mode == "starttls" {
			c, err = imapclient.DialStartTLS(s.Addr("imap-login", "imap"), &o)
		} else {
			c, err = imapclient.DialTLS(s.Addr("imap-login", "imaps"), &o)
		}
		if err != nil {
			t.Fatalf("dial %s: %v", mode, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			user := users[i]
			c := dialMode(t, mode, &imapclient.Options{})
			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			must("LOGIN", c.Login(user, userPassword(user)).Wait())

			// Folders.
			must("CREATE Work", c.Create("Work", nil).Wait())
			must("RENAME Work Archive", c.Rename("Work", "Archive", nil).Wait())
			must("CREATE Scratch", c.Create("Scratch", nil).Wait())
			must("DELETE Scratch", c.Delete("Scratch").Wait())
			list, err := c.List("", "*", nil).Collect()
			must("LIST", err)
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
			}
			slices.Sort(names)
			if want := []string{"Archive", "INBOX", "Sent", "Trash"}; !slices.Equal(names, want) {
				t.Errorf("LIST: %q, want %q", names, want)
			}

			// APPEND two messages, the second \Seen.
			for _, a := range []struct {
				subject string
				flags   []imap.Flag
			}{{"first note", nil}, {"second note", []imap.Flag{imap.FlagSeen}}} {
				body := clientMessage(a.subject)
				cmd := c.Append("INBOX", int64(len(body)), &imap.AppendOptions{Flags: a.flags})
				if _, err := cmd.Write([]byte(body)); err != nil {
					t.Fatal(err)
				}
				must("APPEND close", cmd.Close())
				data, err := cmd.Wait()
				must("APPEND", err)
				if data.UID == 0 {
					t.Errorf("APPEND %q: no APPENDUID", a.subject)
				}
			}

			sel, err := c.Select("INBOX", nil).Wait()
			must("SELECT", err)
			if sel.NumMessages != 2 {
				t.Fatalf("SELECT INBOX: %d messages, want 2", sel.NumMessages)
			}

			// FETCH envelope, flags, UID and a body section.
			section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
			msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
				Envelope: true, Flags: true, UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{section},
			}).Collect()
			must("FETCH", err)
			if len(msgs) != 2 {
				t.Fatalf("FETCH 1:2: %d messages", len(msgs))
			}
			if got := msgs[0].Envelope.Subject; got != "first note" {
				t.Errorf("message 1 subject %q", got)
			}
			if got := string(msgs[1].FindBodySection(section)); got != "Body of second note.\r\n" {
				t.Errorf("message 2 text %q", got)
			}
			if !slices.Contains(msgs[1].Flags, imap.FlagSeen) || slices.Contains(msgs[0].Flags, imap.FlagSeen) {
				t.Errorf("flags %v and %v, want only message 2 \\Seen", msgs[0].Flags, msgs[1].Flags)
			}

			// SEARCH by header and by flag.
			sd, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "second"}}}, nil).Wait()
			must("SEARCH SUBJECT", err)
			if got := sd.AllSeqNums(); !slices.Equal(got, []uint32{2}) {
				t.Errorf("SEARCH SUBJECT second: %v", got)
			}
			sd, err = c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
			must("UID SEARCH UNSEEN", err)
			if got := sd.AllUIDs(); !slices.Equal(got, []imap.UID{msgs[0].UID}) {
				t.Errorf("UID SEARCH UNSEEN: %v, want [%d]", got, msgs[0].UID)
			}

			// STORE.
			stored, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
			must("STORE", err)
			if len(stored) != 1 || !slices.Contains(stored[0].Flags, imap.FlagFlagged) {
				t.Errorf("STORE +FLAGS \\Flagged answered %+v", stored)
			}

			// COPY, MOVE, EXPUNGE.
			cd, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait()
			must("COPY", err)
			if cd.DestUIDs == nil {
				t.Errorf("COPY: no COPYUID")
			}
			if _, err := c.Move(imap.SeqSetNum(2), "Archive").Wait(); err != nil {
				t.Fatalf("MOVE: %v", err)
			}
			must("STORE \\Deleted", c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close())
			expunged, err := c.Expunge().Collect()
			must("EXPUNGE", err)
			if !slices.Equal(expunged, []uint32{1}) {
				t.Errorf("EXPUNGE: %v, want [1]", expunged)
			}
			st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true}).Wait()
			must("STATUS Archive", err)
			if st.NumMessages == nil || *st.NumMessages != 2 {
				t.Errorf("STATUS Archive: %+v, want 2 messages", st)
			}
			must("UNSELECT", c.Unselect().Wait())

			// IDLE: a second session idles on INBOX; this one appends.
			exists := make(chan uint32, 16)
			w := dialMode(t, mode, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
				Mailbox: func(d *imapclient.UnilateralDataMailbox) {
					if d.NumMessages != nil {
						exists <- *d.NumMessages
					}
				},
			}})
			must("watcher LOGIN", w.Login(user, userPassword(user)).Wait())
			wsel, err := w.Select("INBOX", nil).Wait()
			must("watcher SELECT", err)
			idle, err := w.Idle()
			must("IDLE", err)
			body := clientMessage("third note")
			cmd := c.Append("INBOX", int64(len(body)), nil)
			if _, err := cmd.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
			must("APPEND close", cmd.Close())
			if _, err := cmd.Wait(); err != nil {
				t.Fatalf("APPEND during IDLE: %v", err)
			}
			appended := time.Now()
			select {
			case n := <-exists:
				if n != wsel.NumMessages+1 {
					t.Errorf("IDLE: EXISTS %d, want %d", n, wsel.NumMessages+1)
				}
				if d := time.Since(appended); d > idleLatency {
					t.Errorf("IDLE learned of the APPEND after %v, want within %v", d, idleLatency)
				}
			case <-time.After(ioTimeout):
				t.Fatalf("IDLE: no EXISTS within %v of the APPEND", ioTimeout)
			}
			must("DONE", idle.Close())
			must("IDLE end", idle.Wait())

			must("DELETE Archive", c.Delete("Archive").Wait())
			must("LOGOUT", c.Logout().Wait())
			must("watcher LOGOUT", w.Logout().Wait())
		})
	}
}

// imaplibScript drives a real session with Python's imaplib over STARTTLS
// (argv mode "starttls") or imaps ("imaps"), certificate chain verified
// against the kit's CA. IDLE is not in imaplib before Python 3.14, so it is
// spoken raw: the tagged IDLE, the continuation, then the EXISTS another
// session's APPEND causes. It prints "ok" last; any failed check raises.
const imaplibScript = `
import imaplib, socket, ssl, sys, time
host, port, mode, cafile, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False  # the kit's certificate names localhost; the suite listens on 127.0.0.1
def connect():
    if mode == "imaps":
        return imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=15)
    m = imaplib.IMAP4(host, port, timeout=15)
    m.starttls(ssl_context=ctx)
    return m
def ok(res, what):
    typ, data = res
    if typ != "OK":
        raise SystemExit("%s: %s %r" % (what, typ, data))
    return data
m = connect()
ok(m.login(user, pw), "LOGIN")
ok(m.create("Py"), "CREATE")
ok(m.rename("Py", "PyArchive"), "RENAME")
ok(m.create("PyTmp"), "CREATE PyTmp")
ok(m.delete("PyTmp"), "DELETE")
names = sorted(l.decode().rsplit(' "/" ', 1)[1] for l in ok(m.list(), "LIST"))
if names != ["INBOX", "PyArchive", "Sent", "Trash"]:
    raise SystemExit("LIST %r" % names)
msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nhello from imaplib\r\n"
ok(m.append("INBOX", None, None, msg), "APPEND")
ok(m.append("INBOX", "(\\Seen)", None, msg.replace(b"from python", b"second python")), "APPEND 2")
n = int(ok(m.select("INBOX"), "SELECT")[0])
if n != 2:
    raise SystemExit("SELECT: %d messages" % n)
data = ok(m.fetch("1", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH")
if b"Subject: from python" not in data[0][1]:
    raise SystemExit("FETCH %r" % data)
data = ok(m.uid("FETCH", "1:*", "(FLAGS)"), "UID FETCH")
if len(data) != 2:
    raise SystemExit("UID FETCH %r" % data)
if ok(m.search(None, "SUBJECT", "second"), "SEARCH")[0] != b"2":
    raise SystemExit("SEARCH SUBJECT")
if ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN")[0] != b"1":
    raise SystemExit("SEARCH UNSEEN")
data = ok(m.store("1", "+FLAGS", "(\\Flagged)"), "STORE")
if b"\\Flagged" not in data[0]:
    raise SystemExit("STORE %r" % data)
ok(m.copy("1", "PyArchive"), "COPY")
typ, data = m._simple_command("MOVE", "2", "PyArchive")
if typ != "OK":
    raise SystemExit("MOVE %s %r" % (typ, data))
# imaplib keeps untagged responses until read: MOVE's own EXPUNGE.
moved = m.untagged_responses.pop("EXPUNGE", None)
if moved != [b"2"]:
    raise SystemExit("MOVE expunged %r" % moved)
ok(m.store("1", "+FLAGS.SILENT", "(\\Deleted)"), "STORE Deleted")
data = ok(m.expunge(), "EXPUNGE")
if data != [b"1"]:
    raise SystemExit("EXPUNGE %r" % data)
st = ok(m.status("PyArchive", "(MESSAGES)"), "STATUS")[0]
if b"MESSAGES 2" not in st:
    raise SystemExit("STATUS %r" % st)
ok(m.close(), "CLOSE")
# IDLE, raw: m selects INBOX and idles, w appends.
ok(m.select("INBOX"), "SELECT again")
w = connect()
ok(w.login(user, pw), "watcher LOGIN")
tag = m._new_tag().decode()
m.send(("%s IDLE\r\n" % tag).encode())
line = m.readline()
if not line.startswith(b"+"):
    raise SystemExit("IDLE: %r" % line)
ok(w.append("INBOX", None, None, msg.replace(b"from python", b"during idle")), "APPEND during IDLE")
start = time.monotonic()
line = m.readline()
elapsed = time.monotonic() - start
if line != b"* 1 EXISTS\r\n":
    raise SystemExit("IDLE got %r" % line)
print("idle latency:", elapsed)
m.send(b"DONE\r\n")
while True:
    line = m.readline()
    if line.startswith(tag.encode()):
        break
if not line.startswith((tag + " OK").encode()):
    raise SystemExit("IDLE end %r" % line)
ok(m.delete("PyArchive"), "DELETE PyArchive")
if m.logout()[0] != "BYE" or w.logout()[0] != "BYE":
    raise SystemExit("LOGOUT")
print("ok")
`

// TestImaplibSessions drives real sessions with Python's imaplib over
// STARTTLS and imaps.
func TestImaplibSessions(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	modes := []struct{ name, listener string }{{"starttls", "imap"}, {"imaps", "imaps"}}
	users := make([]string, len(modes))
	for i, m := range modes {
		users[i] = "imaplib-" + m.name + "@example.com"
	}
	s := startMailSuite(t, users...)
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(s.Addr("imap-login", m.listener))
			out, err := exec.Command(python, "-c", imaplibScript, host, port, m.name, s.Cert.CertFile, users[i], userPassword(users[i])).CombinedOutput()
			t.Logf("imaplib:\n%s", out)
			if err != nil {
				t.Fatalf("python3: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if lines[len(lines)-1] != "ok" {
				t.Fatalf("imaplib did not finish")
			}
			for _, l := range lines {
				var secs float64
				if _, err := fmt.Sscanf(l, "idle latency: %g", &secs); err == nil && secs > idleLatency.Seconds() {
					t.Errorf("IDLE learned of the APPEND after %.3fs, want within %v", secs, idleLatency)
				}
			}
		})
	}
}

// TestCurlSessions drives real sessions with curl's IMAP support over
// STARTTLS (imap:// with --ssl-reqd) and imaps://, verifying the kit's
// certificate for localhost: LIST, APPEND (-T), SEARCH, FETCH by UID,
// custom requests (-X) for CREATE/RENAME/DELETE, STORE, COPY, MOVE and
// EXPUNGE, and an IDLE custom request that sees another session's APPEND.
func TestCurlSessions(t *testing.T) {
	curl := testkit.RequireTool(t, "curl", "curl")
	modes := []struct{ name, scheme, listener string }{{"starttls", "imap", "imap"}, {"imaps", "imaps", "imaps"}}
	users := make([]string, len(modes))
	for i, m := range modes {
		users[i] = "curl-" + m.name + "@example.com"
	}
	s := startMailSuite(t, users...)
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			user := users[i]
			_, port, _ := net.SplitHostPort(s.Addr("imap-login", m.listener))
			base := fmt.Sprintf("%s://localhost:%s/", m.scheme, port)
			args := func(extra ...string) []string {
				a := []string{"--silent", "--show-error", "--max-time", "15",
					"--resolve", "localhost:" + port + ":127.0.0.1", "--cacert", s.Cert.CertFile,
					"--user", user + ":" + userPassword(user)}
				if m.scheme == "imap" {
					a = append(a, "--ssl-reqd")
				}
				return append(a, extra...)
			}
			run := func(extra ...string) string {
				t.Helper()
				out, err := exec.Command(curl, args(extra...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("curl %q: %v\n%s", extra, err, out)
				}
				return string(out)
			}
			// lines returns the output's lines without CR.
			lines := func(out string) []string {
				return strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r", ""), "\n"), "\n")
			}

			msgFile := t.TempDir() + "/msg.eml"
			writeFile(t, msgFile, clientMessage("curl note"))
			run("-T", msgFile, base+"INBOX")
			run("-T", msgFile, base+"INBOX")
			run("-X", "CREATE Curl", base)
			run("-X", "RENAME Curl CurlArchive", base)
			run("-X", "CREATE CurlTmp", base)
			run("-X", "DELETE CurlTmp", base)
			list := run(base)
			for _, want := range []string{`* LIST (\HasNoChildren) "/" INBOX`, `* LIST (\HasNoChildren) "/" CurlArchive`} {
				if !slices.Contains(lines(list), want) {
					t.Errorf("LIST lacks %q:\n%s", want, list)
				}
			}
			if slices.ContainsFunc(lines(list), func(l string) bool { return strings.Contains(l, "CurlTmp") }) {
				t.Errorf("LIST still shows the deleted CurlTmp:\n%s", list)
			}
			if got := run(base + "INBOX?SUBJECT%20curl"); strings.TrimSpace(strings.ReplaceAll(got, "\r", "")) != "* SEARCH 1 2" {
				t.Errorf("SEARCH SUBJECT curl: %q", got)
			}
			if got := run(base + "INBOX;UID=2"); strings.ReplaceAll(got, "\r", "") != strings.ReplaceAll(clientMessage("curl note"), "\r", "") {
				t.Errorf("FETCH UID 2: %q", got)
			}
			if got := run("-X", `STORE 1 +FLAGS (\Flagged)`, base+"INBOX"); !strings.Contains(got, `* 1 FETCH (FLAGS (\Flagged`) {
				t.Errorf("STORE: %q", got)
			}
			run("-X", "COPY 1 CurlArchive", base+"INBOX")
			// curl shows only untagged lines named like the command, so
			// MOVE's EXPUNGE is not printed: STATUS checks both ends.
			run("-X", "MOVE 2 CurlArchive", base+"INBOX")
			if got := run("-X", "STATUS INBOX (MESSAGES)", base); !strings.Contains(got, "* STATUS INBOX (MESSAGES 1)") {
				t.Errorf("STATUS INBOX after MOVE: %q", got)
			}
			run("-X", `STORE 1 +FLAGS.SILENT (\Deleted)`, base+"INBOX")
			if got := run("-X", "EXPUNGE", base+"INBOX"); !strings.Contains(got, "* 1 EXPUNGE") {
				t.Errorf("EXPUNGE: %q", got)
			}
			if got := run("-X", "STATUS CurlArchive (MESSAGES)", base); !strings.Contains(got, "* STATUS CurlArchive (MESSAGES 2)") {
				t.Errorf("STATUS: %q", got)
			}
			run("-X", "DELETE CurlArchive", base)

			// IDLE as a custom request. curl --verbose writes every server
			// line to stderr as "< line" as soon as it arrives: the
			// continuation says IDLE runs (so the APPEND cannot land before
			// the SELECT), and the EXISTS is what IDLE must report. curl is
			// killed once it arrives.
			cmd := exec.Command(curl, args("--verbose", "-X", "IDLE", base+"INBOX")...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			got := make(chan string, 64)
			go func() {
				defer close(got)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if l, ok := strings.CutPrefix(strings.TrimRight(sc.Text(), "\r"), "< "); ok {
						got <- l
					}
				}
			}()
			waitLine := func(want func(string) bool, what string) {
				t.Helper()
				deadline := time.After(ioTimeout)
				for {
					select {
					case l, ok := <-got:
						if !ok {
							t.Fatalf("curl ended before %s", what)
						}
						if want(l) {
							return
						}
					case <-deadline:
						t.Fatalf("curl: no %s within %v", what, ioTimeout)
					}
				}
			}
			waitLine(func(l string) bool { return strings.HasPrefix(l, "+ ") }, "IDLE continuation")
			c := openMailSession(t, s, user)
			note := clientMessage("idle note")
			c.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s", len(note), note))
			if l := c.readUntil("a "); !strings.HasPrefix(l[len(l)-1], "a OK") {
				t.Fatalf("APPEND: %q", l)
			}
			appended := time.Now()
			waitLine(func(l string) bool { return l == "* 1 EXISTS" }, "EXISTS after the APPEND")
			if d := time.Since(appended); d > idleLatency {
				t.Errorf("IDLE learned of the APPEND after %v, want within %v", d, idleLatency)
			}
		})
	}
}

// openMailSession logs user in over plaintext loopback and returns the
// session's client.
func openMailSession(t *testing.T, s *testkit.Suite, user string) *client {
	t.Helper()
	c := dial(t, s.Addr("imap-login", "imap"))
	c.line()
	if _, got := c.cmd("l", fmt.Sprintf("LOGIN %s %s", user, userPassword(user))); !strings.HasPrefix(got, "l OK") {
		t.Fatalf("LOGIN %s: %q", user, got)
	}
	return c
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
