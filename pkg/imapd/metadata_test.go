package imapd

import (
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestMetadata runs RFC 5464's examples (§4.2.1-4.2.2, §4.3) and the
// limits against a server with METADATA on.
func TestMetadata(t *testing.T) {
	ts := newTestServer(t, Config{Metadata: true})
	r := rawSession(t, ts)
	big := strings.Repeat("x", 2199)
	steps := []struct {
		name, cmd string
		untagged  string // the untagged lines joined by "\n"
		done      string
	}{
		{"server set", `SETMETADATA "" (/shared/comment "Shared comment")`, "", "OK Setmetadata completed."},
		{"server get", `GETMETADATA "" /shared/comment`, `* METADATA "" (/shared/comment "Shared comment")`, "OK Getmetadata completed."},
		// §4.3's example, with a LITERAL+ literal spanning two lines.
		{"set literal", "SETMETADATA INBOX (/private/comment {33+}\r\nMy new comment across\r\ntwo lines.)", "", "OK"},
		{"get literal", "GETMETADATA INBOX /private/comment", "* METADATA INBOX (/private/comment {33}\nMy new comment across\ntwo lines.)", "OK"},
		{"set own", `SETMETADATA INBOX (/private/comment "My own comment" /shared/comment "` + big + `")`, "", "OK"},
		// §4.2.1: MAXSIZE leaves the long value out and says how long it is;
		// options after the mailbox as in the RFC's example, and before it
		// as in its grammar.
		{"maxsize", `GETMETADATA "INBOX" (MAXSIZE 1024) ("/shared/comment" "/private/comment")`, `* METADATA INBOX (/private/comment "My own comment")`, "OK [METADATA LONGENTRIES 2199]"},
		{"maxsize first", `GETMETADATA (MAXSIZE 1024) INBOX (/shared/comment /private/comment)`, `* METADATA INBOX (/private/comment "My own comment")`, "OK [METADATA LONGENTRIES 2199]"},
		// §4.2.2: DEPTH 1 gives the children, not the grandchildren nor
		// the (valueless) entry itself.
		{"set filters", `SETMETADATA INBOX (/private/filters/values/small "SMALLER than 5000" /private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/boss/deep "x")`, "", "OK"},
		{"depth 1", `GETMETADATA "INBOX" (DEPTH 1) ("/private/filters/values")`, `* METADATA INBOX (/private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/small "SMALLER than 5000")`, "OK"},
		{"depth infinity", `GETMETADATA INBOX (DEPTH infinity) /private/filters`, `* METADATA INBOX (/private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/boss/deep "x" /private/filters/values/small "SMALLER than 5000")`, "OK"},
		{"case-insensitive", `GETMETADATA INBOX /PRIVATE/Filters/Values/Small`, `* METADATA INBOX (/private/filters/values/small "SMALLER than 5000")`, "OK"},
		{"absent is NIL", `GETMETADATA INBOX (/private/none /private/comment)`, `* METADATA INBOX (/private/none NIL /private/comment "My own comment")`, "OK"},
		// §4.3: NIL deletes.
		{"delete", `SETMETADATA INBOX (/private/comment NIL)`, "", "OK"},
		{"deleted", `GETMETADATA INBOX /private/comment`, `* METADATA INBOX (/private/comment NIL)`, "OK"},
		{"other mailbox", `GETMETADATA Trash /private/filters/values/small`, `* METADATA Trash (/private/filters/values/small NIL)`, "OK"},
		{"too large", `SETMETADATA INBOX (/private/big {16385+}` + "\r\n" + strings.Repeat("y", 16385) + ")", "", "NO [METADATA MAXSIZE 16384]"},
		{"missing mailbox", `SETMETADATA Nope (/private/comment "x")`, "", "NO [NONEXISTENT]"},
		{"missing mailbox get", `GETMETADATA Nope /private/comment`, "", "NO [NONEXISTENT]"},
		{"bad entry", `SETMETADATA INBOX (/other/comment "x")`, "", "BAD"},
		{"bad wildcard", `GETMETADATA INBOX /private/a*`, "", "BAD"},
		{"set root", `SETMETADATA INBOX (/private "x")`, "", "BAD"},
		{"bad depth", `GETMETADATA INBOX (DEPTH 2) /private/a`, "", "BAD"},
	}
	for _, st := range steps {
		lines, done := r.cmd(st.cmd)
		if !strings.Contains(done, " "+st.done) {
			t.Errorf("%s: done %q, want %q (untagged %q)", st.name, done, st.done, lines)
		}
		if got := strings.Join(lines, "\n"); got != st.untagged {
			t.Errorf("%s: untagged\n%s\nwant\n%s", st.name, got, st.untagged)
		}
	}
	// A second session of the user sees the entries (/shared and
	// /private alike: one owner), and RENAME carries them along.
	r2 := rawSession(t, ts)
	if lines, done := r2.cmd(`GETMETADATA "" /shared/comment`); len(lines) != 1 || lines[0] != `* METADATA "" (/shared/comment "Shared comment")` {
		t.Errorf("second session: %q %q", lines, done)
	}
	r2.cmd("CREATE Box")
	r2.cmd(`SETMETADATA Box (/shared/comment "on box")`)
	if _, done := r2.cmd("RENAME Box Box2"); !strings.Contains(done, " OK") {
		t.Fatalf("rename: %q", done)
	}
	if lines, _ := r.cmd(`GETMETADATA Box2 /shared/comment`); len(lines) != 1 || lines[0] != `* METADATA Box2 (/shared/comment "on box")` {
		t.Errorf("after rename: %q", lines)
	}
	r2.cmd("DELETE Box2")
	r2.cmd("CREATE Box2")
	if lines, _ := r.cmd(`GETMETADATA Box2 /shared/comment`); len(lines) != 1 || lines[0] != `* METADATA Box2 (/shared/comment NIL)` {
		t.Errorf("recreated mailbox kept entries: %q", lines)
	}
}

func TestMetadataTooMany(t *testing.T) {
	ts := newTestServer(t, Config{Metadata: true})
	r := rawSession(t, ts)
	var b strings.Builder
	for i := 0; i < MaxMetadataEntries; i++ {
		b.WriteString(" /private/e" + itoa(uint32(i)) + ` "v"`)
	}
	if _, done := r.cmd("SETMETADATA INBOX (" + b.String()[1:] + ")"); !strings.Contains(done, " OK") {
		t.Fatalf("filling: %q", done)
	}
	if _, done := r.cmd(`SETMETADATA INBOX (/private/one-more "v")`); !strings.Contains(done, " NO [METADATA TOOMANY]") {
		t.Errorf("over the limit: %q", done)
	}
	// Replacing and deleting stay possible at the limit.
	if _, done := r.cmd(`SETMETADATA INBOX (/private/e0 "w" /private/e1 NIL)`); !strings.Contains(done, " OK") {
		t.Errorf("at the limit: %q", done)
	}
}

func TestMetadataOff(t *testing.T) {
	ts := newTestServer(t, Config{})
	r := rawSession(t, ts)
	lines, _ := r.cmd("CAPABILITY")
	if strings.Contains(lines[0], "METADATA") {
		t.Errorf("capability %q advertises METADATA", lines[0])
	}
	for _, cmd := range []string{`GETMETADATA "" /shared/comment`, `SETMETADATA "" (/shared/comment "x")`} {
		if _, done := r.cmd(cmd); !strings.Contains(done, " BAD ") {
			t.Errorf("%s: %q, want BAD", cmd, done)
		}
	}
	ts2 := newTestServer(t, Config{Metadata: true})
	lines, _ = rawSession(t, ts2).cmd("CAPABILITY")
	if !strings.Contains(lines[0]+" ", " METADATA METADATA-SERVER ") {
		t.Errorf("capability %q lacks METADATA", lines[0])
	}
}

// TestGoIMAPMetadata drives METADATA with an independent client (go-imap
// v2's imapclient, which puts the options after the mailbox).
func TestGoIMAPMetadata(t *testing.T) {
	ts := newTestServer(t, Config{Metadata: true})
	c := imapclient.New(ts.dial(t), nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	for _, capName := range []goimap.Cap{"METADATA", "METADATA-SERVER"} {
		if !c.Caps().Has(capName) {
			t.Errorf("missing capability %s", capName)
		}
	}
	v1, v2 := []byte("first"), []byte("a\r\nmulti-line value")
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/a": &v1, "/shared/b/c": &v2}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.GetMetadata("INBOX", []string{"/private/a", "/shared/b"}, &imapclient.GetMetadataOptions{Depth: imapclient.GetMetadataDepthInfinity}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Entries) != 2 || data.Entries["/private/a"] == nil || string(*data.Entries["/private/a"]) != "first" ||
		data.Entries["/shared/b/c"] == nil || string(*data.Entries["/shared/b/c"]) != string(v2) {
		t.Errorf("entries %v", data.Entries)
	}
	size := uint32(5)
	data, err = c.GetMetadata("INBOX", []string{"/private/a", "/shared/b/c"}, &imapclient.GetMetadataOptions{MaxSize: &size}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Entries) != 1 || data.Entries["/private/a"] == nil {
		t.Errorf("MAXSIZE 5: entries %v", data.Entries)
	}
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/a": nil}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err = c.GetMetadata("", []string{"/shared/comment"}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := data.Entries["/shared/comment"]; ok && v != nil {
		t.Errorf("server entry %q, want none", *v)
	}
}
