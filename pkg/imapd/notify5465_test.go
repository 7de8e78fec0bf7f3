package imapd

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
	"time"
)

var uidValidityRE = regexp.MustCompile(`UIDVALIDITY \d+`)

// TestNotifyCommand runs RFC 5465's command examples (§3.1, §7) and its
// error cases on one session.
func TestNotifyCommand(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1)
	r := rawSession(t, ts)
	for _, c := range []string{"CREATE Lists", "CREATE Lists/ietf", "SELECT INBOX"} {
		if _, done := r.cmd(c); !strings.Contains(done, " OK") {
			t.Fatalf("%s: %s", c, done)
		}
	}
	ts.deliver(t, "Lists", testDate, msg2)
	steps := []struct {
		name, cmd string
		untagged  string // joined by "\n", UIDVALIDITY values as X
		done      string
	}{
		{"capability", "CAPABILITY", "", "OK"},
		// §7's example: the selected mailbox with a fetch-att, and a
		// subtree with STATUS at once (the selected INBOX is not in it).
		{"rfc set status", "NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
			"* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY X UNSEEN 1)\n* STATUS Lists/ietf (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0)", "OK Notify completed."},
		{"nothing changed", "NOOP", "", "OK"},
		{"badevent", "NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))", "",
			"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]"},
		{"unknown event", "NOTIFY SET (PERSONAL (MailboxName FutureEvent))", "", "NO [BADEVENT"},
		{"metadata event", "NOTIFY SET (PERSONAL (ServerMetadataChange))", "", "NO [BADEVENT"},
		{"new without expunge", "NOTIFY SET (SELECTED (MessageNew))", "", "BAD"},
		{"mailbox event on selected", "NOTIFY SET (SELECTED (MailboxName))", "", "BAD"},
		{"fetch att elsewhere", "NOTIFY SET (INBOXES (MessageNew (UID) MessageExpunge))", "", "BAD"},
		{"syntax", "NOTIFY SET", "", "BAD"},
		{"mailboxes filter", `NOTIFY SET STATUS (MAILBOXES ("Lists/ietf" Trash) (MessageNew MessageExpunge))`,
			"* STATUS Lists/ietf (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0)\n* STATUS Trash (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0)", "OK"},
		{"none", "NOTIFY NONE", "", "OK Notify completed."},
	}
	for _, st := range steps {
		lines, done := r.cmd(st.cmd)
		if !strings.Contains(done, " "+st.done) {
			t.Errorf("%s: done %q, want %q (untagged %q)", st.name, done, st.done, lines)
		}
		if st.name == "capability" {
			if len(lines) != 1 || !strings.Contains(lines[0]+" ", " NOTIFY ") {
				t.Errorf("capability: %q", lines)
			}
			continue
		}
		if got := uidValidityRE.ReplaceAllString(strings.Join(lines, "\n"), "UIDVALIDITY X"); got != st.untagged {
			t.Errorf("%s: untagged\n%s\nwant\n%s", st.name, got, st.untagged)
		}
	}
}

// TestNotifyTwoSessions: one session creates, renames, subscribes,
// appends, changes flags and deletes; the other, with NOTIFY SET, hears
// of it after its commands and while in IDLE.
func TestNotifyTwoSessions(t *testing.T) {
	ts := newTestServer(t, Config{NotifyPoll: 10 * time.Millisecond})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	open := func() *lineConn {
		c := ts.dial(t)
		l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
		l.until("* PREAUTH")
		l.send("s SELECT INBOX")
		l.until("s OK")
		return l
	}
	a, b := open(), open()
	do := func(l *lineConn, tag, cmd string) []string {
		t.Helper()
		l.send(tag + " " + cmd)
		got := l.until(tag + " ")
		if !strings.HasPrefix(got[len(got)-1], tag+" OK") {
			t.Fatalf("%s: %q", cmd, got)
		}
		return got[:len(got)-1]
	}
	// wait reads until a line starting with prefix, failing on a tagged line.
	want := func(l *lineConn, prefix string) string {
		t.Helper()
		got := l.until(prefix)
		return got[len(got)-1]
	}

	do(b, "n1", "NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")

	steps := []struct {
		name, cmd string
		want      []string // b's untagged lines after its NOOP
	}{
		{"create", "CREATE Work", []string{`* LIST (\HasNoChildren) "/" Work`}},
		{"rename", "RENAME Work Job", []string{`* LIST (\HasNoChildren) "/" Job ("OLDNAME" ("Work"))`}},
		{"subscribe", "SUBSCRIBE Job", []string{`* LIST (\HasNoChildren \Subscribed) "/" Job`}},
		{"unsubscribe", "UNSUBSCRIBE Job", []string{`* LIST (\HasNoChildren) "/" Job`}},
		{"append", "APPEND Job {4+}\r\nx: y", []string{`* STATUS Job (MESSAGES 1 UIDNEXT 2 UNSEEN 1)`}},
		{"flags elsewhere", `STORE 1 +FLAGS.SILENT (\Flagged)`, nil}, // in INBOX, selected by b: FETCH below
	}
	for i, st := range steps {
		do(a, "a"+itoa(uint32(i)), st.cmd)
		got := do(b, "b"+itoa(uint32(i)), "NOOP")
		for j := range got {
			got[j] = uidValidityRE.ReplaceAllString(got[j], "UIDVALIDITY X")
		}
		if st.want == nil {
			if !contains(got, `* 1 FETCH (UID 1 FLAGS (\Flagged))`) {
				t.Errorf("%s: %q", st.name, got)
			}
			continue
		}
		if strings.Join(got, "\n") != strings.Join(st.want, "\n") {
			t.Errorf("%s: got %q, want %q", st.name, got, st.want)
		}
	}

	// In IDLE: another mailbox's flags, a new message in the selected
	// one (EXISTS and the MessageNew FETCH), a deletion.
	b.send("i1 IDLE")
	b.until("+ ")
	do(a, "x1", "SELECT Job")
	do(a, "x2", `STORE 1 +FLAGS.SILENT (\Seen)`)
	if l := want(b, "* STATUS Job"); uidValidityRE.ReplaceAllString(l, "UIDVALIDITY X") != "* STATUS Job (UNSEEN 0)" {
		t.Errorf("flag change in IDLE: %q", l)
	}
	// A delivery into another mailbox, then an expunge there.
	ts.deliver(t, "Job", testDate, msg1)
	if l := want(b, "* STATUS Job"); uidValidityRE.ReplaceAllString(l, "UIDVALIDITY X") != "* STATUS Job (MESSAGES 2 UIDNEXT 3 UNSEEN 1)" {
		t.Errorf("delivery in IDLE: %q", l)
	}
	do(a, "x20", "NOOP")
	do(a, "x21", `STORE 2 +FLAGS.SILENT (\Deleted)`)
	do(a, "x22", "EXPUNGE")
	if l := want(b, "* STATUS Job (MESSAGES 1 "); uidValidityRE.ReplaceAllString(l, "UIDVALIDITY X") != "* STATUS Job (MESSAGES 1 UIDNEXT 3 UNSEEN 0)" {
		t.Errorf("expunge in IDLE: %q", l)
	}
	do(a, "x3", "APPEND INBOX {4+}\r\nx: z")
	want(b, "* 3 EXISTS")
	if l := want(b, "* 3 FETCH"); l != `* 3 FETCH (UID 3 FLAGS (\Recent))` {
		t.Errorf("MessageNew fetch-att: %q", l)
	}
	do(a, "x4", "UNSELECT")
	do(a, "x5", "DELETE Job")
	if l := want(b, "* LIST"); l != `* LIST (\NonExistent) "/" Job` {
		t.Errorf("delete in IDLE: %q", l)
	}
	b.send("DONE")
	b.until("i1 OK")

	// NOTIFY NONE: nothing more about other mailboxes.
	do(b, "n2", "NOTIFY NONE")
	do(a, "y1", "CREATE Quiet")
	if got := do(b, "n3", "NOOP"); len(got) != 0 {
		t.Errorf("after NOTIFY NONE: %q", got)
	}
}

// TestNotifySelectedNone: (SELECTED NONE) keeps IDLE quiet about the
// selected mailbox; the next command reports the change as always.
func TestNotifySelectedNone(t *testing.T) {
	ts := newTestServer(t, Config{NotifyPoll: 10 * time.Millisecond})
	ts.deliver(t, "INBOX", testDate, msg1)
	c := ts.dial(t)
	b := &lineConn{t: t, br: bufio.NewReader(c), w: c}
	b.until("* PREAUTH")
	b.send("s SELECT INBOX")
	b.until("s OK")
	b.send("n NOTIFY SET (SELECTED NONE) (INBOXES (MessageNew MessageExpunge))")
	b.until("n OK")
	b.send("i IDLE")
	b.until("+ ")
	ts.deliver(t, "INBOX", testDate, msg2)
	b.send("DONE")
	if got := b.until("i "); contains(got, "* 2 EXISTS") || got[len(got)-1] != "i OK Idle completed." {
		t.Fatalf("IDLE with SELECTED NONE: %q", got)
	}
	b.send("x NOOP")
	if got := b.until("x "); !contains(got, "* 2 EXISTS") {
		t.Fatalf("NOOP after IDLE: %q", got)
	}
}
