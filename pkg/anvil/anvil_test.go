package anvil

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the penalty expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testServer serves a Server on a unix socket in a temp dir until the test
// ends; the cleanup waits for every connection goroutine.
type testServer struct {
	srv   *Server
	path  string
	clock *fakeClock
	ln    net.Listener
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{srv: NewServer(nil), path: filepath.Join(t.TempDir(), "anvil"),
		clock: &fakeClock{t: time.Unix(1_700_000_000, 0)}}
	ts.srv.now = ts.clock.now
	ts.listen(t)
	return ts
}

func (ts *testServer) listen(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.ln, ts.stop = ln, cancel
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				defer c.Close()
				ts.srv.ServeConn(ctx, c)
			}()
		}
	}()
	t.Cleanup(ts.close)
}

// close stops the listener and every connection, as an anvil exit would.
func (ts *testServer) close() {
	ts.ln.Close()
	ts.stop()
	ts.wg.Wait()
}

func dial(t *testing.T, ts *testServer) *Client {
	t.Helper()
	c, err := Dial(context.Background(), ts.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("2001:db8::2")
)

func mustLookup(t *testing.T, c *Client, service, user string, ip netip.Addr, want int) {
	t.Helper()
	n, err := c.Lookup(service, user, ip)
	if err != nil {
		t.Fatalf("Lookup(%s, %s, %v): %v", service, user, ip, err)
	}
	if n != want {
		t.Errorf("Lookup(%s, %s, %v) = %d, want %d", service, user, ip, n, want)
	}
}

func TestConnectionCounts(t *testing.T) {
	ts := startServer(t)
	a, b := dial(t, ts), dial(t, ts)
	steps := []struct {
		name string
		do   func() error
		want map[[3]string]int // service, user, ip -> count
	}{
		{"first connect", func() error { return a.Connect(100, "imap", "alice", ip1) },
			map[[3]string]int{{"imap", "alice", "192.0.2.1"}: 1}},
		{"same ident other process", func() error { return b.Connect(200, "imap", "alice", ip1) },
			map[[3]string]int{{"imap", "alice", "192.0.2.1"}: 2}},
		{"other ip", func() error { return a.Connect(100, "imap", "alice", ip2) },
			map[[3]string]int{{"imap", "alice", "192.0.2.1"}: 2, {"imap", "alice", "2001:db8::2"}: 1}},
		{"other service", func() error { return a.Connect(100, "pop3", "alice", ip1) },
			map[[3]string]int{{"imap", "alice", "192.0.2.1"}: 2, {"pop3", "alice", "192.0.2.1"}: 1}},
		{"disconnect", func() error { return b.Disconnect(200, "imap", "alice", ip1) },
			map[[3]string]int{{"imap", "alice", "192.0.2.1"}: 1}},
		{"kill pid", func() error { return b.Kill(100) },
			map[[3]string]int{{"imap", "alice", "192.0.2.1"}: 0, {"imap", "alice", "2001:db8::2"}: 0, {"pop3", "alice", "192.0.2.1"}: 0}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		// CONNECT has no reply: a round trip on each client orders its
		// earlier lines before the lookups below.
		mustLookup(t, a, "sync", "", netip.Addr{}, 0)
		mustLookup(t, b, "sync", "", netip.Addr{}, 0)
		for k, want := range st.want {
			mustLookup(t, b, k[0], k[1], netip.MustParseAddr(k[2]), want)
		}
	}
	if err := b.Disconnect(200, "imap", "alice", ip1); err == nil {
		t.Error("Disconnect without Connect: no error")
	}
}

func TestWho(t *testing.T) {
	ts := startServer(t)
	a := dial(t, ts)
	for _, c := range []struct {
		pid       int
		svc, user string
		ip        netip.Addr
	}{
		{10, "imap", "bob@example.com", ip1}, {10, "imap", "bob@example.com", ip1},
		{11, "imap", "a/b", ip2}, {12, "pop3", "carol", netip.Addr{}},
	} {
		if err := a.Connect(c.pid, c.svc, c.user, c.ip); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Who(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Conn{
		{Service: "imap", User: "bob@example.com", IP: ip1, PID: 10, Count: 2},
		{Service: "imap", User: "a/b", IP: ip2, PID: 11, Count: 1},
		{Service: "pop3", User: "carol", PID: 12, Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Who = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Who[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A closed client connection takes its registrations with it, and a
// client that redials after an anvil restart registers them again.
func TestReleaseAndReplay(t *testing.T) {
	ts := startServer(t)
	a, b := dial(t, ts), dial(t, ts)
	if err := a.Connect(1, "imap", "u", ip1); err != nil {
		t.Fatal(err)
	}
	// Each client's round trip orders its own CONNECT before the lookup.
	mustLookup(t, a, "imap", "u", ip1, 1)
	if err := b.Connect(2, "imap", "u", ip1); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, b, "imap", "u", ip1, 2)
	b.Close()
	// b's release runs when the server reads EOF; a Lookup is not ordered
	// after it, so poll on a request round trip (no sleep: each Lookup is
	// a real exchange and the release is already under way).
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := a.Lookup("imap", "u", ip1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("count stays %d after the client closed", n)
		}
	}

	// Restart anvil: all state is gone; a redials and replays its connect.
	ts.close()
	ts.listen(t)
	mustLookup(t, a, "imap", "u", ip1, 1)
	if err := a.Connect(1, "imap", "u", ip1); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, a, "imap", "u", ip1, 2)
}

func TestUnavailable(t *testing.T) {
	ts := startServer(t)
	a := dial(t, ts)
	ts.close()
	if _, err := a.Lookup("imap", "u", ip1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup with anvil down: %v, want ErrUnavailable", err)
	}
	if _, err := Dial(context.Background(), filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Dial of a missing socket: %v, want ErrUnavailable", err)
	}
}

func TestPenalty(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	get := func(ip netip.Addr) (int, time.Time) {
		t.Helper()
		p, last, err := c.PenaltyGet(ip)
		if err != nil {
			t.Fatal(err)
		}
		return p, last
	}
	if p, last := get(ip1); p != 0 || !last.IsZero() {
		t.Fatalf("fresh IP: penalty %d last %v", p, last)
	}
	steps := []struct {
		name     string
		checksum uint32
		value    int
		advance  time.Duration
		want     int
	}{
		{"first failure", 11, 1, 0, 1},
		{"new password", 22, 2, time.Second, 2},
		{"same password again", 22, 3, time.Second, 2},
		{"no checksum always sets", 0, 3, time.Second, 3},
		{"third distinct checksum", 33, 4, time.Second, 4},
		{"first checksum still in the ring", 11, 5, time.Second, 4},
		{"fourth distinct checksum", 44, 5, time.Second, 5},
		{"first checksum fell out of the ring", 11, 6, time.Second, 6},
	}
	for _, st := range steps {
		ts.clock.add(st.advance)
		if err := c.PenaltyInc(ip1, st.checksum, st.value); err != nil {
			t.Fatal(err)
		}
		if p, _ := get(ip1); p != st.want {
			t.Errorf("%s: penalty %d, want %d", st.name, p, st.want)
		}
	}
	if _, last := get(ip1); !last.Equal(ts.clock.now()) {
		t.Errorf("last penalty %v, want %v", last, ts.clock.now())
	}
	if p, _ := get(ip2); p != 0 {
		t.Errorf("other IP has penalty %d", p)
	}
	// An IPv4-mapped IPv6 address is the same IP.
	if p, _ := get(netip.MustParseAddr("::ffff:192.0.2.1")); p != 6 {
		t.Errorf("mapped address: penalty %d, want 6", p)
	}

	// Expiry counts from the last update, and is settable.
	ts.clock.add(DefaultPenaltyExpire - time.Second)
	if p, _ := get(ip1); p != 6 {
		t.Errorf("before expiry: penalty %d", p)
	}
	ts.clock.add(time.Second)
	if p, _ := get(ip1); p != 0 {
		t.Errorf("after expiry: penalty %d", p)
	}
	if err := c.PenaltySetExpire(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.PenaltyInc(ip2, 1, 1)
	ts.clock.add(10 * time.Second)
	ts.srv.Sweep()
	ts.srv.mu.Lock()
	n := len(ts.srv.penalties)
	ts.srv.mu.Unlock()
	if n != 0 {
		t.Errorf("Sweep left %d entries", n)
	}
}

// rawConn speaks the protocol by hand, as another implementation would.
func rawConn(t *testing.T, ts *testServer) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(time.Minute))
	return c, bufio.NewReader(c)
}

func TestRawProtocol(t *testing.T) {
	ts := startServer(t)
	c, r := rawConn(t, ts)
	send := "VERSION\tanvil\t1\t0\n" +
		"CONNECT\t7\timap/192.0.2.1/us\x01ter\n" +
		"CONNECT\t7\timap/192.0.2.1/us\x01ter\n" +
		"LOOKUP\timap/192.0.2.1/us\x01ter\n" +
		"PENALTY-INC\t192.0.2.9\t5\t3\n" +
		"PENALTY-GET\t192.0.2.9\n" +
		"CONNECT-DUMP\n" +
		"PENALTY-DUMP\n"
	if _, err := c.Write([]byte(send)); err != nil {
		t.Fatal(err)
	}
	ts0 := ts.clock.now().Unix()
	want := []string{
		"2",
		"3 " + itoa(ts0),
		"imap/192.0.2.1/us\x01ter\t7\t2", "",
		"192.0.2.9\t3\t" + itoa(ts0) + "\t" + itoa(ts0), "",
	}
	for i, w := range want {
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if got != w+"\n" {
			t.Errorf("reply %d = %q, want %q", i, got, w+"\n")
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Every bad line closes only that client's connection.
func TestBadLinesClose(t *testing.T) {
	cases := []struct{ name, send string }{
		{"no handshake", "LOOKUP\ta/b/c\n"},
		{"wrong major", "VERSION\tanvil\t2\t0\n"},
		{"other protocol", "VERSION\tauth\t1\t0\n"},
		{"unknown command", "VERSION\tanvil\t1\t0\nFOO\n"},
		{"missing argument", "VERSION\tanvil\t1\t0\nCONNECT\t1\n"},
		{"extra argument", "VERSION\tanvil\t1\t0\nKILL\t1\t2\n"},
		{"pid zero", "VERSION\tanvil\t1\t0\nKILL\t0\n"},
		{"pid not a number", "VERSION\tanvil\t1\t0\nKILL\t-1\n"},
		{"bad escape", "VERSION\tanvil\t1\t0\nLOOKUP\ta\x01x\n"},
		{"non-canonical ip", "VERSION\tanvil\t1\t0\nPENALTY-GET\t::ffff:1.2.3.4\n"},
		{"value too large", "VERSION\tanvil\t1\t0\nPENALTY-INC\t1.2.3.4\t1\t65536\n"},
		{"rate zero window", "VERSION\tanvil\t1\t0\nRATE\tsmtpd/1.2.3.4/\t0\n"},
		{"rate window too long", "VERSION\tanvil\t1\t0\nRATE\tsmtpd/1.2.3.4/\t86401\n"},
		{"rate empty ident", "VERSION\tanvil\t1\t0\nRATE\t\t60\n"},
		{"line too long", "VERSION\tanvil\t1\t0\nLOOKUP\t" + strings.Repeat("x", MaxLine+10) + "\n"},
	}
	ts := startServer(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, r := rawConn(t, ts)
			c.Write([]byte(tc.send))
			if l, err := r.ReadString('\n'); err == nil {
				t.Fatalf("server answered %q; want the connection closed", l)
			}
		})
	}
	// The service is still there.
	mustLookup(t, dial(t, ts), "imap", "u", ip1, 0)
}

func TestIdent(t *testing.T) {
	cases := []struct {
		name, svc, user string
		ip              netip.Addr
		want            string
	}{
		{"v4", "imap", "alice", ip1, "imap/192.0.2.1/alice"},
		{"mapped", "imap", "alice", netip.MustParseAddr("::ffff:192.0.2.1"), "imap/192.0.2.1/alice"},
		{"v6", "pop3", "a@b", ip2, "pop3/2001:db8::2/a@b"},
		{"no ip", "imap", "x/y", netip.Addr{}, "imap//x/y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Ident(tc.svc, tc.user, tc.ip)
			if got != tc.want {
				t.Fatalf("Ident = %q, want %q", got, tc.want)
			}
			svc, user, ip, ok := ParseIdent(got)
			if !ok || svc != tc.svc || user != tc.user || ip != tc.ip.Unmap() {
				t.Errorf("ParseIdent(%q) = %q %q %v %v", got, svc, user, ip, ok)
			}
		})
	}
}

// RATE (cote's extension): Postfix anvil's fixed window per ident, which
// restarts at the first event after it elapsed; Sweep forgets elapsed
// windows.
func TestRate(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	rate := func(ip netip.Addr, want int) {
		t.Helper()
		n, err := c.Rate("smtpd", "", ip, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("Rate(%v) = %d, want %d", ip, n, want)
		}
	}
	rate(ip1, 1)
	rate(ip1, 2)
	rate(ip2, 1)
	ts.clock.add(59 * time.Second)
	rate(ip1, 3) // still the window that started at the first event
	ts.clock.add(time.Second)
	rate(ip1, 1) // elapsed: a new window starts here
	rate(ip1, 2)
	// A second client shares the count (all smtpd processes do).
	rate2, err := dial(t, ts).Rate("smtpd", "", ip1, time.Minute)
	if err != nil || rate2 != 3 {
		t.Errorf("second client: %d %v, want 3", rate2, err)
	}
	ts.srv.mu.Lock()
	n := len(ts.srv.rates)
	ts.srv.mu.Unlock()
	if n != 2 {
		t.Errorf("%d rate entries, want 2", n)
	}
	ts.clock.add(time.Minute)
	ts.srv.Sweep()
	ts.srv.mu.Lock()
	n = len(ts.srv.rates)
	ts.srv.mu.Unlock()
	if n != 0 {
		t.Errorf("%d rate entries after the sweep, want 0", n)
	}
	// A sub-second window is one second, not an error.
	if n, err := c.Rate("smtpd", "", ip1, time.Millisecond); err != nil || n != 1 {
		t.Errorf("Rate(1ms) = %d %v", n, err)
	}
}

// The raw RATE line and its reply.
func TestRateRaw(t *testing.T) {
	ts := startServer(t)
	c, r := rawConn(t, ts)
	c.Write([]byte("VERSION\tanvil\t1\t0\nRATE\tsmtpd/192.0.2.1/\t60\nRATE\tsmtpd/192.0.2.1/\t60\n"))
	for _, want := range []string{"1\n", "2\n"} {
		got, err := r.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
}
