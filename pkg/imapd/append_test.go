package imapd

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
)

// appendClient is a raw client that writes literal data itself, so a
// test controls when each byte reaches the server.
type appendClient struct {
	t *testing.T
	l *lineConn
}

func newAppendClient(t *testing.T, ts *testServer) *appendClient {
	t.Helper()
	c := ts.dial(t)
	l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
	greet := l.until("* ")
	if !strings.HasPrefix(greet[len(greet)-1], "* PREAUTH") {
		t.Fatalf("greeting %q", greet)
	}
	return &appendClient{t: t, l: l}
}

// raw writes s as is (no CRLF added).
func (c *appendClient) raw(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.l.w, s); err != nil {
		c.t.Fatal(err)
	}
}

// last sends line and returns the last line read up to prefix.
func (c *appendClient) last(line, prefix string) string {
	c.t.Helper()
	c.l.send(line)
	got := c.l.until(prefix)
	return got[len(got)-1]
}

// messages is the MESSAGES count of a mailbox, from STATUS.
func (c *appendClient) messages(mbox string) int {
	c.t.Helper()
	c.l.send("st STATUS " + mbox + " (MESSAGES)")
	for _, s := range c.l.until("st ") {
		if i := strings.Index(s, "(MESSAGES "); strings.HasPrefix(s, "* STATUS") && i >= 0 {
			n, err := strconv.Atoi(strings.TrimSuffix(s[i+len("(MESSAGES "):], ")"))
			if err != nil {
				c.t.Fatalf("STATUS line %q", s)
			}
			return n
		}
	}
	c.t.Fatalf("no STATUS answer for %s", mbox)
	return 0
}

// bigMessage is a reader of a size-byte message in small chunks, as a
// socket delivers it, without a WriterTo: the store then sees the same
// sequence of writes whether it reads from the connection or from this.
type bigMessage struct {
	hdr   string
	chunk []byte
	left  int
	off   int
}

func newBigMessage(size int) *bigMessage {
	return &bigMessage{
		hdr:   "From: a@example.org\r\nSubject: big\r\n\r\n",
		chunk: bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\r\n"), 512),
		left:  size,
	}
}

func (m *bigMessage) Read(b []byte) (int, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	var n int
	if m.off < len(m.hdr) {
		n = copy(b, m.hdr[m.off:])
	} else {
		n = copy(b, m.chunk)
	}
	n = min(n, m.left)
	m.off += n
	m.left -= n
	return n, nil
}

// allocated is the bytes allocated by the process while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAppendStreamed: a 20 MiB message goes from the socket into the
// store without the session holding it. The store's own allocations
// (maildir keeps what it parses at save) are measured by saving the same
// message through the store API; an APPEND of it may allocate only a
// small amount more. Before streaming, the reader alone made two copies.
func TestAppendStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20 MiB twice")
	}
	const size = 20 << 20
	ts := newTestServer(t, Config{})

	store := allocated(func() {
		u, err := ts.openUser()
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		mb, err := u.OpenSave("Trash")
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		sv, err := mb.BeginSave()
		if err != nil {
			t.Fatal(err)
		}
		if err := sv.Append(newBigMessage(size), storage.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sv.Commit(); err != nil {
			t.Fatal(err)
		}
	})

	c := newAppendClient(t, ts)
	var got []string
	session := allocated(func() {
		if got := c.last("a1 APPEND INBOX {"+strconv.Itoa(size)+"}", "+"); !strings.HasPrefix(got, "+ ") {
			t.Fatalf("APPEND: %q, want a continuation", got)
		}
		if _, err := io.Copy(struct{ io.Writer }{c.l.w}, newBigMessage(size)); err != nil {
			t.Fatal(err)
		}
		c.raw("\r\n")
		_ = c.l.w.SetReadDeadline(time.Now().Add(time.Minute))
		got = c.l.until("a1 ")
	})
	if !strings.HasPrefix(got[len(got)-1], "a1 OK [APPENDUID ") {
		t.Fatalf("APPEND: %q", got)
	}
	t.Logf("store API save allocated %d bytes, APPEND %d, for a %d-byte message", store, session, size)
	if session > store+size/8 {
		t.Errorf("APPEND allocated %d bytes, the store alone %d: the session holds the %d-byte message", session, store, size)
	}
	c.last("s1 SELECT INBOX", "s1 OK")
	if got := c.last("f1 FETCH 1 RFC822.SIZE", "f1 OK"); !strings.HasPrefix(got, "f1 OK") {
		t.Fatalf("FETCH: %q", got)
	}
	c.l.send("f2 FETCH 1 RFC822.SIZE")
	if lines := c.l.until("f2 "); !contains(lines, "* 1 FETCH (RFC822.SIZE "+strconv.Itoa(size)+")") {
		t.Errorf("FETCH RFC822.SIZE: %q, want %d", lines, size)
	}
}

// step is raw client input and the prefix of the line that answers it
// (untagged lines before it are skipped).
type step struct{ send, want string }

func (c *appendClient) run(steps []step) {
	c.t.Helper()
	for _, st := range steps {
		c.raw(st.send)
		_ = c.l.w.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			line, err := c.l.br.ReadString('\n')
			if err != nil {
				c.t.Fatalf("after %q: %v, want %q", st.send, err, st.want)
			}
			if strings.HasPrefix(line, "* ") {
				continue
			}
			if !strings.HasPrefix(line, st.want) {
				c.t.Fatalf("after %q: got %q, want %q", st.send, line, st.want)
			}
			break
		}
	}
}

// TestAppendLimit: APPENDLIMIT (RFC 7889) is advertised when set and
// refuses a larger message before its data is sent ([TOOBIG]); a larger
// non-synchronizing one is read and dropped, and the session goes on.
func TestAppendLimit(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		limit int64
		caps  string // a capability the greeting must hold; "-" prefix: must not
		steps []step
		saved int
	}{
		{"advertised", 1000, "APPENDLIMIT=1000", nil, 0},
		{"none without a limit", 0, "-APPENDLIMIT", nil, 0},
		{"at the limit", 1000, "", []step{
			{"a1 APPEND INBOX {1000}\r\n", "+ "},
			{x(1000) + "\r\n", "a1 OK [APPENDUID "},
		}, 1},
		{"over the limit", 1000, "", []step{
			{"a1 APPEND INBOX {1001}\r\n", "a1 NO [TOOBIG] Message too large."},
			{"a2 NOOP\r\n", "a2 OK"},
		}, 0},
		{"over the limit, non-synchronizing", 1000, "", []step{
			{"a1 APPEND INBOX {1001+}\r\n" + x(1001) + "\r\n", "a1 NO [TOOBIG] Message too large."},
			{"a2 NOOP\r\n", "a2 OK"},
		}, 0},
		{"no limit", 0, "", []step{
			{"a1 APPEND INBOX {200000}\r\n", "+ "},
			{x(200000) + "\r\n", "a1 OK [APPENDUID "},
		}, 1},
		{"zero bytes", 0, "", []step{
			{"a1 APPEND INBOX {0}\r\n", "a1 NO Can't save a zero byte message."},
		}, 0},
		{"missing mailbox", 0, "", []step{
			{"a1 APPEND Nope {5}\r\n", "a1 NO [TRYCREATE] "},
			{"a2 NOOP\r\n", "a2 OK"},
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{AppendLimit: tc.limit})
			conn := ts.dial(t)
			l := &lineConn{t: t, br: bufio.NewReader(conn), w: conn}
			greet := l.until("* ")[0]
			if want, not := strings.CutPrefix(tc.caps, "-"); tc.caps != "" {
				has := strings.Contains(greet, " "+want+" ") || strings.Contains(greet, " "+want+"=") || strings.Contains(greet, " "+want+"]")
				if has == not {
					t.Errorf("greeting %q: want %q", greet, tc.caps)
				}
			}
			c := &appendClient{t: t, l: l}
			c.run(tc.steps)
			if n := c.messages("INBOX"); n != tc.saved {
				t.Errorf("INBOX has %d messages, want %d", n, tc.saved)
			}
		})
	}
}

// TestMultiappendAtomic: a MULTIAPPEND (RFC 3502) saves all its messages
// or none: a refused or malformed later message, or a connection lost
// in the middle, leaves the mailbox as it was.
func TestMultiappendAtomic(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		steps []step
		drop  string // sent before the connection is closed
		saved int
	}{
		{"all saved", []step{
			{"m1 APPEND INBOX {5+}\r\nhello (\\Seen) \"02-Jan-2006 15:04:05 +0000\" {5}\r\n", "+ "},
			{"world {6+}\r\nagain!\r\n", "m1 OK [APPENDUID "},
		}, "", 3},
		{"second too large", []step{
			{"m1 APPEND INBOX {5}\r\n", "+ "},
			{"hello {2000}\r\n", "m1 NO [TOOBIG] Message too large."},
			{"m2 NOOP\r\n", "m2 OK"},
		}, "", 0},
		{"second too large, non-synchronizing", []step{
			{"m1 APPEND INBOX {5+}\r\nhello {2000+}\r\n" + x(2000) + " {3+}\r\nabc\r\n", "m1 NO [TOOBIG] Message too large."},
			{"m2 NOOP\r\n", "m2 OK"},
		}, "", 0},
		{"second with a bad date", []step{
			{"m1 APPEND INBOX {5+}\r\nhello \"31-Foo-2006 00:00:00 +0000\" {5+}\r\nworld\r\n", "m1 BAD "},
			{"m2 NOOP\r\n", "m2 OK"},
		}, "", 0},
		{"flags without a message", []step{
			{"m1 APPEND INBOX {5+}\r\nhello (\\Seen)\r\n", "m1 BAD "},
			{"m2 NOOP\r\n", "m2 OK"},
		}, "", 0},
		{"connection lost in the second", nil, "m1 APPEND INBOX {5+}\r\nhello {100+}\r\nabc", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{AppendLimit: 1000})
			c := newAppendClient(t, ts)
			c.run(tc.steps)
			if tc.drop != "" {
				c.raw(tc.drop)
				c.l.w.Close()
				c = newAppendClient(t, ts)
			}
			if n := c.messages("INBOX"); n != tc.saved {
				t.Errorf("INBOX has %d messages, want %d", n, tc.saved)
			}
		})
	}
}
