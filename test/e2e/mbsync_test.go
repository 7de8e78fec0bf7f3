package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestMbsync synchronises a local Maildir with the real suite through
// isync's mbsync, an independent client (UIDPLUS, CREATE, flag and
// deletion propagation, APPEND of local mail), over imaps and STARTTLS
// with the kit's certificate verified: a first run copies the server's
// folders down; local changes (a message read, one deleted, one written,
// a new folder) and server changes (a delivery, a flag) made meanwhile
// are exchanged by the second run so both sides hold the same state; a
// third run finds nothing to do and duplicates nothing.
func TestMbsync(t *testing.T) {
	mbsync := testkit.RequireTool(t, "mbsync", "isync")
	modes := []struct{ name, listener, ssl string }{{"imaps", "imaps", "IMAPS"}, {"starttls", "imap", "STARTTLS"}}
	users := make([]string, len(modes))
	for i, m := range modes {
		users[i] = "mbsync-" + m.name + "@example.com"
	}
	s := startMailSuite(t, users...)
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			user := users[i]
			srv := openMailSession(t, s, user)
			appendMsg := func(box, subject, flags string) {
				t.Helper()
				msg := clientMessage(subject)
				srv.send(fmt.Sprintf("a APPEND %s (%s) {%d+}\r\n%s", box, flags, len(msg), msg))
				if l := srv.readUntil("a "); !strings.HasPrefix(l[len(l)-1], "a OK") {
					t.Fatalf("APPEND %s: %q", subject, l)
				}
			}
			if _, got := srv.cmd("c", "CREATE Work"); !strings.HasPrefix(got, "c OK") {
				t.Fatalf("CREATE: %q", got)
			}
			appendMsg("INBOX", "one", "")
			appendMsg("INBOX", "two", `\Seen`)
			appendMsg("INBOX", "three", "")
			appendMsg("Work", "plan", `\Flagged`)

			dir := t.TempDir()
			local := filepath.Join(dir, "mail")
			if err := os.Mkdir(local, 0o700); err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(s.Addr("imap-login", m.listener))
			rc := filepath.Join(dir, "mbsyncrc")
			writeFile(t, rc, fmt.Sprintf(`IMAPAccount cote
Host localhost
Port %s
User %s
Pass %s
SSLType %s
CertificateFile %s
AuthMechs LOGIN

IMAPStore far
Account cote

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel all
Far :far:
Near :near:
Patterns *
Create Both
Remove Both
Expunge Both
SyncState *
`, port, user, userPassword(user), m.ssl, s.Cert.CertFile, local, local))
			run := func(what string) {
				t.Helper()
				out, err := exec.Command(mbsync, "-c", rc, "-a").CombinedOutput()
				if err != nil {
					t.Fatalf("mbsync (%s): %v\n%s", what, err, out)
				}
			}

			run("first")
			if got := localSubjects(t, filepath.Join(local, "INBOX")); !slices.Equal(got, []string{"one", "three", "two:S"}) {
				t.Fatalf("local INBOX after the first run: %q", got)
			}
			if got := localSubjects(t, filepath.Join(local, "Work")); !slices.Equal(got, []string{"plan:F"}) {
				t.Fatalf("local Work after the first run: %q", got)
			}

			// Local changes: "one" read, "three" deleted, a message
			// written into INBOX and a new folder with one message.
			inbox := filepath.Join(local, "INBOX")
			for _, f := range localFiles(t, inbox) {
				switch subjectOf(t, f) {
				case "one":
					if err := os.Rename(f, maildirWithFlags(f, "S")); err != nil {
						t.Fatal(err)
					}
				case "three":
					if err := os.Remove(f); err != nil {
						t.Fatal(err)
					}
				}
			}
			writeFile(t, filepath.Join(inbox, "new", "1700000000.local1.host"), clientMessage("written locally"))
			for _, sub := range []string{"cur", "new", "tmp"} {
				if err := os.MkdirAll(filepath.Join(local, "Local", sub), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			writeFile(t, filepath.Join(local, "Local", "new", "1700000001.local2.host"), clientMessage("kept locally"))
			// Server changes meanwhile: a delivery and a flag.
			appendMsg("INBOX", "delivered", "")
			if _, got := srv.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
				t.Fatalf("SELECT: %q", got)
			}
			if _, got := srv.cmd("f", `UID STORE 2 +FLAGS (\Flagged)`); !strings.HasPrefix(got, "f OK") {
				t.Fatalf("STORE: %q", got)
			}
			srv.cmd("u", "UNSELECT")

			run("second")
			wantInbox := []string{"delivered", "one:S", "two:FS", "written locally"}
			if got := localSubjects(t, inbox); !slices.Equal(got, wantInbox) {
				t.Errorf("local INBOX after the second run: %q, want %q", got, wantInbox)
			}
			if got := serverSubjects(t, srv, "INBOX"); !slices.Equal(got, wantInbox) {
				t.Errorf("server INBOX after the second run: %q, want %q", got, wantInbox)
			}
			if got := serverSubjects(t, srv, "Local"); !slices.Equal(got, []string{"kept locally"}) {
				t.Errorf("server Local after the second run: %q", got)
			}

			run("third")
			if got := serverSubjects(t, srv, "INBOX"); !slices.Equal(got, wantInbox) {
				t.Errorf("server INBOX after a run with nothing to do: %q, want %q", got, wantInbox)
			}
			if got := localSubjects(t, inbox); !slices.Equal(got, wantInbox) {
				t.Errorf("local INBOX after a run with nothing to do: %q, want %q", got, wantInbox)
			}
			srv.cmd("z", "LOGOUT")
		})
	}
}

// localFiles lists the messages of the Maildir dir.
func localFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"cur", "new"} {
		es, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}

var subjectRE = regexp.MustCompile(`(?m)^Subject: (.*?)\r?$`)

func subjectOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := subjectRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no Subject", path)
	}
	return string(m[1])
}

// maildirFlags returns the flag letters of a Maildir file name.
func maildirFlags(path string) string {
	if _, info, ok := strings.Cut(filepath.Base(path), ":2,"); ok {
		return info
	}
	return ""
}

// maildirWithFlags moves path to cur/ with the flags letters added.
func maildirWithFlags(path, add string) string {
	base := filepath.Base(path)
	name, info, _ := strings.Cut(base, ":2,")
	letters := []byte(info + add)
	slices.Sort(letters)
	return filepath.Join(filepath.Dir(filepath.Dir(path)), "cur", name+":2,"+string(slices.Compact(letters)))
}

// localSubjects is the sorted "subject" or "subject:FLAGS" list of the
// Maildir dir (Maildir flag letters, mbsync's T for deleted excluded).
func localSubjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range localFiles(t, dir) {
		flags := strings.ReplaceAll(maildirFlags(f), "T", "")
		if strings.Contains(maildirFlags(f), "T") {
			continue // marked deleted, to be expunged
		}
		e := subjectOf(t, f)
		if flags != "" {
			e += ":" + flags
		}
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// serverSubjects is the same list for mailbox box of the server, its
// \Seen and \Flagged flags as Maildir letters.
func serverSubjects(t *testing.T, c *client, box string) []string {
	t.Helper()
	if _, got := c.cmd("x", "EXAMINE "+box); !strings.HasPrefix(got, "x OK") {
		t.Fatalf("EXAMINE %s: %q", box, got)
	}
	lines, got := c.cmd("y", "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(got, "y OK") {
		t.Fatalf("FETCH %s: %q", box, got)
	}
	var out []string
	flags := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.Contains(l, "FETCH (") {
			flags = ""
			if strings.Contains(l, `\Flagged`) {
				flags += "F"
			}
			if strings.Contains(l, `\Seen`) {
				flags += "S"
			}
			if strings.Contains(l, `\Deleted`) {
				flags += "T"
			}
		}
		if subj, ok := strings.CutPrefix(l, "Subject: "); ok {
			if flags != "" {
				subj += ":" + flags
			}
			out = append(out, subj)
		}
	}
	c.cmd("w", "UNSELECT")
	slices.Sort(out)
	return out
}
