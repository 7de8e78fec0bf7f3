package service

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
)

// TestOverflowHook: control "overflow" calls the OnOverflow function and
// reports what it did; without one the line is ignored and the process
// keeps serving.
func TestOverflowHook(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  bool
		ret  bool
		want string
	}{
		{"no function", false, false, "overflow-ignored"},
		{"evicted", true, true, "overflow-evicted"},
		{"nothing to evict", true, false, "overflow-none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 1, 0, 1)
			calls := make(chan struct{}, 1)
			if tc.set {
				h.rt.OnOverflow(func() bool {
					calls <- struct{}{}
					return tc.ret
				})
			}
			h.control1(t, ipc.ControlOverflow)
			h.waitEvent(t, tc.want)
			if got := len(calls); tc.set && got != 1 {
				t.Fatalf("OnOverflow called %d times, want 1", got)
			}
			// The control pipe is still read: stop is obeyed.
			h.serve(t, context.Background(), func(context.Context, net.Conn, *Listener) {})
			h.expectStatus(t, "ready 1")
			h.control1(t, ipc.ControlStop)
			if err := h.waitServe(t); err != nil {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}

// TestOverflowFreesSlot: with client_limit 1 taken, a second client waits
// in the backlog; "overflow" evicts the first (its handler returns), and
// the second is accepted into the freed slot.
func TestOverflowFreesSlot(t *testing.T) {
	h := newHarness(t, 1, 0, 1)
	var mu sync.Mutex
	var conns []net.Conn // in accept order
	h.rt.OnOverflow(func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(conns) == 0 {
			return false
		}
		// As login.Server.EvictOldest: a deadline ends the session.
		conns[0].SetDeadline(time.Now())
		conns = conns[1:]
		return true
	})
	h.serve(t, context.Background(), func(ctx context.Context, c net.Conn, l *Listener) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		if _, err := c.Write([]byte("hi\r\n")); err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					// Evicted: say so, as a login session says BYE.
					c.SetDeadline(time.Time{})
					c.Write([]byte("BYE evicted\r\n"))
				}
				return
			}
		}
	})
	h.expectStatus(t, "ready 1")
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", h.addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(testTimeout))
		return c, bufio.NewReader(c)
	}
	line := func(br *bufio.Reader) string {
		s, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return strings.TrimSpace(s)
	}
	_, br1 := dial()
	if got := line(br1); got != "hi" {
		t.Fatalf("first greeting %q", got)
	}
	h.expectStatus(t, "avail 0")
	h.waitEvent(t, eventSlotsFull)
	_, br2 := dial()
	h.control1(t, ipc.ControlOverflow)
	if got := line(br1); got != "BYE evicted" {
		t.Fatalf("first client got %q, want the eviction", got)
	}
	if got := line(br2); got != "hi" {
		t.Fatalf("second greeting %q", got)
	}
}
