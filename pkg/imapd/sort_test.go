package imapd

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/testkit"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		name, in, want string
		reply          bool
	}{
		{"plain", "Meeting tomorrow", "MEETING TOMORROW", false},
		{"re", "Re: Meeting", "MEETING", true},
		{"re no space", "re:Meeting", "MEETING", true},
		{"nested", "Re: Fw: FWD: re:Project plan", "PROJECT PLAN", true},
		{"blob leader", "RE: [list] Re: Meeting tomorrow", "MEETING TOMORROW", true},
		{"blob in refwd", "Re[2]: Meeting", "MEETING", true},
		{"fwd trailer", "Project plan (fwd)", "PROJECT PLAN", true},
		{"trailers repeat", "Project plan (fwd) (FWD)  ", "PROJECT PLAN", true},
		{"fwd hdr", "[fwd: Project plan]", "PROJECT PLAN", true},
		{"fwd hdr nested", "Re: [fwd: Re: Lunch]", "LUNCH", true},
		{"blob removed", "[PATCH] [v2] fix thing", "FIX THING", false},
		{"only blob kept", "[only blob]", "[ONLY BLOB]", false},
		{"blob then refwd", "[a] [b] Re: x", "X", true},
		{"spaces", "   Re:   Re:  spaces\t  here  ", "SPACES HERE", true},
		{"folded", "Re: long\r\n subject", "LONG SUBJECT", true},
		{"encoded", "=?UTF-8?Q?=C3=A9t=C3=A9?=", foldString("été"), false},
		{"encoded latin1", "Re: =?ISO-8859-1?Q?=C9T=C9?=", foldString("été"), true},
		{"empty", "", "", false},
		{"only re", "Re:", "", true},
		{"refwd needs colon", "Reply to all", "REPLY TO ALL", false},
		{"fwd hdr without close", "[fwd: x", "[FWD: X", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reply := baseSubject(tc.in)
			if got != tc.want || reply != tc.reply {
				t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, got, reply, tc.want, tc.reply)
			}
		})
	}
}

// corpusDate is the internal date of corpus message i (1-based), the
// same as the Dovecot comparison gives its files.
func corpusDate(i int) time.Time { return time.Unix(1136000000+int64(i)*3600, 0).UTC() }

func readCorpus(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/sortcorpus/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	out := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// deliverCorpus saves the corpus into INBOX, UIDs 1..n in file order.
func deliverCorpus(t testing.TB, ts *testServer, msgs []string) {
	t.Helper()
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if err := sv.Append(strings.NewReader(m), storage.AppendOptions{InternalDate: corpusDate(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := sv.Commit(); err != nil {
		t.Fatal(err)
	}
}

// sortCommands are compared with Dovecot: each answers one untagged line.
var sortCommands = []string{
	"SORT (SUBJECT) UTF-8 ALL",
	"SORT (REVERSE SUBJECT) UTF-8 ALL",
	"SORT (DATE) UTF-8 ALL",
	"SORT (REVERSE DATE) UTF-8 ALL",
	"SORT (ARRIVAL) UTF-8 ALL",
	"SORT (SIZE) UTF-8 ALL",
	"SORT (REVERSE SIZE) UTF-8 ALL",
	"SORT (FROM) UTF-8 ALL",
	"SORT (TO) UTF-8 ALL",
	"SORT (CC) UTF-8 ALL",
	"SORT (DISPLAYFROM) UTF-8 ALL",
	"SORT (DISPLAYTO) UTF-8 ALL",
	"SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
	"SORT (FROM SUBJECT) US-ASCII SUBJECT lunch",
	"UID SORT (SUBJECT) UTF-8 2:20",
	"SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL",
	"SORT RETURN (COUNT) (DATE) UTF-8 FROM alice",
	"SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 1:5",
	"UID SORT RETURN (MIN MAX) (ARRIVAL) UTF-8 NOT ALL",
	"THREAD ORDEREDSUBJECT UTF-8 ALL",
	"THREAD REFERENCES UTF-8 ALL",
	"THREAD REFS UTF-8 ALL",
	"UID THREAD REFERENCES UTF-8 NOT SUBJECT lunch",
	"THREAD REFERENCES UTF-8 SUBJECT orphan",
}

// imapRunner sends one command and returns its untagged lines and its
// tagged completion.
type imapRunner struct {
	t  testing.TB
	w  io.Writer
	br *bufio.Reader
	n  int
}

func (r *imapRunner) cmd(cmd string) ([]string, string) {
	r.t.Helper()
	r.n++
	tag := "t" + strconv.Itoa(r.n)
	if _, err := io.WriteString(r.w, tag+" "+cmd+"\r\n"); err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("%s: %v (after %q)", cmd, err, out)
		}
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, tag+" ") {
			return out, l
		}
		out = append(out, l)
	}
}

// results runs the commands and keeps their SORT, THREAD and ESEARCH
// lines (tags normalised), one per command.
func (r *imapRunner) results(cmds []string) []string {
	var res []string
	for _, c := range cmds {
		lines, done := r.cmd(c)
		var got []string
		for _, l := range lines {
			if strings.HasPrefix(l, "* SORT") || strings.HasPrefix(l, "* THREAD") || strings.HasPrefix(l, "* ESEARCH") {
				if i := strings.Index(l, `(TAG "`); i >= 0 {
					j := strings.Index(l[i+6:], `"`)
					l = l[:i+6] + "T" + l[i+6+j:]
				}
				got = append(got, strings.TrimRight(l, " "))
			}
		}
		if !strings.Contains(done, " OK ") {
			got = append(got, "failed: "+done)
		}
		res = append(res, c+" => "+strings.Join(got, " | "))
	}
	return res
}

func coteResults(t *testing.T, cmds []string) []string {
	ts := newTestServer(t, Config{})
	deliverCorpus(t, ts, readCorpus(t))
	c := ts.dial(t)
	r := &imapRunner{t: t, w: c, br: bufio.NewReader(c)}
	if _, err := r.br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, done := r.cmd("EXAMINE INBOX"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
	return r.results(cmds)
}

// TestSortThreadGolden pins cote's answers on the corpus.
func TestSortThreadGolden(t *testing.T) {
	got := strings.Join(coteResults(t, sortCommands), "\n") + "\n"
	golden := "testdata/sortcorpus.golden"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("answers differ from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", golden, got)
	}
}

// TestSortThreadDovecot runs the same commands against Dovecot's imap
// process in PREAUTH mode on a Maildir of the same corpus (same UIDs and
// internal dates) and compares the answers line by line.
func TestSortThreadDovecot(t *testing.T) {
	imapBin := testkit.RequireTool(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	if os.Getuid() != 0 {
		t.Skip("Dovecot's imap needs root to switch to an unprivileged user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	grp, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Skip("no group of nobody")
	}

	dir := t.TempDir()
	// Dovecot runs as nobody: the temp dirs must be traversable.
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	msgs := readCorpus(t)
	var uidlist strings.Builder
	uidlist.WriteString("3 V1136000000 N" + strconv.Itoa(len(msgs)+1) + "\n")
	for i, m := range msgs {
		base := strconv.Itoa(1000000+i+1) + ".m" + strconv.Itoa(i+1) + ".host"
		p := filepath.Join(md, "cur", base+":2,")
		if err := os.WriteFile(p, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, corpusDate(i+1), corpusDate(i+1)); err != nil {
			t.Fatal(err)
		}
		uidlist.WriteString(strconv.Itoa(i+1) + " :" + base + "\n")
	}
	if err := os.WriteFile(filepath.Join(md, "dovecot-uidlist"), []byte(uidlist.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(imapBin, "-o", "mail_location=maildir:"+md, "-o", "mail_uid="+nobody.Username,
		"-o", "mail_gid="+grp.Name, "-o", "first_valid_uid=0", "-o", "first_valid_gid=0")
	cmd.Env = []string{"HOME=" + dir, "USER=" + nobody.Username, "TZ=UTC"}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		_ = cmd.Wait()
	}()
	r := &imapRunner{t: t, w: in, br: bufio.NewReader(out)}
	if l, err := r.br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* PREAUTH") {
		t.Fatalf("dovecot greeting %q, %v; stderr %s", l, err, stderr.String())
	}
	if _, done := r.cmd("EXAMINE INBOX"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
	want := r.results(sortCommands)
	got := coteResults(t, sortCommands)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("\n cote:    %s\n dovecot: %s", got[i], want[i])
		}
	}
}
