package imapd

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
)

// serveOne runs one session over a socketpair and returns the client end
// and a channel with Serve's result.
func serveOne(t *testing.T, ts *testServer, ctx context.Context, cfg Config, preamble []byte, greetTag string) (*lineConn, <-chan error) {
	t.Helper()
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := socketpair(t)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		err := NewSession(cfg, u, srv, nil).Serve(ctx, preamble, greetTag)
		srv.Close()
		u.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cli.Close()
		<-finished
	})
	return &lineConn{t: t, br: bufio.NewReader(cli), w: cli}, done
}

func TestHandoffGreeting(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1)
	// The login process read "a1 LOGIN ..." and a pipelined SELECT; the
	// session answers the LOGIN's tag, then runs the SELECT.
	l, _ := serveOne(t, ts, context.Background(), Config{}, []byte("a2 SELECT INBOX\r\n"), "a1")
	got := l.until("a2 OK")
	if !strings.HasPrefix(got[0], "a1 OK [CAPABILITY IMAP4rev1 ") || !strings.HasSuffix(got[0], "] Logged in") {
		t.Fatalf("greeting %q", got[0])
	}
	if !contains(got, "* 1 EXISTS") {
		t.Fatalf("SELECT from the preamble: %q", got)
	}
}

func TestShutdown(t *testing.T) {
	for _, idle := range []bool{false, true} {
		name := map[bool]string{false: "between commands", true: "in IDLE"}[idle]
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			ctx, cancel := context.WithCancel(context.Background())
			l, done := serveOne(t, ts, ctx, Config{}, nil, "")
			l.until("* PREAUTH")
			if idle {
				l.send("i IDLE")
				l.until("+ idling")
			} else {
				l.send("n NOOP")
				l.until("n OK")
			}
			cancel()
			l.until("* BYE Server shutting down.")
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Serve returned nil after shutdown")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := newTestServer(t, Config{})
	l, _ := serveOne(t, ts, context.Background(), Config{IdleTimeout: 100 * time.Millisecond}, nil, "")
	l.until("* PREAUTH")
	l.until("* BYE Disconnected for inactivity.")
}

func TestIdleKeepalive(t *testing.T) {
	ts := newTestServer(t, Config{})
	// IDLE is exempt from the idle timeout and says it is still there.
	l, _ := serveOne(t, ts, context.Background(), Config{IdleTimeout: 50 * time.Millisecond, Keepalive: 100 * time.Millisecond}, nil, "")
	l.until("* PREAUTH")
	l.send("i IDLE")
	l.until("+ idling")
	l.until("* OK Still here")
	l.until("* OK Still here")
	l.send("DONE")
	l.until("i OK Idle completed.")
}

// countConn counts writes to the connection.
type countConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestCorkedOutput: pipelined commands and a FETCH over many messages are
// answered in a few large writes, not one per response.
func TestCorkedOutput(t *testing.T) {
	ts := newTestServer(t, Config{})
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	sv, _ := mb.BeginSave()
	const n = 500
	for i := 0; i < n; i++ {
		if err := sv.Append(strings.NewReader(msg1), storage.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := sv.Commit(); err != nil {
		t.Fatal(err)
	}
	mb.Close()
	u.Close()

	u, err = ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	srv, cli := socketpair(t)
	cc := &countConn{Conn: srv}
	done := make(chan error, 1)
	go func() { done <- NewSession(Config{}, u, cc, nil).Serve(context.Background(), nil, "") }()
	br := bufio.NewReader(cli)
	l := &lineConn{t: t, br: br, w: cli}
	l.until("* PREAUTH")
	cc.mu.Lock()
	cc.writes = 0
	cc.mu.Unlock()
	// One burst: the whole input is buffered before the session reads it.
	l.send("a SELECT INBOX\r\nb FETCH 1:* (UID FLAGS)\r\nc NOOP\r\nd LOGOUT")
	got := l.until("d OK")
	fetches := 0
	for _, line := range got {
		if strings.Contains(line, " FETCH (UID ") {
			fetches++
		}
	}
	if fetches != n {
		t.Fatalf("%d FETCH responses, want %d", fetches, n)
	}
	<-done
	cli.Close()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	// 500 lines of ~40 bytes are ~20 KiB: a handful of buffer-sized
	// writes, never one per line.
	if cc.writes > 10 {
		t.Fatalf("%d writes for %d responses", cc.writes, n)
	}
}
