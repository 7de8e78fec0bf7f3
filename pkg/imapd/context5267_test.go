package imapd

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/imap"
)

func TestPartialWindow(t *testing.T) {
	nums := []uint32{5, 6, 7, 9}
	tests := []struct {
		name   string
		lo, hi uint32
		want   []uint32
	}{
		{"inside", 2, 3, []uint32{6, 7}},
		{"whole", 1, 4, nums},
		{"past the end", 3, 10, []uint32{7, 9}},
		{"beyond", 5, 10, nil},
		{"max", 1, 4294967295, nums},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := partialWindow(nums, imap.PartialRange{Lo: tc.lo, Hi: tc.hi})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

// ctxModel is a client's copy of one context's result, kept only from
// the ESEARCH responses (RFC 5267 §4.3.3-4.3.4), as UIDs in the
// requested order.
type ctxModel struct {
	tag    string
	sorted bool
	list   []uint32
}

// expandSet lists a sequence-set in its written order (ranges
// ascending, RFC 5267 §3.2).
func expandSet(t *testing.T, set string) []uint32 {
	t.Helper()
	var out []uint32
	for _, part := range strings.Split(set, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, err1 := strconv.ParseUint(a, 10, 32)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.ParseUint(b, 10, 32)
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("bad set %q", set)
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		for n := lo; n <= hi; n++ {
			out = append(out, uint32(n))
		}
	}
	return out
}

// apply reads the REMOVEFROM and ADDTO items of one ESEARCH line.
func (m *ctxModel) apply(t *testing.T, line string) {
	t.Helper()
	prefix := `* ESEARCH (TAG "` + m.tag + `") UID `
	if !strings.HasPrefix(line, prefix) {
		return
	}
	rest := line[len(prefix):]
	for rest != "" {
		name, after, _ := strings.Cut(rest, " (")
		body, tail, ok := strings.Cut(after, ")")
		if !ok {
			t.Fatalf("bad update %q", line)
		}
		rest = strings.TrimPrefix(tail, " ")
		f := strings.Fields(body)
		for i := 0; i+1 < len(f); i += 2 {
			pos, _ := strconv.Atoi(f[i])
			uids := expandSet(t, f[i+1])
			if !m.sorted && pos != 0 {
				t.Fatalf("SEARCH update with position %d: %q", pos, line)
			}
			switch name {
			case "REMOVEFROM":
				for _, u := range uids {
					if pos == 0 {
						i := slices.Index(m.list, u)
						if i < 0 {
							t.Fatalf("REMOVEFROM of %d not in %v: %q", u, m.list, line)
						}
						m.list = slices.Delete(m.list, i, i+1)
						continue
					}
					if pos > len(m.list) || m.list[pos-1] != u {
						t.Fatalf("REMOVEFROM %d at %d, list %v: %q", u, pos, m.list, line)
					}
					m.list = slices.Delete(m.list, pos-1, pos)
				}
			case "ADDTO":
				for j, u := range uids {
					if pos == 0 {
						m.list = append(m.list, u)
						slices.Sort(m.list)
						continue
					}
					m.list = slices.Insert(m.list, pos-1+j, u)
				}
			default:
				t.Fatalf("unexpected item %q in %q", name, line)
			}
		}
	}
}

// TestContextTwoSessions: session A holds UPDATE contexts (UID SEARCH,
// SEARCH by number, UID SORT with several keys); session B APPENDs,
// STOREs and EXPUNGEs. After each change A's copies, kept only from the
// updates, must equal a fresh search or sort; REMOVEFROM precedes the
// EXPUNGE responses, ADDTO follows EXISTS; IDLE receives updates.
func TestContextTwoSessions(t *testing.T) {
	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	ts.deliver(t, "INBOX", testDate, msg1, msg2, msg1, msg2)
	open := func() *lineConn {
		c := ts.dial(t)
		l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
		l.until("* PREAUTH")
		l.send("s SELECT INBOX")
		l.until("s OK")
		return l
	}
	a, b := open(), open()

	type ctxDef struct {
		tag, cmd, check string // check: the command that lists the result now
		sorted          bool
	}
	defs := []ctxDef{
		{"U1", "UID SEARCH RETURN (UPDATE) UNSEEN UNDELETED", "UID SEARCH RETURN (ALL) UNSEEN UNDELETED", false},
		{"U2", "UID SORT RETURN (UPDATE) (SUBJECT REVERSE ARRIVAL) UTF-8 UNDELETED", "UID SORT RETURN (ALL) (SUBJECT REVERSE ARRIVAL) UTF-8 UNDELETED", true},
		{"U3", "UID SORT RETURN (UPDATE) (REVERSE SIZE) UTF-8 OR FLAGGED KEYWORD $x", "UID SORT RETURN (ALL) (REVERSE SIZE) UTF-8 OR FLAGGED KEYWORD $x", true},
	}
	fresh := func(d ctxDef) []uint32 {
		a.send("chk " + d.check)
		var list []uint32
		for _, l := range a.until("chk ") {
			if _, set, ok := strings.Cut(l, " UID ALL "); ok && strings.HasPrefix(l, `* ESEARCH (TAG "chk")`) {
				list = expandSet(t, set)
			}
		}
		return list
	}
	var models []*ctxModel
	for _, d := range defs {
		a.send(d.tag + " " + d.cmd)
		a.until(d.tag + " OK")
		models = append(models, &ctxModel{tag: d.tag, sorted: d.sorted, list: fresh(d)})
	}
	a.send(`S1 SEARCH RETURN (UPDATE COUNT) UNSEEN`)
	if got := a.until("S1 OK"); !contains(got, `* ESEARCH (TAG "S1") COUNT 4`) {
		t.Fatalf("S1: %q", got)
	}
	check := func(step string, lines []string) {
		t.Helper()
		for _, m := range models {
			for _, l := range lines {
				m.apply(t, l)
			}
		}
		for i, d := range defs {
			if want := fresh(d); !slices.Equal(models[i].list, want) {
				t.Fatalf("%s: context %s is %v, a fresh search gives %v (lines %q)", step, d.tag, models[i].list, want, lines)
			}
		}
	}
	check("start", nil)

	steps := []struct {
		name string
		cmds []string
	}{
		{"flag", []string{`UID STORE 2 +FLAGS (\Seen \Flagged)`}},
		{"keyword", []string{`UID STORE 1,3 +FLAGS ($x)`, `UID STORE 3 -FLAGS ($x)`}},
		{"append", []string{"APPEND INBOX (\\Flagged) {5+}\r\nx: y\r\n", "APPEND INBOX {" + strconv.Itoa(len(msg1)) + "+}\r\n" + msg1}},
		{"delete", []string{`UID STORE 1,5 +FLAGS (\Deleted)`}},
		{"expunge", []string{`EXPUNGE`}},
		{"undelete and seen", []string{`UID STORE 2:* -FLAGS (\Deleted \Seen \Flagged)`}},
	}
	for i, st := range steps {
		for j, c := range st.cmds {
			tag := fmt.Sprintf("b%d.%d", i, j)
			b.send(tag + " " + c)
			b.until(tag + " ")
		}
		tag := fmt.Sprintf("n%d", i)
		a.send(tag + " NOOP")
		lines := a.until(tag + " OK")
		if st.name == "expunge" {
			// REMOVEFROM before the EXPUNGE responses (§4.3.4).
			firstExp, lastUpd := -1, -1
			for k, l := range lines {
				if strings.HasSuffix(l, " EXPUNGE") && firstExp < 0 {
					firstExp = k
				}
				if strings.HasPrefix(l, "* ESEARCH") {
					lastUpd = k
				}
			}
			if firstExp < 0 || lastUpd < 0 || lastUpd > firstExp {
				t.Fatalf("expunge: %q", lines)
			}
			if !contains(lines, `* ESEARCH (TAG "S1") REMOVEFROM (0 1,5)`) {
				t.Fatalf("S1 by sequence number before the expunge: %q", lines)
			}
		}
		if st.name == "append" {
			// ADDTO after EXISTS (§4.3.3).
			ex := slices.Index(lines, "* 6 EXISTS")
			for k, l := range lines {
				if strings.HasPrefix(l, "* ESEARCH") && (ex < 0 || k < ex) {
					t.Fatalf("append: %q", lines)
				}
			}
		}
		check(st.name, lines)
	}

	// IDLE receives the updates of B's change.
	a.send("i1 IDLE")
	a.until("+ idling")
	b.send(`b9 UID STORE 2 +FLAGS (\Seen)`)
	b.until("b9 OK")
	got := a.until(`* ESEARCH (TAG "U1")`)
	models[0].apply(t, got[len(got)-1])
	a.send("DONE")
	rest := a.until("i1 OK")
	check("idle", rest)
}

// TestContextLimits: beyond maxUpdateContexts (and maxSortUpdateContexts
// for SORT) UPDATE is refused with NOUPDATE while the rest of the
// command is answered (RFC 5267 §4.3.1).
func TestContextLimits(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	c := ts.dial(t)
	l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
	l.until("* PREAUTH")
	l.send("s SELECT INBOX")
	l.until("s OK")
	for i := range maxSortUpdateContexts {
		tag := "o" + strconv.Itoa(i)
		l.send(tag + " UID SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL")
		if got := l.until(tag + " "); !contains(got, tag+" OK Sort completed.") || len(got) != 2 {
			t.Fatalf("sort context %d: %q", i, got)
		}
	}
	l.send("B02 UID SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL")
	want := []string{`* ESEARCH (TAG "B02") UID COUNT 2`, `* NO [NOUPDATE "B02"] Too many update contexts.`, "B02 OK Sort completed."}
	if got := l.until("B02 "); !slices.Equal(got, want) {
		t.Fatalf("sort beyond the limit: %q", got)
	}
	for i := maxSortUpdateContexts; i < maxUpdateContexts; i++ {
		tag := "o" + strconv.Itoa(i)
		l.send(tag + " SEARCH RETURN (UPDATE) ALL")
		l.until(tag + " OK")
	}
	l.send("S1 SEARCH RETURN (UPDATE MIN) ALL")
	want = []string{`* ESEARCH (TAG "S1") MIN 1`, `* NO [NOUPDATE "S1"] Too many update contexts.`, "S1 OK Search completed."}
	if got := l.until("S1 "); !slices.Equal(got, want) {
		t.Fatalf("search beyond the limit: %q", got)
	}
	// A refused context did not take its tag; a cancelled one frees room.
	l.send(`c1 CANCELUPDATE "S1"`)
	if got := l.until("c1 "); got[0] != "c1 NO Unknown tag." {
		t.Fatalf("cancel of a refused context: %q", got)
	}
	l.send(`c2 CANCELUPDATE "o0"`)
	l.until("c2 OK")
	l.send("S1 SEARCH RETURN (UPDATE MIN) ALL")
	if got := l.until("S1 "); len(got) != 2 {
		t.Fatalf("after a cancel: %q", got)
	}
}

// TestContextUpdateFetch: RFC 5465 §7, UPDATE (fetch-att) sends the
// attributes of new messages entering the result before the ESEARCH
// response, and none for a message that enters by a flag change.
func TestContextUpdateFetch(t *testing.T) {
	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	c := ts.dial(t)
	l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
	l.until("* PREAUTH")
	l.send("s SELECT INBOX")
	l.until("s OK")
	l.send("a00 SEARCH RETURN (COUNT UPDATE (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])) FROM alice")
	if got := l.until("a00 OK"); !contains(got, `* ESEARCH (TAG "a00") COUNT 1`) {
		t.Fatalf("a00: %q", got)
	}
	l.send("a01 UID SEARCH RETURN (UPDATE (FLAGS)) UNSEEN")
	l.until("a01 OK")
	l.send("b1 UID STORE 1 +FLAGS (\\Seen)")
	if got := l.until("b1 OK"); !contains(got, `* ESEARCH (TAG "a01") UID REMOVEFROM (0 1)`) {
		t.Fatalf("b1: %q", got)
	}
	l.send("b2 UID STORE 1 -FLAGS.SILENT (\\Seen)")
	if got := l.until("b2 OK"); !contains(got, `* ESEARCH (TAG "a01") UID ADDTO (0 1)`) || strings.Contains(strings.Join(got, "\n"), "FETCH") {
		t.Fatalf("b2: %q", got)
	}
	ts.deliver(t, "INBOX", testDate, msg1)
	l.send("n1 NOOP")
	got := l.until("n1 OK")
	want := []string{
		"* 3 EXISTS", "* 3 RECENT",
		"* 3 FETCH (UID 3 BODY[HEADER.FIELDS (SUBJECT)] {18}", "Subject: hello", "", ")",
		`* ESEARCH (TAG "a00") ADDTO (0 3)`,
		`* 3 FETCH (UID 3 FLAGS (\Recent))`,
		`* ESEARCH (TAG "a01") UID ADDTO (0 3)`,
		"n1 OK Noop completed.",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivery:\n got %q\nwant %q", got, want)
	}
}

// contextScenario is run by TestContextDovecot against cote and Dovecot:
// session A's commands, with B's changes made between them ("B:" lines,
// run by a second session to completion).
var contextScenario = []string{
	"SEARCH RETURN (PARTIAL 2:3) ALL",
	"SEARCH RETURN (PARTIAL 3:2) ALL",
	"UID SEARCH RETURN (PARTIAL 4:10 COUNT) ALL",
	"SEARCH RETURN (PARTIAL 10:20) ALL",
	"SEARCH RETURN (PARTIAL 0:2) ALL",
	"SEARCH RETURN (PARTIAL 1:2 ALL) ALL",
	"SEARCH RETURN (PARTIAL 1:4294967295 MIN) ALL",
	"SEARCH RETURN (CONTEXT) ALL",
	"SEARCH RETURN (CONTEXT COUNT) UNSEEN",
	"UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL",
	"SEARCH RETURN (UPDATE COUNT) UNSEEN",
	"SEARCH RETURN (UPDATE) ALL",
	"SEARCH RETURN (UPDATE (UID)) NOT DELETED",
	"UID SEARCH RETURN (SAVE UPDATE) 2:3",
	"UID SEARCH RETURN (UPDATE PARTIAL 1:2) UNSEEN",
	`B:STORE 2 +FLAGS (\Seen)`,
	"B:APPEND INBOX {5+}\r\nx: y\r\n",
	"NOOP",
	`B:STORE 1:2,6 +FLAGS (\Deleted)`,
	"B:EXPUNGE",
	"NOOP",
	`CANCELUPDATE "t12"`,
	`CANCELUPDATE "t12"`,
	`UID STORE 3 +FLAGS (\Seen)`,
	`UID STORE 3 -FLAGS (\Seen)`,
	`STORE 1 +FLAGS.SILENT (\Seen)`,
	`STORE 1 -FLAGS.SILENT (\Seen)`,
	// Another session's flag change: Dovecot reports it (FETCH, then
	// ESEARCH) even during a command by sequence number, cote with the
	// next command that syncs; NOOP is both.
	`B:UID STORE 4 +FLAGS (\Seen)`,
	"NOOP",
	`FETCH 1 (FLAGS)`,
	`STORE 1 +FLAGS.SILENT (\Seen)`,
	"NOOP",
}

// contextLines keeps what the comparison looks at: the ESEARCH lines
// and the EXISTS and EXPUNGE ones they must be ordered with, and the
// status of the tagged response (texts and FETCH details differ).
func contextLines(out []string, done string) string {
	var keep []string
	for _, l := range out {
		f := strings.Fields(l)
		if strings.HasPrefix(l, "* ESEARCH") || strings.HasPrefix(l, "* NO") || (len(f) == 3 && (f[2] == "EXISTS" || f[2] == "EXPUNGE")) {
			keep = append(keep, l)
		}
	}
	f := strings.Fields(done)
	if len(f) > 1 {
		keep = append(keep, f[1])
	}
	return strings.Join(keep, " | ")
}

// TestContextDovecot runs contextScenario against Dovecot's imap process
// in PREAUTH mode (two processes on one Maildir) and against cote, and
// compares the updates.
func TestContextDovecot(t *testing.T) {
	msgs := []string{msg1, msg2, msg1, msg2, msg1}
	peer := newDovecotPeer(t, msgs, nil, "")
	// Dovecot: A is a long-running process, B a script per change.
	in, br, _ := peer.session()
	dv := &imapRunner{t: t, w: in, br: br}
	dvB := func(c string) {
		b := peer.command(strings.NewReader("b1 SELECT INBOX\r\nb2 " + c + "\r\nb3 LOGOUT\r\n"))
		if outB, err := b.CombinedOutput(); err != nil {
			t.Fatalf("dovecot B %q: %v %s", c, err, outB)
		}
	}

	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	ts.deliver(t, "INBOX", testDate, msgs...)
	conn := ts.dial(t)
	ct := &imapRunner{t: t, w: conn, br: bufio.NewReader(conn)}
	if l, err := ct.br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* PREAUTH") {
		t.Fatalf("cote greeting %q, %v", l, err)
	}
	connB := ts.dial(t)
	cb := &imapRunner{t: t, w: connB, br: bufio.NewReader(connB)}
	if _, err := cb.br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cb.cmd("SELECT INBOX")

	for _, r := range []*imapRunner{dv, ct} {
		if _, done := r.cmd("SELECT INBOX"); !strings.Contains(done, "OK") {
			t.Fatal(done)
		}
	}
	for _, c := range contextScenario {
		if bc, ok := strings.CutPrefix(c, "B:"); ok {
			dvB(bc)
			if _, done := cb.cmd(bc); !strings.Contains(done, " OK ") {
				t.Fatalf("cote B %q: %s", bc, done)
			}
			continue
		}
		want := contextLines(dv.cmd(c))
		got := contextLines(ct.cmd(c))
		if got != want {
			t.Errorf("%s\n cote:    %s\n dovecot: %s", c, got, want)
		}
	}
}

// BenchmarkContextUpdate10k: the cost of a flag change (UID STORE of
// one message, then NOOP) over 10,000 messages without update contexts,
// with one SEARCH context and with one SORT context, beside Dovecot (it
// has no CONTEXT=SORT: its SORT context is kept like a SEARCH one).
func BenchmarkContextUpdate10k(b *testing.B) {
	ts := newTestServer(b, Config{})
	fillMailbox(b, ts, "INBOX", searchMailbox)
	for _, srv := range benchServers(b, ts) {
		for _, bc := range []struct{ name, setup string }{
			{"none", ""},
			{"SEARCH", "UID SEARCH RETURN (UPDATE COUNT) UNSEEN"},
			{"SORT", "UID SORT RETURN (UPDATE COUNT) (SUBJECT) UTF-8 UNSEEN"},
		} {
			rc := srv.session(b)
			rc.do(b, "SELECT INBOX")
			if bc.setup != "" {
				rc.do(b, bc.setup)
			}
			b.Run(srv.name+"/"+bc.name, func(b *testing.B) {
				i := 0
				for b.Loop() {
					op := "+"
					if i%2 == 1 {
						op = "-"
					}
					rc.do(b, "UID STORE "+strconv.Itoa(1+(i/2)%searchMailbox)+" "+op+`FLAGS.SILENT (\Seen)`)
					rc.do(b, "NOOP")
					i++
				}
			})
		}
	}
}
