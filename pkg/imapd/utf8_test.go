package imapd

import (
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestAppendUTF8Streamed: after ENABLE UTF8=ACCEPT, APPEND's "UTF8
// (~{n})" data item (RFC 6855 §4) is streamed into the store (it is
// larger than MaxLiteral, which bounds every literal held in memory)
// and stored byte for byte, 8-bit header included.
func TestAppendUTF8Streamed(t *testing.T) {
	ts := newTestServer(t, Config{})
	var b strings.Builder
	b.WriteString("Subject: Grüße aus Köln\r\nFrom: Jörg <jörg@bücher.example>\r\n\r\n")
	for i := 0; b.Len() < 300<<10; i++ {
		b.WriteString("Zeile " + strconv.Itoa(i) + ": äöü ß ✓\r\n")
	}
	msg := b.String()

	c := newAppendClient(t, ts)
	if got := c.last("e1 ENABLE UTF8=ACCEPT", "e1 "); got != "e1 OK Enable completed." {
		t.Fatalf("ENABLE: %q", got)
	}
	if got := c.last("a1 APPEND INBOX (\\Seen) UTF8 (~{"+strconv.Itoa(len(msg))+"}", "+"); !strings.HasPrefix(got, "+ ") {
		t.Fatalf("APPEND: %q, want a continuation", got)
	}
	c.raw(msg + ")\r\n")
	if got := c.l.until("a1 "); !strings.HasPrefix(got[len(got)-1], "a1 OK [APPENDUID ") {
		t.Fatalf("APPEND: %q", got)
	}

	c.last("s1 SELECT INBOX", "s1 OK")
	c.l.send("f1 FETCH 1 (FLAGS BODY.PEEK[])")
	head := c.l.until("* 1 FETCH")
	want := "* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[] {" + strconv.Itoa(len(msg)) + "}"
	if got := head[len(head)-1]; got != want {
		t.Fatalf("FETCH: %q, want %q", got, want)
	}
	body := make([]byte, len(msg))
	if _, err := io.ReadFull(c.l.br, body); err != nil {
		t.Fatal(err)
	}
	if string(body) != msg {
		t.Errorf("stored message differs from the appended one")
	}
	if got := c.l.until("f1 "); got[len(got)-1] != "f1 OK Fetch completed." {
		t.Errorf("FETCH end: %q", got)
	}
}

// imaplibUTF8Script enables UTF8=ACCEPT with Python's imaplib, which then
// speaks UTF-8, and round-trips a UTF-8 mailbox name. (imaplib's own
// append wraps "UTF8 (...)" inside the literal, so it is not used.)
const imaplibUTF8Script = `
import imaplib, sys
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
assert 'UTF8=ACCEPT' in c.capabilities, c.capabilities
typ, data = c.enable('UTF8=ACCEPT')
print(typ, c.utf8_enabled, c.untagged_responses.get('ENABLED'))
typ, data = c.create('"Entwürfe"')
print(typ)
typ, data = c.list('""', '"Entw*"')
print(typ, data[0][1].decode())
typ, data = c.select('"Entwürfe"')
print(typ, data[0].decode())
typ, data = c.status('"Entwürfe"', '(MESSAGES)')
print(typ)
c.logout()
print('ok')
`

func TestImaplibUTF8Accept(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	ts := newTestServer(t, Config{})
	host, port, _ := net.SplitHostPort(ts.ln.Addr().String())
	out, err := exec.Command(python, "-c", imaplibUTF8Script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	want := []string{
		"OK True [b'UTF8=ACCEPT']",
		"OK",
		"OK Entwürfe",
		"OK 0",
		"OK",
		"ok",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("imaplib printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
