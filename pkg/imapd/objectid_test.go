package imapd

import (
	"regexp"
	"strings"
	"testing"
)

// TestObjectID follows RFC 8474's examples (§4.1 CREATE, §4.2 SELECT,
// §4.3 STATUS, §5 FETCH EMAILID/THREADID): MAILBOXID is the same in
// every response and through a RENAME, and a new mailbox gets another.
func TestObjectID(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1)
	r := rawSession(t, ts)
	lines, done := r.cmd("CAPABILITY")
	if len(lines) != 1 || !strings.Contains(lines[0]+" ", " OBJECTID ") {
		t.Fatalf("capability %q lacks OBJECTID", lines)
	}
	idRe := regexp.MustCompile(`MAILBOXID \(([0-9a-f]{32})\)`)
	_, done = r.cmd("CREATE foo")
	m := idRe.FindStringSubmatch(done)
	if m == nil || !strings.Contains(done, "OK [MAILBOXID (") {
		t.Fatalf("CREATE: %q", done)
	}
	id := m[1]
	steps := []struct {
		name, cmd string
		untagged  []string
		done      string
	}{
		{"status", "STATUS foo (MAILBOXID)", []string{"* STATUS foo (MAILBOXID (" + id + "))"}, "OK"},
		{"status mixed", "STATUS foo (MESSAGES MAILBOXID UIDNEXT)", []string{"* STATUS foo (MESSAGES 0 MAILBOXID (" + id + ") UIDNEXT 1)"}, "OK"},
		{"select", "SELECT foo", []string{"* OK [MAILBOXID (" + id + ")] Ok"}, "OK [READ-WRITE]"},
		{"rename", "RENAME foo bar", nil, "OK"},
		{"status renamed", "STATUS bar (MAILBOXID)", []string{"* STATUS bar (MAILBOXID (" + id + "))"}, "OK"},
		{"examine renamed", "EXAMINE bar", []string{"* OK [MAILBOXID (" + id + ")] Ok"}, "OK [READ-ONLY]"},
		{"select inbox", "SELECT INBOX", nil, "OK"},
		{"fetch", "FETCH 1 (EMAILID THREADID)", nil, "OK"},
		{"status missing", "STATUS nope (MAILBOXID)", nil, "NO [NONEXISTENT]"},
	}
	for _, st := range steps {
		lines, done := r.cmd(st.cmd)
		if !strings.Contains(done, " "+st.done) {
			t.Errorf("%s: done %q, want %q (untagged %q)", st.name, done, st.done, lines)
		}
		for _, want := range st.untagged {
			if !contains(lines, want) {
				t.Errorf("%s: untagged %q lack %q", st.name, lines, want)
			}
		}
		switch st.name {
		case "select inbox":
			var inboxID string
			for _, l := range lines {
				if m := idRe.FindStringSubmatch(l); m != nil {
					inboxID = m[1]
				}
			}
			if inboxID == "" || inboxID == id {
				t.Errorf("INBOX MAILBOXID %q (foo's %s) in %q", inboxID, id, lines)
			}
		case "fetch":
			if len(lines) != 1 || !regexp.MustCompile(`^\* 1 FETCH \(EMAILID \([A-Za-z0-9_-]+\) THREADID NIL\)$`).MatchString(lines[0]) {
				t.Errorf("fetch %q", lines)
			}
		}
	}
	_, done = r.cmd("CREATE foo")
	if m := idRe.FindStringSubmatch(done); m == nil || m[1] == id {
		t.Errorf("recreated foo: %q, old id %s", done, id)
	}
}
