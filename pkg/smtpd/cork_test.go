package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog is the server side of a connection, recording every write that
// reaches the socket (what the corking layer flushes).
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *writeLog) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

func (w *writeLog) since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes[n:]...)
}

// startLogged serves one connection and hands back its write log.
func startLogged(t *testing.T, cfg Config, kind Conn) (string, <-chan *writeLog) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := make(chan *writeLog, 1)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		wl := &writeLog{Conn: c}
		logs <- wl
		srv.Serve(ctx, wl, kind)
	}()
	return ln.Addr().String(), logs
}

// lineClient reads replies from a plain or TLS connection.
type lineClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (lc *lineClient) send(s string) {
	lc.t.Helper()
	if _, err := lc.c.Write([]byte(s)); err != nil {
		lc.t.Fatal(err)
	}
}

// expect reads one whole reply (its final line starts with prefix).
func (lc *lineClient) expect(prefix string) {
	lc.t.Helper()
	for {
		l, err := lc.r.ReadString('\n')
		if err != nil {
			lc.t.Fatalf("read (want %q): %v", prefix, err)
		}
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		if !strings.HasPrefix(l, prefix) {
			lc.t.Fatalf("got %q, want %q", l, prefix)
		}
		return
	}
}

func (lc *lineClient) startTLS() {
	lc.t.Helper()
	tc := tls.Client(lc.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		lc.t.Fatal(err)
	}
	lc.c, lc.r = tc, bufio.NewReader(tc)
}

// TestCorkedReplies: the replies to a pipelined MAIL/RCPT/DATA group
// leave the server in one write, the reply to the end of data goes out
// by itself before anything pipelined after it is answered, and a client
// that waits for each reply gets it (no reply is held while the server
// waits for the client: a held one would end the test in a read timeout).
func TestCorkedReplies(t *testing.T) {
	cases := []struct {
		name     string
		kind     Conn
		starttls bool
		login    string // AUTH PLAIN response, on submission
		from, to string
	}{
		{"plain", mx, false, "", "sender@remote.example", "alice@example.org"},
		{"starttls", mx, true, "", "sender@remote.example", "alice@example.org"},
		{"implicit-tls", implicit, false, "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==", "alice@example.org", "bob@example.org"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := baseConfig(t)
			addr, logs := startLogged(t, e.cfg, c.kind)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			lc := &lineClient{t: t, c: raw, r: bufio.NewReader(raw)}
			if c.kind.SSL {
				lc.startTLS()
			}
			wl := <-logs
			lc.expect("220 ")
			// Lock step: each command is sent only after its reply came.
			// The EHLO reply's lines (one flush each in go-smtp) leave in
			// one write.
			before := wl.count()
			lc.send("EHLO client.example\r\n")
			lc.expect("250 ")
			if w := wl.since(before); len(w) != 1 {
				t.Fatalf("the EHLO reply took %d writes, want 1", len(w))
			}
			if c.starttls {
				lc.send("STARTTLS\r\n")
				lc.expect("220 ")
				lc.startTLS()
				lc.send("EHLO client.example\r\n")
				lc.expect("250 ")
			}
			if c.login != "" {
				lc.send("AUTH PLAIN " + c.login + "\r\n")
				lc.expect("235 ")
			}
			lc.send("NOOP\r\n")
			lc.expect("250 ")

			before = wl.count()
			group := fmt.Sprintf("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", c.from, c.to)
			lc.send(group)
			if c.kind.SSL || c.starttls {
				lc.expect("250 ")
				lc.expect("250 ")
				lc.expect("354 ")
			} else {
				// One read of the raw socket holds all three replies.
				buf := make([]byte, 4096)
				n, err := raw.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				got := string(buf[:n])
				if lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n"); len(lines) != 3 ||
					!strings.HasPrefix(lines[0], "250 ") || !strings.HasPrefix(lines[1], "250 ") || !strings.HasPrefix(lines[2], "354 ") {
					t.Fatalf("one read got %q, want the three replies", got)
				}
			}
			if w := wl.since(before); len(w) != 1 {
				t.Fatalf("the group's replies took %d writes, want 1: %q", len(w), w)
			}

			// The end of data with the next MAIL/RCPT pipelined behind it:
			// the 250 for the message is a write of its own, the two
			// replies after it share one.
			before = wl.count()
			lc.send("Subject: t\r\n\r\nbody\r\n.\r\n" + fmt.Sprintf("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n", c.from, c.to))
			lc.expect("250 2.0.0 Ok: queued as ")
			lc.expect("250 ")
			lc.expect("250 ")
			if w := wl.since(before); len(w) != 2 {
				t.Fatalf("replies after the dot took %d writes, want 2 (queued, then MAIL+RCPT): %q", len(w), w)
			}
			lc.send("RSET\r\n")
			lc.expect("250 ")
			lc.send("QUIT\r\n")
			lc.expect("221 ")
			if n := len(e.sink.messages()); n != 1 {
				t.Fatalf("%d messages queued, want 1", n)
			}
		})
	}
}

// countUsers counts lookups per name.
type countUsers struct {
	mu    sync.Mutex
	users map[string]bool
	calls map[string]int
	fail  bool
}

func (u *countUsers) Exists(_ context.Context, name string) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls[name]++
	if u.fail {
		return false, errors.New("userdb down")
	}
	return u.users[name], nil
}

func TestUserCache(t *testing.T) {
	type step struct {
		advance   time.Duration
		name      string
		fail      bool
		want      bool
		wantErr   bool
		wantCalls int // lookups of name so far
	}
	cases := []struct {
		name  string
		max   int
		steps []step
	}{
		{"positive-hit", 10, []step{
			{0, "a", false, true, false, 1},
			{time.Second, "a", false, true, false, 1},
		}},
		{"negative-hit", 10, []step{
			{0, "nobody", false, false, false, 1},
			{time.Second, "nobody", false, false, false, 1},
		}},
		{"expires", 10, []step{
			{0, "a", false, true, false, 1},
			{5 * time.Second, "a", false, true, false, 2},
			{4 * time.Second, "a", false, true, false, 2},
		}},
		{"errors-not-cached", 10, []step{
			{0, "a", true, false, true, 1},
			{0, "a", false, true, false, 2},
			{0, "a", false, true, false, 2},
		}},
		{"bounded", 2, []step{
			{0, "a", false, true, false, 1},
			{0, "b", false, true, false, 1},
			{0, "nobody", false, false, false, 1},
			{0, "c", false, true, false, 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &countUsers{users: map[string]bool{"a": true, "b": true, "c": true}, calls: map[string]int{}}
			uc := NewUserCache(u, 5*time.Second, c.max)
			now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
			uc.now = func() time.Time { return now }
			for i, s := range c.steps {
				now = now.Add(s.advance)
				u.mu.Lock()
				u.fail = s.fail
				u.mu.Unlock()
				got, err := uc.Exists(context.Background(), s.name)
				if (err != nil) != s.wantErr || got != s.want {
					t.Fatalf("step %d: Exists(%q) = %v, %v; want %v, error %v", i, s.name, got, err, s.want, s.wantErr)
				}
				if n := u.calls[s.name]; n != s.wantCalls {
					t.Fatalf("step %d: %d lookups of %q, want %d", i, n, s.name, s.wantCalls)
				}
				if len(uc.m) > c.max {
					t.Fatalf("step %d: %d cached names, max %d", i, len(uc.m), c.max)
				}
			}
		})
	}
}
