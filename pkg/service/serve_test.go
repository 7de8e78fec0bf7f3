package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cote-mail/cote/pkg/ipc"
)

// testTimeout bounds every wait of these tests; none is a readiness sleep.
const testTimeout = 20 * time.Second

type harness struct {
	rt       *Runtime
	logs     *observer.ObservedLogs
	status   chan string // status lines as the master would read them
	control  *os.File    // write end of the control pipe
	events   chan string // test hook events
	addrs    []string
	serveErr chan error
}

// newHarness builds a Runtime on n loopback listeners, attached to real
// status and control pipes.
func newHarness(t *testing.T, clientLimit, serviceCount, n int) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	var ls []*Listener
	var addrs []string
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		ls = append(ls, &Listener{ListenerSpec: ipc.ListenerSpec{Name: fmt.Sprintf("l%d", i)}, Listener: ln})
		addrs = append(addrs, ln.Addr().String())
	}
	rt := New("test", nil, zap.New(core), ls)
	rt.Service.ClientLimit = clientLimit
	rt.Service.ServiceCount = serviceCount

	sr, sw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cr, cw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sr.Close(); sw.Close(); cr.Close(); cw.Close() })
	h := &harness{rt: rt, logs: logs, status: make(chan string, 100), control: cw,
		events: make(chan string, 100), addrs: addrs, serveErr: make(chan error, 1)}
	rt.hook = func(ev string) {
		select {
		case h.events <- ev:
		default:
		}
	}
	rt.attach(sw, cr)
	go func() {
		br := bufio.NewReader(sr)
		for {
			m, err := ipc.ReadMessage(br)
			if err != nil {
				close(h.status)
				return
			}
			h.status <- m.String()
		}
	}()
	return h
}

func (h *harness) serve(t *testing.T, ctx context.Context, hd Handler) {
	t.Helper()
	go func() { h.serveErr <- h.rt.Serve(ctx, hd) }()
	t.Cleanup(func() {
		// A Serve still running at the end is a leak: shut it down and wait.
		h.rt.shutdown()
		select {
		case <-h.serveErr:
		case <-time.After(testTimeout):
			t.Error("Serve did not return after shutdown")
		}
	})
}

// waitServe waits for Serve to return and gives its error.
func (h *harness) waitServe(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.serveErr:
		h.serveErr <- err // for the cleanup
		return err
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return")
		return nil
	}
}

// expectStatus reads status lines until want, failing on anything in bad.
func (h *harness) expectStatus(t *testing.T, want string) {
	t.Helper()
	for {
		select {
		case got, ok := <-h.status:
			if !ok {
				t.Fatalf("status pipe closed while waiting for %q", want)
			}
			if got == want {
				return
			}
		case <-time.After(testTimeout):
			t.Fatalf("no status %q", want)
		}
	}
}

func (h *harness) control1(t *testing.T, verb string) {
	t.Helper()
	if err := ipc.WriteMessage(h.control, ipc.Message{Verb: verb}); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) waitEvent(t *testing.T, want string) {
	t.Helper()
	for {
		select {
		case ev := <-h.events:
			if ev == want {
				return
			}
		case <-time.After(testTimeout):
			t.Fatalf("no event %q", want)
		}
	}
}

// greeter writes "hi" then waits for the client to close or ctx to end; on
// ctx it writes "BYE". It reports each handler's ctx error when it returns.
type greeter struct {
	active, maxActive atomic.Int32
	ended             chan error
}

func newGreeter() *greeter { return &greeter{ended: make(chan error, 100)} }

func (g *greeter) handle(ctx context.Context, c net.Conn, l *Listener) {
	n := g.active.Add(1)
	for {
		m := g.maxActive.Load()
		if n <= m || g.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	defer g.active.Add(-1)
	io.WriteString(c, "hi "+l.Name+"\n")
	readDone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(readDone)
	}()
	select {
	case <-readDone:
	case <-ctx.Done():
		io.WriteString(c, "BYE\n")
	}
	g.ended <- ctx.Err()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c, bufio.NewReader(c)
}

func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	s, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, s)
	}
	return s[:len(s)-1]
}

func TestClientLimit(t *testing.T) {
	h := newHarness(t, 2, 0, 1)
	g := newGreeter()
	h.serve(t, context.Background(), g.handle)
	h.expectStatus(t, "ready 2")

	c1, r1 := dial(t, h.addrs[0])
	if got := readLine(t, r1); got != "hi l0" {
		t.Fatalf("c1 greeting %q", got)
	}
	_, r2 := dial(t, h.addrs[0])
	readLine(t, r2)
	h.expectStatus(t, "avail 0")
	// The accept loop now parks without calling Accept; a third client
	// stays in the backlog until a slot frees.
	h.waitEvent(t, eventSlotsFull)
	_, r3 := dial(t, h.addrs[0])
	c1.Close()
	if got := readLine(t, r3); got != "hi l0" {
		t.Fatalf("c3 greeting %q", got)
	}
	if m := g.maxActive.Load(); m != 2 {
		t.Errorf("max concurrent handlers = %d, want 2", m)
	}
}

func TestServiceCount(t *testing.T) {
	h := newHarness(t, 10, 1, 1)
	g := newGreeter()
	h.serve(t, context.Background(), g.handle)
	h.expectStatus(t, "ready 10")
	c1, r1 := dial(t, h.addrs[0])
	readLine(t, r1)
	// Listeners are closed before "done" is written.
	h.expectStatus(t, "done")
	if c, err := net.Dial("tcp", h.addrs[0]); err == nil {
		c.Close()
		t.Fatal("second client connected after service_count 1")
	}
	c1.Close()
	if err := h.waitServe(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := <-g.ended; err != nil {
		t.Errorf("handler ctx: %v, want not cancelled", err)
	}
}

func TestStopAndShutdown(t *testing.T) {
	tests := []struct {
		name string
		// end tells the service to stop or shut down.
		end func(t *testing.T, h *harness, cancel context.CancelFunc)
		// graceful: clients are finished, not cancelled.
		graceful bool
		// doneSeen: end already read the "done" line.
		doneSeen bool
	}{
		{"control stop", func(t *testing.T, h *harness, _ context.CancelFunc) { h.control1(t, ipc.ControlStop) }, true, false},
		{"control EOF", func(t *testing.T, h *harness, _ context.CancelFunc) { h.control.Close() }, true, false},
		{"control shutdown", func(t *testing.T, h *harness, _ context.CancelFunc) { h.control1(t, ipc.ControlShutdown) }, false, false},
		{"ctx cancelled", func(t *testing.T, h *harness, cancel context.CancelFunc) { cancel() }, false, false},
		{"stop then shutdown", func(t *testing.T, h *harness, _ context.CancelFunc) {
			h.control1(t, ipc.ControlStop)
			h.expectStatus(t, "done")
			h.control1(t, ipc.ControlShutdown)
		}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 5, 0, 2)
			g := newGreeter()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.serve(t, ctx, g.handle)
			h.expectStatus(t, "ready 5")
			c1, r1 := dial(t, h.addrs[0])
			readLine(t, r1)
			c2, r2 := dial(t, h.addrs[1])
			if got := readLine(t, r2); got != "hi l1" {
				t.Fatalf("greeting %q", got)
			}

			tc.end(t, h, cancel)
			if !tc.doneSeen {
				h.expectStatus(t, "done")
			}
			for _, a := range h.addrs {
				if c, err := net.Dial("tcp", a); err == nil {
					c.Close()
					t.Fatalf("%s still accepts after done", a)
				}
			}
			if tc.graceful {
				// Clients keep their sessions until they leave.
				io.WriteString(c1, "still here\n")
				c1.Close()
				c2.Close()
			} else {
				for _, r := range []*bufio.Reader{r1, r2} {
					if got := readLine(t, r); got != "BYE" {
						t.Fatalf("got %q, want BYE", got)
					}
				}
			}
			if err := h.waitServe(t); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			for range 2 {
				err := <-g.ended
				if tc.graceful && err != nil {
					t.Errorf("handler ctx %v on a graceful stop", err)
				}
				if !tc.graceful && err == nil {
					t.Errorf("handler ctx not cancelled on shutdown")
				}
			}
			if n := g.active.Load(); n != 0 {
				t.Errorf("%d handlers still active after Serve returned", n)
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	h := newHarness(t, 5, 0, 1)
	var calls atomic.Int32
	h.serve(t, context.Background(), func(ctx context.Context, c net.Conn, l *Listener) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		io.WriteString(c, "ok\n")
	})
	h.expectStatus(t, "ready 5")
	_, r1 := dial(t, h.addrs[0])
	if _, err := r1.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("panicking handler's connection: %v, want EOF", err)
	}
	_, r2 := dial(t, h.addrs[0])
	if got := readLine(t, r2); got != "ok" {
		t.Fatalf("next client got %q", got)
	}
	if n := h.logs.FilterMessage("connection handler panicked; connection closed").Len(); n != 1 {
		t.Errorf("panic logged %d times, want 1", n)
	}
	// The panicking handler's slot came back.
	h.control1(t, ipc.ControlStop)
	if err := h.waitServe(t); err != nil {
		t.Fatal(err)
	}
}

// flakyListener fails Accept with errs first, then accepts from the real one.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func TestAcceptBackoff(t *testing.T) {
	opErr := func(e syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
	}
	h := newHarness(t, 5, 0, 1)
	l := h.rt.Listeners[0]
	l.Listener = &flakyListener{Listener: l.Listener,
		errs: []error{opErr(syscall.EMFILE), opErr(syscall.EMFILE), opErr(syscall.ENFILE), opErr(syscall.ECONNABORTED)}}
	var mu sync.Mutex
	var delays []time.Duration
	h.rt.sleep = func(d time.Duration, stop <-chan struct{}) bool {
		mu.Lock()
		delays = append(delays, d)
		mu.Unlock()
		return true
	}
	h.serve(t, context.Background(), func(ctx context.Context, c net.Conn, l *Listener) {
		io.WriteString(c, "ok\n")
	})
	_, r := dial(t, h.addrs[0])
	if got := readLine(t, r); got != "ok" {
		t.Fatalf("got %q", got)
	}
	mu.Lock()
	got := fmt.Sprint(delays)
	mu.Unlock()
	if want := "[5ms 10ms 20ms 40ms]"; got != want {
		t.Errorf("backoff delays %s, want %s", got, want)
	}
}

func TestListenerFailure(t *testing.T) {
	h := newHarness(t, 5, 0, 1)
	l := h.rt.Listeners[0]
	perm := errors.New("listener broke")
	l.Listener = &flakyListener{Listener: l.Listener, errs: []error{perm}}
	h.serve(t, context.Background(), func(ctx context.Context, c net.Conn, l *Listener) {})
	h.expectStatus(t, "done")
	if err := h.waitServe(t); !errors.Is(err, perm) {
		t.Fatalf("Serve: %v, want %v", err, perm)
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"EMFILE", &net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{"ENFILE", syscall.ENFILE, true},
		{"ECONNABORTED", syscall.ECONNABORTED, true},
		{"closed", net.ErrClosed, false},
		{"wrapped closed", &net.OpError{Op: "accept", Err: net.ErrClosed}, false},
		{"other", errors.New("x"), false},
		{"EBADF", syscall.EBADF, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := temporary(tc.err); got != tc.want {
				t.Errorf("temporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestServeTwice(t *testing.T) {
	rt := New("test", nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rt.Serve(ctx, nil); err != nil {
		t.Fatalf("first Serve: %v", err)
	}
	if err := rt.Serve(ctx, nil); err == nil {
		t.Error("second Serve did not fail")
	}
}

// blockingWriter blocks its first write until release is closed.
type blockingWriter struct {
	mu      sync.Mutex
	lines   []string
	first   bool
	entered chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	first := !w.first
	w.first = true
	w.mu.Unlock()
	if first {
		close(w.entered)
		<-w.release
	}
	w.mu.Lock()
	w.lines = append(w.lines, string(p))
	w.mu.Unlock()
	return len(p), nil
}

func TestStatusCoalesce(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	s := newStatusWriter(w, zap.NewNop())
	// ready blocks in the first write; run it aside.
	readyDone := make(chan struct{})
	go func() { s.ready(100); close(readyDone) }()
	<-w.entered
	for i := 99; i >= 0; i-- {
		s.set(i)
	}
	close(w.release)
	<-readyDone
	s.set(0) // a burst's last value, already pending: no second line
	s.markDone()
	s.set(7) // after done: never reported
	s.close()
	w.mu.Lock()
	got := fmt.Sprintf("%q", w.lines)
	w.mu.Unlock()
	// "avail 0" may be written before or after markDone took the write
	// lock; both orders are correct, nothing else is.
	ok1 := `["ready 100\n" "avail 0\n" "done\n"]`
	ok2 := `["ready 100\n" "done\n"]`
	if got != ok1 && got != ok2 {
		t.Errorf("status lines %s, want %s or %s", got, ok1, ok2)
	}
}
