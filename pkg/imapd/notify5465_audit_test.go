package imapd

import (
	"bufio"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The NOTIFY audit transcript: session B asks for events, session A
// (or B itself) makes them. The same script runs against cote and, when
// installed, against Dovecot 2.3's imap (TestNotifyAuditDovecot); where
// the two differ on purpose the step says how Dovecot answers and why.

// nalt is Dovecot's answer where it differs from cote's.
type nalt struct {
	done string   // tagged status prefix
	want []string // lines that must be among the step's
	why  string
	skip bool // the step is not run against Dovecot
}

type nstep struct {
	name string
	who  byte   // 'A' or 'B'
	cmd  string // sent with a tag; "DONE" ends the running IDLE; "" only waits
	done string // tagged status prefix ("OK" if empty)
	// wait: after the command, read until a line with this prefix
	// (an event pushed outside a command).
	wait string
	// want are normalized event lines (notifyNorm) that must be among
	// the step's lines (the command's untagged responses and those read
	// by wait); absent are substrings no line of the step may hold.
	want, absent []string
	// exact: the step's event lines are exactly want.
	exact   bool
	dovecot *nalt
	// settle: Dovecot watches the selected mailbox again only a second
	// after the session's last command or push
	// (IMAP_NOTIFY_WATCH_ADD_DELAY_MSECS in imap-notify.c) and misses a
	// change made before: its run waits that long before this step. Its
	// mailbox list watch, after NOTIFY SET, needs the same. cote needs
	// no such wait.
	settle bool
}

var notifyAudit = []nstep{
	{name: "setup create", who: 'A', cmd: "CREATE Lists"},
	{name: "setup create child", who: 'A', cmd: "CREATE Lists/ietf"},
	{name: "setup create other", who: 'A', cmd: "CREATE Other"},
	{name: "setup append inbox", who: 'A', cmd: "APPEND INBOX {4+}\r\nx: 1"},
	{name: "setup append inbox 2", who: 'A', cmd: "APPEND INBOX {4+}\r\nx: 2"},
	{name: "setup append lists", who: 'A', cmd: "APPEND Lists {4+}\r\nx: 3"},

	// 1. Invalid combinations: BAD (§5, §6.1); unsupported events NO
	// [BADEVENT] (§3.1).
	{name: "new without expunge", who: 'B', cmd: "NOTIFY SET (SELECTED (MessageNew))", done: "BAD"},
	{name: "expunge without new", who: 'B', cmd: "NOTIFY SET (SELECTED (MessageExpunge))", done: "BAD"},
	{name: "flags without new", who: 'B', cmd: "NOTIFY SET (SELECTED (FlagChange))", done: "BAD"},
	{name: "new without expunge elsewhere", who: 'B', cmd: "NOTIFY SET (PERSONAL (MessageNew))", done: "BAD",
		dovecot: &nalt{done: "OK", why: "Dovecot checks §5's combinations for the selected group only"}},
	{name: "mailbox event on selected", who: 'B', cmd: "NOTIFY SET (SELECTED (MailboxName))", done: "BAD",
		dovecot: &nalt{done: "OK", why: "§6.1 calls it an error; Dovecot accepts it"}},
	{name: "fetch-att elsewhere", who: 'B', cmd: "NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))", done: "BAD"},
	{name: "two selected filters", who: 'B', cmd: "NOTIFY SET (SELECTED NONE) (SELECTED-DELAYED NONE)", done: "BAD"},
	{name: "unsupported event", who: 'B', cmd: "NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))",
		done: "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]",
		dovecot: &nalt{done: "NO [BADEVENT AnnotationChange]",
			why: "§3.1: BADEVENT MUST list the events the server supports; Dovecot lists the refused ones, without parentheses"}},
	{name: "unknown event", who: 'B', cmd: "NOTIFY SET (PERSONAL (MailboxName FutureEvent))", done: "NO [BADEVENT",
		dovecot: &nalt{done: "BAD", why: "§8 allows event-ext atoms and §3.1 asks NO [BADEVENT] for unsupported events"}},

	// 2. NOTIFY SET STATUS: mailboxes with message events, MESSAGES
	// UIDNEXT UIDVALIDITY UNSEEN, HIGHESTMODSEQ with FlagChange.
	{name: "status subtree", who: 'B', cmd: "NOTIFY SET STATUS (SUBTREE Lists (MessageNew MessageExpunge))", exact: true, want: []string{
		"* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY X UNSEEN 1)",
		"* STATUS Lists/ietf (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0)"}},
	{name: "status mailboxname only", who: 'B', cmd: "NOTIFY SET STATUS (MAILBOXES Lists (MessageNew MessageExpunge)) (MAILBOXES Other (MailboxName))",
		exact: true, want: []string{"* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY X UNSEEN 1)"},
		dovecot: &nalt{done: "OK", want: []string{"* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0)"},
			why: "§3.1 asks STATUS for mailboxes with message events; Dovecot sends it for every mailbox of the namespace"}},

	// Events pushed between commands (no IDLE).
	{name: "select", who: 'B', cmd: "SELECT INBOX"},
	{name: "set", who: 'B', cmd: "NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))"},
	{name: "append other", who: 'A', cmd: "APPEND Lists {4+}\r\nx: 4"},
	{name: "status pushed", who: 'B', wait: "* STATUS Lists", want: []string{"* STATUS Lists (MESSAGES 2 UIDNEXT 3 UNSEEN 2)"}},
	{name: "append selected", who: 'A', settle: true, cmd: "APPEND INBOX {4+}\r\nx: 5"},
	{name: "exists pushed", who: 'B', wait: "* 3 FETCH", want: []string{"* 3 EXISTS", "* 3 FETCH (UID 3)"}},
	{name: "select lists", who: 'A', cmd: "SELECT Lists"},
	{name: "seen elsewhere", who: 'A', cmd: `STORE 1 +FLAGS.SILENT (\Seen)`},
	{name: "unseen pushed", who: 'B', wait: "* STATUS Lists", want: []string{"* STATUS Lists (UNSEEN 1)"}},
	{name: "create", who: 'A', cmd: "CREATE New"},
	{name: "create pushed", who: 'B', wait: "* LIST", want: []string{"* LIST () / New"}},
	{name: "rename", who: 'A', cmd: "RENAME New New2"},
	{name: "rename pushed", who: 'B', wait: "* LIST", want: []string{"* LIST () / New2 (OLDNAME (New))"}},
	{name: "subscribe", who: 'A', cmd: "SUBSCRIBE New2"},
	{name: "subscribe pushed", who: 'B', wait: "* LIST", want: []string{`* LIST (\Subscribed) / New2`}},
	{name: "unsubscribe", who: 'A', cmd: "UNSUBSCRIBE New2"},
	{name: "unsubscribe pushed", who: 'B', wait: "* LIST", want: []string{"* LIST () / New2"}},
	{name: "delete", who: 'A', cmd: "DELETE New2"},
	{name: "delete pushed", who: 'B', wait: "* LIST", want: []string{`* LIST (\NonExistent) / New2`}},
	{name: "select inbox", who: 'A', cmd: "SELECT INBOX"},
	{name: "flag selected", who: 'A', settle: true, cmd: `STORE 1 +FLAGS.SILENT (\Flagged)`},
	{name: "flag pushed", who: 'B', wait: "* 1 FETCH", want: []string{`* 1 FETCH (UID 1 FLAGS (\Flagged))`},
		dovecot: &nalt{want: []string{`* 1 FETCH (FLAGS (\Flagged))`}, why: "§5.1: the FETCH MUST include UID; Dovecot leaves it out"}},
	{name: "delete flag", who: 'A', settle: true, cmd: `STORE 1 +FLAGS.SILENT (\Deleted)`},
	{name: "expunge", who: 'A', cmd: "EXPUNGE"},
	// 3. SELECTED sends EXPUNGE between commands (§6.1.1).
	{name: "expunge pushed", who: 'B', wait: "* 1 EXPUNGE", want: []string{"* 1 EXPUNGE"}},

	// 4. The session's own changes are not events (§5 SHOULD).
	{name: "own create", who: 'B', cmd: "CREATE Own", exact: true,
		dovecot: &nalt{done: "OK", why: "§5: the server SHOULD omit events the client caused; Dovecot reports them"}},
	{name: "own append", who: 'B', cmd: "APPEND Other {4+}\r\nx: 6", exact: true,
		dovecot: &nalt{done: "OK", why: "§5 SHOULD, as above"}},
	{name: "other create", who: 'A', cmd: "CREATE Foo"},
	{name: "own changes not pushed", who: 'B', wait: "* LIST () / Foo", absent: []string{"Own", "Other"}, want: []string{"* LIST () / Foo"},
		dovecot: &nalt{want: []string{"* LIST () / Foo"}, why: "§5 SHOULD, as above"}},

	// 3. SELECTED-DELAYED holds expunges until a command may report them.
	{name: "set delayed", who: 'B', cmd: "NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge)) (PERSONAL (MailboxName))"},
	{name: "delete flag 2", who: 'A', settle: true, cmd: `STORE 1 +FLAGS.SILENT (\Deleted)`},
	{name: "expunge 2", who: 'A', cmd: "EXPUNGE"},
	{name: "create bar", who: 'A', cmd: "CREATE Bar"},
	{name: "expunge held", who: 'B', wait: "* LIST () / Bar", absent: []string{"EXPUNGE"}, want: []string{"* LIST () / Bar"},
		dovecot: &nalt{skip: true, why: "with an expunge held back Dovecot pushes nothing else either, not even other mailboxes' events"}},
	{name: "expunge at noop", who: 'B', cmd: "NOOP", want: []string{"* 1 EXPUNGE"}},

	// 3. No selected group is (SELECTED NONE) (§3.1): nothing pushed,
	// in IDLE either (§4), but the base protocol's EXISTS at the next
	// command.
	{name: "set no selected", who: 'B', cmd: "NOTIFY SET (PERSONAL (MailboxName))"},
	{name: "idle", who: 'B', cmd: "IDLE"},
	{name: "append in idle", who: 'A', cmd: "APPEND INBOX {4+}\r\nx: 7"},
	{name: "create baz", who: 'A', cmd: "CREATE Baz"},
	{name: "nothing of selected in idle", who: 'B', wait: "* LIST () / Baz", absent: []string{"EXISTS"}, want: []string{"* LIST () / Baz"}},
	{name: "done", who: 'B', cmd: "DONE"},
	{name: "exists at noop", who: 'B', cmd: "NOOP", want: []string{"* 2 EXISTS"},
		dovecot: &nalt{done: "OK", why: "RFC 9051 §5.2 and §7.4.1 require the EXISTS; Dovecot withholds it after (SELECTED NONE)"}},

	// 5. INBOXES is PERSONAL here (§6.3), SUBTREE is the mailbox and
	// all below it (§6.5).
	{name: "set inboxes", who: 'B', cmd: "NOTIFY SET (INBOXES (MessageNew MessageExpunge))"},
	{name: "append other 2", who: 'A', cmd: "APPEND Other {4+}\r\nx: 8"},
	{name: "inboxes status", who: 'B', wait: "* STATUS Other", want: []string{"* STATUS Other (MESSAGES 2 UIDNEXT 3 UNSEEN 2)"},
		dovecot: &nalt{skip: true, why: "Dovecot 2.3.19 pushes nothing here after the SELECTED-DELAYED steps above (a fresh session does get the STATUS)"}},
	{name: "set subtree", who: 'B', cmd: "NOTIFY SET (SUBTREE Lists (MailboxName))"},
	{name: "create sibling", who: 'A', settle: true, cmd: "CREATE ListsX"},
	{name: "create below", who: 'A', cmd: "CREATE Lists/sub"},
	{name: "subtree only", who: 'B', wait: "* LIST", absent: []string{"ListsX"}, want: []string{"* LIST () / Lists/sub"}},

	// 6. IDLE sends the same events.
	{name: "set idle", who: 'B', cmd: "NOTIFY SET (MAILBOXES Lists (MessageNew MessageExpunge))"},
	{name: "idle 2", who: 'B', cmd: "IDLE"},
	{name: "append in idle 2", who: 'A', cmd: "APPEND Lists {4+}\r\nx: 9"},
	{name: "status in idle", who: 'B', wait: "* STATUS Lists", want: []string{"* STATUS Lists (MESSAGES 3 UIDNEXT 4 UNSEEN 2)"},
		dovecot: &nalt{skip: true, why: "as for inboxes status"}},
	{name: "done 2", who: 'B', cmd: "DONE"},

	// 5. SUBSCRIBED: the subscribed mailboxes (§6.4).
	{name: "subscribe other", who: 'A', cmd: "SUBSCRIBE Other"},
	{name: "set subscribed", who: 'B', cmd: "NOTIFY SET (SUBSCRIBED (MessageNew MessageExpunge))"},
	{name: "append unsubscribed", who: 'A', cmd: "APPEND Lists/ietf {4+}\r\nx: a"},
	{name: "append subscribed", who: 'A', cmd: "APPEND Other {4+}\r\nx: b"},
	{name: "subscribed only", who: 'B', wait: "* STATUS Other", absent: []string{"Lists"}, want: []string{"* STATUS Other (MESSAGES 3 UIDNEXT 4 UNSEEN 3)"},
		dovecot: &nalt{skip: true, why: "as for inboxes status"}},

	// 5. NOTIFY NONE: no more events.
	{name: "none", who: 'B', cmd: "NOTIFY NONE"},
	{name: "create quiet", who: 'A', cmd: "CREATE Quiet"},
	{name: "nothing after none", who: 'B', cmd: "NOOP", exact: true,
		dovecot: &nalt{done: "OK", why: "a push may be late on Dovecot: not compared"}},

	// 2. With FlagChange the initial STATUS has HIGHESTMODSEQ (§3.1).
	// Last: Dovecot counts its own HIGHESTMODSEQ item as enabling
	// CONDSTORE, which changes every later response.
	{name: "status flagchange", who: 'B', cmd: "NOTIFY SET STATUS (MAILBOXES Lists (MessageNew MessageExpunge FlagChange))", exact: true, want: []string{
		"* STATUS Lists (MESSAGES 3 UIDNEXT 4 UIDVALIDITY X UNSEEN 2 HIGHESTMODSEQ N)"}},
	// 5. A mailbox that does not exist is no error and gets no STATUS.
	// Last too: after (SELECTED (MailboxName)) such a NOTIFY leaves
	// Dovecot 2.3.19 reporting nothing for later NOTIFY SETs.
	{name: "missing mailbox", who: 'B', cmd: "NOTIFY SET STATUS (MAILBOXES nosuch (MessageNew MessageExpunge))", exact: true},
}

// nclient is one side of the transcript.
type nclient struct {
	t    *testing.T
	name string
	w    io.Writer
	br   *bufio.Reader
	dl   func(time.Time) error
	n    int
	idle string // the tag of the running IDLE
	step string
}

func (c *nclient) line() string {
	c.t.Helper()
	_ = c.dl(time.Now().Add(10 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("%s: %s: read: %v", c.step, c.name, err)
	}
	if testing.Verbose() {
		c.t.Logf("%s < %s", c.name, strings.TrimRight(l, "\r\n"))
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *nclient) write(s string) {
	c.t.Helper()
	if testing.Verbose() {
		c.t.Logf("%s > %s", c.name, s)
	}
	if _, err := io.WriteString(c.w, s+"\r\n"); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

var (
	normUIDValidity = regexp.MustCompile(`UIDVALIDITY \d+`)
	normModSeq      = regexp.MustCompile(`(HIGHESTMODSEQ|MODSEQ \() ?\d+`)
	normEvent       = regexp.MustCompile(`^\* (STATUS|LIST|\d+ (EXISTS|EXPUNGE|FETCH))( |$)`)
)

// notifyNorm makes an event line comparable between servers: no
// quotes, no counter values that differ by implementation, no \Recent
// (which session gets it differs), no child attributes (§5.4 only
// recommends them).
func notifyNorm(l string) string {
	l = strings.ReplaceAll(l, `"`, "")
	l = normUIDValidity.ReplaceAllString(l, "UIDVALIDITY X")
	l = normModSeq.ReplaceAllStringFunc(l, func(m string) string {
		if strings.HasPrefix(m, "HIGHESTMODSEQ") {
			return "HIGHESTMODSEQ N"
		}
		return "MODSEQ (N"
	})
	for _, a := range []string{`\Recent`, `\HasNoChildren`, `\HasChildren`} {
		l = strings.ReplaceAll(l, a, "")
	}
	for strings.Contains(l, "( ") || strings.Contains(l, "  ") || strings.Contains(l, " )") {
		l = strings.NewReplacer("( ", "(", "  ", " ", " )", ")").Replace(l)
	}
	return l
}

// runNotifyAudit runs the script; dovecot selects the nalt answers.
func runNotifyAudit(t *testing.T, a, b *nclient, script []nstep, dovecot bool) {
	for _, st := range script {
		c := a
		if st.who == 'B' {
			c = b
		}
		c.step = st.name
		if dovecot && st.settle {
			time.Sleep(1100 * time.Millisecond)
		}
		done, want, absent, exact := st.done, st.want, st.absent, st.exact
		if done == "" {
			done = "OK"
		}
		if dovecot && st.dovecot != nil && st.dovecot.skip {
			continue
		}
		if dovecot && st.dovecot != nil {
			done, want, absent, exact = st.dovecot.done, st.dovecot.want, nil, false
			if done == "" {
				done = "OK"
			}
		}
		var lines []string
		switch {
		case st.cmd == "IDLE":
			c.idle = "i" + itoa(uint32(c.n))
			c.n++
			c.write(c.idle + " IDLE")
			for l := c.line(); !strings.HasPrefix(l, "+ "); l = c.line() {
				lines = append(lines, l)
			}
		case st.cmd != "":
			tag := string(c.name[0]) + itoa(uint32(c.n))
			c.n++
			if st.cmd == "DONE" {
				tag, c.idle = c.idle, ""
				c.write("DONE")
			} else {
				c.write(tag + " " + st.cmd)
			}
			for {
				l := c.line()
				if strings.HasPrefix(l, tag+" ") {
					if got := strings.TrimPrefix(l, tag+" "); !strings.HasPrefix(got, done) {
						t.Errorf("%s: %s: %q, want %q", st.name, c.name, got, done)
					}
					break
				}
				lines = append(lines, l)
			}
		}
		if st.wait != "" {
			for {
				l := c.line()
				lines = append(lines, l)
				if strings.HasPrefix(notifyNorm(l), st.wait) {
					break
				}
			}
		}
		var events []string
		for _, l := range lines {
			if normEvent.MatchString(l) {
				events = append(events, notifyNorm(l))
			}
		}
		for _, w := range want {
			if !contains(events, w) {
				t.Errorf("%s: %s: no %q in %q", st.name, c.name, w, events)
			}
		}
		if exact && strings.Join(events, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %s: events %q, want exactly %q", st.name, c.name, events, want)
		}
		for _, ab := range absent {
			for _, l := range events {
				if strings.Contains(l, ab) {
					t.Errorf("%s: %s: %q must not be reported: %q", st.name, c.name, ab, events)
				}
			}
		}
	}
}

// TestNotifyAudit runs the NOTIFY audit transcript against cote.
func TestNotifyAudit(t *testing.T) {
	ts := newTestServer(t, Config{NotifyPoll: 10 * time.Millisecond})
	open := func(name string) *nclient {
		conn := ts.dial(t)
		c := &nclient{t: t, name: name, w: conn, br: bufio.NewReader(conn), dl: conn.SetReadDeadline}
		if l := c.line(); !strings.HasPrefix(l, "* PREAUTH") {
			t.Fatalf("greeting %q", l)
		}
		return c
	}
	runNotifyAudit(t, open("A"), open("B"), notifyAudit, false)
}

// TestNotifyCondstoreStatus: with CONDSTORE enabled every STATUS event
// has HIGHESTMODSEQ (RFC 5465 §5.2, §5.3), and a flag change also
// UIDVALIDITY (§5.1).
func TestNotifyCondstoreStatus(t *testing.T) {
	ts := newTestServer(t, Config{NotifyPoll: 10 * time.Millisecond})
	open := func(name string) *nclient {
		conn := ts.dial(t)
		c := &nclient{t: t, name: name, w: conn, br: bufio.NewReader(conn), dl: conn.SetReadDeadline}
		if l := c.line(); !strings.HasPrefix(l, "* PREAUTH") {
			t.Fatalf("greeting %q", l)
		}
		return c
	}
	script := []nstep{
		{name: "create", who: 'A', cmd: "CREATE Other"},
		{name: "enable", who: 'B', cmd: "ENABLE CONDSTORE"},
		{name: "set", who: 'B', cmd: "NOTIFY SET STATUS (PERSONAL (MessageNew MessageExpunge FlagChange))", want: []string{
			"* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0 HIGHESTMODSEQ N)",
			"* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY X UNSEEN 0 HIGHESTMODSEQ N)"}},
		{name: "append", who: 'A', cmd: "APPEND Other {4+}\r\nx: 1"},
		{name: "append pushed", who: 'B', wait: "* STATUS Other", want: []string{"* STATUS Other (MESSAGES 1 UIDNEXT 2 UNSEEN 1 HIGHESTMODSEQ N)"}},
		{name: "select", who: 'A', cmd: "SELECT Other"},
		{name: "flag", who: 'A', cmd: `STORE 1 +FLAGS.SILENT (\Flagged)`},
		{name: "flag pushed", who: 'B', wait: "* STATUS Other", want: []string{"* STATUS Other (UIDVALIDITY X HIGHESTMODSEQ N)"}},
		{name: "seen", who: 'A', cmd: `STORE 1 +FLAGS.SILENT (\Seen)`},
		{name: "seen pushed", who: 'B', wait: "* STATUS Other", want: []string{"* STATUS Other (UIDVALIDITY X UNSEEN 0 HIGHESTMODSEQ N)"}},
		{name: "expunge", who: 'A', cmd: `STORE 1 +FLAGS.SILENT (\Deleted)`},
		{name: "expunge 2", who: 'A', cmd: "EXPUNGE"},
		{name: "expunge pushed", who: 'B', wait: "* STATUS Other (MESSAGES", want: []string{"* STATUS Other (MESSAGES 0 UIDNEXT 2 UNSEEN 0 HIGHESTMODSEQ N)"}},
	}
	runNotifyAudit(t, open("A"), open("B"), script, false)
}

// TestNotifyAuditDovecot runs the same transcript against two Dovecot
// imap processes in PREAUTH mode on one Maildir (mailbox_list_index, as
// Dovecot's NOTIFY needs; LAYOUT=fs for cote's "/" separator).
func TestNotifyAuditDovecot(t *testing.T) {
	peer := newDovecotPeer(t, nil, nil, ":LAYOUT=fs", "mailbox_list_index=yes")
	// Mostly waiting for Dovecot (settle): overlap with the other tests.
	t.Parallel()
	open := func(name string) *nclient {
		in, br, out := peer.session()
		dl := func(time.Time) error { return nil }
		if f, ok := out.(interface{ SetReadDeadline(time.Time) error }); ok {
			dl = f.SetReadDeadline
		}
		return &nclient{t: t, name: name, w: in, br: br, dl: dl}
	}
	a := open("A")
	runNotifyAudit(t, a, open("B"), notifyAudit, true)
}
