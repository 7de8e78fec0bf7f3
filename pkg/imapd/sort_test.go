package imapd

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
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
	peer := newDovecotPeer(t, readCorpus(t), corpusDate, "")
	in, br, _ := peer.session()
	r := &imapRunner{t: t, w: in, br: br}
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

// TestSortCachesFields: the sort fields SORT computes are in the store's
// cache once the command has answered (stored in one batch), so the next
// SORT reads neither the files nor the header records again.
func TestSortCachesFields(t *testing.T) {
	ts := newTestServer(t, Config{})
	msgs := readCorpus(t)
	deliverCorpus(t, ts, msgs)
	c := ts.dial(t)
	r := &imapRunner{t: t, w: c, br: bufio.NewReader(c)}
	if _, err := r.br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, done := r.cmd("SELECT INBOX"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
	if _, done := r.cmd("SORT (SUBJECT) UTF-8 ALL"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
	mb, done := ts.examine(t, "INBOX")
	defer done()
	for uid := uint32(1); uid <= uint32(len(msgs)); uid++ {
		if _, ok := mb.Cache(uid, cacheSortHeaders); !ok {
			t.Errorf("UID %d: no sort fields cached after SORT", uid)
		}
	}
}
