package imapd

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCondStoreQResync walks RFC 7162's commands on three messages
// (modseqs 1-3 after delivery, UIDs 1-3), after the RFC's examples:
// §3.1.2.1 SELECT (CONDSTORE), §3.1.3 STORE (UNCHANGEDSINCE) with
// MODIFIED, §3.1.4.1 FETCH (CHANGEDSINCE), §3.1.5 SEARCH MODSEQ, §3.1.2.2
// STATUS HIGHESTMODSEQ, §3.2.3 ENABLE QRESYNC, §3.2.5 SELECT (QRESYNC),
// §3.2.6 UID FETCH (VANISHED), §3.2.10 VANISHED and §3.2.11 [CLOSED].
// want lists substrings some untagged line must hold; not, substrings no
// line may hold. "UV" in a command is the mailbox's UIDVALIDITY.
func TestCondStoreQResync(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1, msg2, msg1)
	r := rawSession(t, ts)
	uv := ""
	steps := []struct {
		name, cmd string
		want, not []string
		done      string
	}{
		{"capability", "CAPABILITY", []string{" CONDSTORE ", " QRESYNC"}, nil, "OK"},
		{"qresync not enabled", "SELECT INBOX (QRESYNC (1 1))", nil, nil, "BAD"},
		{"select condstore", "SELECT INBOX (CONDSTORE)", []string{"* OK [HIGHESTMODSEQ 3] Highest"}, nil, "OK [READ-WRITE]"},
		{"store", `STORE 1 +FLAGS (\Seen)`, []string{`* 1 FETCH (FLAGS (\Seen \Recent) MODSEQ (4))`}, nil, "OK Store"},
		{"unchangedsince", `STORE 1:3 (UNCHANGEDSINCE 3) +FLAGS (\Flagged)`,
			[]string{`* 2 FETCH (FLAGS (\Flagged \Recent) MODSEQ (5))`, `* 3 FETCH (FLAGS (\Flagged \Recent) MODSEQ (6))`},
			[]string{"* 1 FETCH"}, "OK [MODIFIED 1]"},
		{"unchangedsince 0", `UID STORE 2 (UNCHANGEDSINCE 0) +FLAGS (\Draft)`, nil, []string{"FETCH"}, "OK [MODIFIED 2]"},
		{"changedsince", `FETCH 1:* (FLAGS) (CHANGEDSINCE 4)`,
			[]string{`* 2 FETCH (FLAGS (\Flagged \Recent) MODSEQ (5))`, `* 3 FETCH (FLAGS (\Flagged \Recent) MODSEQ (6))`},
			[]string{"* 1 FETCH"}, "OK"},
		{"changedsince implies modseq", `FETCH 1:* (UID) (CHANGEDSINCE 5)`, []string{`* 3 FETCH (UID 3 MODSEQ (6))`}, []string{"* 2 FETCH"}, "OK"},
		{"modseq item", `FETCH 2 (MODSEQ)`, []string{`* 2 FETCH (MODSEQ (5))`}, nil, "OK"},
		// As in Dovecot, a solicited FETCH FLAGS carries no MODSEQ.
		{"fetch flags plain", `FETCH 1 (FLAGS)`, []string{`* 1 FETCH (FLAGS (\Seen \Recent))`}, []string{"MODSEQ"}, "OK"},
		{"search modseq entry", `SEARCH MODSEQ "/flags/\\draft" all 5`, []string{`* SEARCH 2 3 (MODSEQ 6)`}, nil, "OK"},
		{"esearch modseq", `SEARCH RETURN (COUNT) MODSEQ 6`, []string{` COUNT 1 MODSEQ 6`}, nil, "OK"},
		{"esearch min", `UID SEARCH RETURN (MIN) MODSEQ 4`, []string{` UID MIN 1 MODSEQ 4`}, nil, "OK"},
		{"search no match", `SEARCH MODSEQ 100`, []string{`* SEARCH`}, []string{"(MODSEQ"}, "OK"},
		{"status", `STATUS INBOX (HIGHESTMODSEQ MESSAGES)`, []string{`* STATUS INBOX (HIGHESTMODSEQ 6 MESSAGES 3)`}, nil, "OK"},
		{"enable qresync", `ENABLE QRESYNC`, []string{`* ENABLED QRESYNC`}, nil, "OK"},
		{"store silent", `STORE 3 +FLAGS.SILENT (\Deleted)`, []string{`* 3 FETCH (UID 3 MODSEQ (7))`}, []string{"FLAGS ("}, "OK"},
		{"expunge vanished", `EXPUNGE`, []string{`* VANISHED 3`}, []string{"EXPUNGE"}, "OK"},
		{"vanished needs uid", `FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)`, nil, nil, "BAD"},
		{"vanished needs changedsince", `UID FETCH 1 (FLAGS) (VANISHED)`, nil, nil, "BAD"},
		{"uid fetch vanished", `UID FETCH 1:10 (FLAGS) (CHANGEDSINCE 3 VANISHED)`,
			[]string{`* VANISHED (EARLIER) 3`, `* 1 FETCH (UID 1 FLAGS (\Seen \Recent) MODSEQ (4))`, `* 2 FETCH (UID 2 FLAGS (\Flagged \Recent) MODSEQ (5))`},
			nil, "OK"},
		{"uid fetch vanished outside set", `UID FETCH 1:2 (FLAGS) (CHANGEDSINCE 3 VANISHED)`, nil, []string{"VANISHED"}, "OK"},
		{"qresync select", `SELECT INBOX (QRESYNC (UV 3 1:3))`,
			[]string{`* OK [CLOSED]`, `* OK [HIGHESTMODSEQ 8] Highest`, `* VANISHED (EARLIER) 3`, `* 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (4))`, `* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (5))`},
			nil, "OK [READ-WRITE]"},
		{"qresync known uids", `EXAMINE INBOX (QRESYNC (UV 4 2))`,
			[]string{`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (5))`}, []string{"VANISHED", "* 1 FETCH"}, "OK [READ-ONLY]"},
		// Modseq 1 is below every record the index keeps: it cannot
		// vouch for its expunges, so every missing known UID is
		// reported, from above the last sequence match that holds.
		{"qresync seq match", `EXAMINE INBOX (QRESYNC (UV 1 1:5 (1:2 1:2)))`, []string{`* VANISHED (EARLIER) 3`}, nil, "OK"},
		{"qresync uidvalidity changed", `SELECT INBOX (QRESYNC (1 1))`, []string{`* OK [HIGHESTMODSEQ 8]`}, []string{"VANISHED", "FETCH"}, "OK"},
		// \Seen set by FETCH: the flags it reports carry the new modseq.
		{"implicit seen", `FETCH 2 (BODY[TEXT])`, []string{`FLAGS (\Flagged \Seen) MODSEQ (9))`}, nil, "OK"},
	}
	uvRe := regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	for _, st := range steps {
		lines, done := r.cmd(strings.ReplaceAll(st.cmd, "UV", uv))
		for _, l := range lines {
			if m := uvRe.FindStringSubmatch(l); m != nil {
				uv = m[1]
			}
		}
		if !strings.Contains(done, " "+st.done) {
			t.Errorf("%s: done %q, want %q (untagged %q)", st.name, done, st.done, lines)
		}
		all := strings.Join(lines, "\n") + "\n"
		for _, w := range st.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: untagged %q lack %q", st.name, lines, w)
			}
		}
		for _, n := range st.not {
			if strings.Contains(all, n) {
				t.Errorf("%s: untagged %q hold %q", st.name, lines, n)
			}
		}
	}
}

// TestQResyncIdle: with QRESYNC enabled, an expunge by another session
// reaches an idling client as VANISHED, flag changes with MODSEQ, and
// MOVE answers VANISHED too.
func TestQResyncIdle(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1, msg2, msg1)
	a, b := rawSession(t, ts), rawSession(t, ts)
	a.cmd("ENABLE QRESYNC")
	a.cmd("SELECT INBOX")
	b.cmd("SELECT INBOX")
	if _, err := io.WriteString(a.w, "idle IDLE\r\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := a.br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q, %v", l, err)
	}
	b.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.cmd(`STORE 1 +FLAGS.SILENT (\Flagged)`)
	b.cmd("EXPUNGE")
	var got []string
	for !strings.Contains(strings.Join(got, "\n"), "VANISHED") || !strings.Contains(strings.Join(got, "\n"), "FETCH") {
		l, err := a.br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, strings.TrimRight(l, "\r\n"))
	}
	io.WriteString(a.w, "DONE\r\n")
	for {
		l, err := a.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "idle ") {
			break
		}
		got = append(got, strings.TrimRight(l, "\r\n"))
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "* VANISHED 2") || !strings.Contains(all, `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent) MODSEQ (`) || strings.Contains(all, "EXPUNGE") {
		t.Errorf("idle got %q", got)
	}
	lines, done := a.cmd("MOVE 1 Trash")
	if !strings.Contains(done, " OK") || !contains(lines, "* VANISHED 1") {
		t.Errorf("move: %q %q", lines, done)
	}
}

// TestWithinSaveDate: RFC 5032 OLDER/YOUNGER against internal dates and
// RFC 8514 SAVEDATE (FETCH and the SAVED* keys) against save dates, which
// are the delivery time here while the internal dates are in 2006.
func TestWithinSaveDate(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	r := rawSession(t, ts)
	today := time.Now().Format("2-Jan-2006")
	steps := []struct{ cmd, want string }{
		{"CAPABILITY", " WITHIN SAVEDATE"},
		{"SELECT INBOX", ""},
		{"SEARCH YOUNGER 3600", "* SEARCH\n"},
		{"SEARCH OLDER 3600", "* SEARCH 1 2\n"},
		{"SEARCH YOUNGER 4000000000", "* SEARCH 1 2\n"},
		{"SEARCH SAVEDON " + today, "* SEARCH 1 2\n"},
		{"SEARCH SAVEDBEFORE " + today, "* SEARCH\n"},
		{"SEARCH SAVEDSINCE 1-Jan-2020 SAVEDATESUPPORTED", "* SEARCH 1 2\n"},
		{"SEARCH ON 2-Jan-2006", "* SEARCH 1\n"},
		{"FETCH 1 (SAVEDATE INTERNALDATE)", `* 1 FETCH (SAVEDATE "` + time.Now().Format("02-Jan-2006")},
		{"FETCH 1 (EMAILID THREADID)", "THREADID NIL)"},
		{"SEARCH OLDER 0", "BAD"},
	}
	for _, st := range steps {
		lines, done := r.cmd(st.cmd)
		all := strings.Join(lines, "\n") + "\n" + done
		if !strings.Contains(all, st.want) {
			t.Errorf("%s: got %q, want %q", st.cmd, all, st.want)
		}
	}
}
