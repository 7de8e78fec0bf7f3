package pop3d

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestCorkedOutput: a pipelined batch (here in the preamble, so it is all
// buffered before the first response) is answered in one write: the
// session flushes only when no complete command is waiting (RFC 2449
// §6.6), never per line or per message.
func TestCorkedOutput(t *testing.T) {
	h := newHarness(t)
	h.deliver(t, msg1, msg2, msg3)
	srv, cli := socketpair(t)
	cc := &countingConn{Conn: srv}
	u := h.openUser(t)
	defer u.Close()
	done := make(chan error, 1)
	go func() {
		done <- NewSession(Config{}, u, cc, nil).Serve(context.Background(), []byte("CAPA\r\nLIST\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nTOP 1 0\r\nQUIT\r\n"))
		srv.Close()
	}()
	out, err := io.ReadAll(cli)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The greeting goes first, alone, before the preamble is read.
	if n := cc.writes.Load(); n > 2 {
		t.Errorf("%d writes for one pipelined batch, want at most 2", n)
	}
	if !strings.HasSuffix(string(out), "+OK Logging out.\r\n") || strings.Count(string(out), " octets\r\n") != 3 {
		t.Errorf("output:\n%s", out)
	}
}

// TestShutdown: when the server stops, a waiting client is told why.
func TestShutdown(t *testing.T) {
	h := newHarness(t)
	srv, cli := socketpair(t)
	defer cli.Close()
	u := h.openUser(t)
	defer u.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewSession(Config{}, u, srv, nil).Serve(ctx, nil)
		srv.Close()
	}()
	c := newClient(t, cli)
	if st := c.cmd("NOOP"); st != "+OK" {
		t.Fatal(st)
	}
	cancel()
	if l := c.line(); l != "-ERR [SYS/TEMP] Server shutting down." {
		t.Fatal(l)
	}
	select {
	case err := <-done:
		if err != errShutdown {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
}
