package auth

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cote-mail/cote/pkg/passwd"
)

// fakePenalties is an in-memory anvil penalty table.
type fakePenalties struct {
	mu   sync.Mutex
	n    map[netip.Addr]int
	last map[netip.Addr]time.Time
	incs []int
}

func newFakePenalties() *fakePenalties {
	return &fakePenalties{n: map[netip.Addr]int{}, last: map[netip.Addr]time.Time{}}
}

func (f *fakePenalties) PenaltyGet(ip netip.Addr) (int, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[ip], f.last[ip], nil
}

func (f *fakePenalties) PenaltyInc(ip netip.Addr, sum uint32, v int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[ip], f.last[ip] = v, time.Now()
	f.incs = append(f.incs, v)
	return nil
}

func (f *fakePenalties) set(ip netip.Addr, n int, last time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[ip], f.last[ip] = n, last
}

// testServer is a Server listening on real unix sockets.
type testServer struct {
	srv    *Server
	auth   *Auth
	dir    string
	client string // auth-client socket
	master string // auth-master socket
	userdb string // auth-userdb socket
	logs   *observer.ObservedLogs
	pen    *fakePenalties
	clock  *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testFailDelay = 60 * time.Millisecond

func startServer(t testing.TB, users, extraConf string) *testServer {
	t.Helper()
	dir := t.TempDir()
	path := writeFile(t, dir, "users", users)
	conf := "protocols = imap\nauth_mechanisms = plain login cram-md5 scram-sha-256\n" + extraConf +
		"passdb {\n  driver = passwd-file\n  args = " + path + "\n}\n" +
		"userdb {\n  driver = static\n  args = uid=vmail gid=vmail home=/var/vmail/%d/%n\n}\n"
	cfg := loadConfText(t, dir, conf)
	log, logs := observedLog()
	a, err := NewAuth(cfg, log, filepath.Join(dir, "auth-worker"))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{auth: a, dir: dir, logs: logs, pen: newFakePenalties(), clock: &fakeClock{t: time.Now()}}
	ts.srv, err = NewServer(cfg, log, a, Options{FailureDelay: testFailDelay, Penalties: ts.pen, PenaltyInit: 40 * time.Millisecond,
		PenaltyMax: 300 * time.Millisecond, Now: ts.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var lns []net.Listener
	for _, name := range []string{"auth-client", "auth-master", "auth-userdb"} {
		p := filepath.Join(dir, name)
		ln, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cw sync.WaitGroup
			defer cw.Wait()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				cw.Add(1)
				go func() {
					defer cw.Done()
					defer c.Close()
					ts.srv.Handle(ctx, c, name)
				}()
			}
		}()
		lns = append(lns, ln)
	}
	ts.client, ts.master, ts.userdb = filepath.Join(dir, "auth-client"), filepath.Join(dir, "auth-master"), filepath.Join(dir, "auth-userdb")
	// One cleanup, in order: stop accepting, end the sessions, wait for
	// every goroutine (a leak hangs the test).
	t.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
		cancel()
		wg.Wait()
	})
	return ts
}

// rawConn is a line client written from the protocol description.
type rawConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(line string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(line + "\n")); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) line() string {
	rc.t.Helper()
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// handshake reads the server greeting up to DONE and returns it; then it
// sends VERSION and CPID.
func (rc *rawConn) handshake() []string {
	rc.t.Helper()
	var got []string
	for {
		l := rc.line()
		got = append(got, l)
		if l == "DONE" {
			break
		}
	}
	rc.send("VERSION\t1\t2")
	rc.send(fmt.Sprintf("CPID\t%d", os.Getpid()))
	return got
}

func cookieOf(hs []string) string {
	for _, l := range hs {
		if v, ok := strings.CutPrefix(l, "COOKIE\t"); ok {
			return v
		}
	}
	return ""
}

func plainResp(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

const testUsers = "alice:{PLAIN}right\nbob:{SHA512-CRYPT}$6$abcdefgh$invalidinvalid\n"

func TestClientHandshake(t *testing.T) {
	ts := startServer(t, testUsers, "")
	rc := dialRaw(t, ts.client)
	hs := rc.handshake()
	want := []string{"VERSION\t1\t2", "MECH\tCRAM-MD5\tdictionary\tactive", "MECH\tLOGIN\tplaintext", "MECH\tPLAIN\tplaintext",
		"MECH\tSCRAM-SHA-256\tdictionary\tactive\tmutual-auth", "MECH\tSCRAM-SHA-256-PLUS\tmutual-auth"}
	for i, w := range want {
		if i >= len(hs) || !strings.HasPrefix(hs[i], strings.SplitN(w, "\t", 3)[0]) {
			t.Fatalf("handshake = %q", hs)
		}
	}
	if hs[0] != want[0] {
		t.Errorf("first line %q", hs[0])
	}
	var kinds []string
	for _, l := range hs {
		kinds = append(kinds, strings.SplitN(l, "\t", 2)[0])
	}
	if got := strings.Join(kinds, " "); got != "VERSION MECH MECH MECH MECH MECH SPID CUID COOKIE DONE" {
		t.Errorf("handshake kinds = %s (%q)", got, hs)
	}
	if c := cookieOf(hs); len(c) != 32 {
		t.Errorf("cookie %q", c)
	}
	if hs[6] != fmt.Sprintf("SPID\t%d", os.Getpid()) {
		t.Errorf("SPID line %q", hs[6])
	}
}

func TestAuthOKAndRedeem(t *testing.T) {
	ts := startServer(t, testUsers, "")
	rc := dialRaw(t, ts.client)
	cookie := cookieOf(rc.handshake())
	rc.send("AUTH\t1\tPLAIN\tservice=imap\tsecured\tlip=127.0.0.1\trip=192.0.2.10\tresp=" + plainResp("Alice", "right"))
	if got := rc.line(); got != "OK\t1\tuser=alice" {
		t.Fatalf("AUTH = %q", got)
	}
	// Without resp=: an empty continuation first.
	rc.send("AUTH\t2\tPLAIN\tservice=imap\tsecured")
	if got := rc.line(); got != "CONT\t2\t" {
		t.Fatalf("AUTH without resp = %q", got)
	}
	rc.send("CONT\t2\t" + plainResp("alice", "right"))
	if got := rc.line(); got != "OK\t2\tuser=alice" {
		t.Fatalf("CONT = %q", got)
	}

	pid := os.Getpid()
	m := dialRaw(t, ts.master)
	if got := m.line(); got != "VERSION\t1\t0" {
		t.Fatalf("master greeting %q", got)
	}
	m.line() // SPID
	m.send("VERSION\t1\t0")
	tests := []struct {
		name, req, want string
		advance         time.Duration
	}{
		{"other pid", fmt.Sprintf("REQUEST\t10\t%d\t1\t%s", pid+1, cookie), "FAIL\t10", 0},
		{"wrong cookie", fmt.Sprintf("REQUEST\t11\t%d\t2\t%s", pid, strings.Repeat("0", 32)), "FAIL\t11", 0},
		{"wrong cookie burnt the entry", fmt.Sprintf("REQUEST\t12\t%d\t2\t%s", pid, cookie), "FAIL\t12", 0},
		{"redeem", fmt.Sprintf("REQUEST\t13\t%d\t1\t%s", pid, cookie), "USER\t13\talice\tuid=vmail\tgid=vmail\thome=/var/vmail//alice", 0},
		{"second redeem", fmt.Sprintf("REQUEST\t14\t%d\t1\t%s", pid, cookie), "FAIL\t14", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.t = t
			m.send(tc.req)
			if got := m.line(); got != tc.want {
				t.Errorf("%s -> %q, want %q", tc.req, got, tc.want)
			}
		})
	}
	m.t = t

	// Expiry: authenticate again, move the clock past the lifetime.
	rc.send("AUTH\t3\tPLAIN\tservice=imap\tsecured\tresp=" + plainResp("alice", "right"))
	if got := rc.line(); got != "OK\t3\tuser=alice" {
		t.Fatalf("AUTH 3 = %q", got)
	}
	ts.clock.add(cookieLifetime + time.Second)
	m.send(fmt.Sprintf("REQUEST\t15\t%d\t3\t%s", pid, cookie))
	if got := m.line(); got != "FAIL\t15" {
		t.Errorf("expired redeem = %q", got)
	}
}

func TestFailIdenticalDelayedAndDummy(t *testing.T) {
	ts := startServer(t, testUsers, "")
	rc := dialRaw(t, ts.client)
	rc.handshake()
	type attempt struct {
		reply   string
		elapsed time.Duration
		dummies int64
	}
	try := func(id int, user, pw string) attempt {
		before := ts.auth.DummyVerifications()
		start := time.Now()
		rc.send(fmt.Sprintf("AUTH\t%d\tPLAIN\tservice=imap\tsecured\tno-penalty\tresp=%s", id, plainResp(user, pw)))
		l := rc.line()
		return attempt{strings.Replace(l, fmt.Sprint(id), "ID", 1), time.Since(start), ts.auth.DummyVerifications() - before}
	}
	wrong := try(1, "alice", "wrong")
	unknown := try(2, "nosuchuser", "wrong")
	if wrong.reply != unknown.reply || wrong.reply != "FAIL\tID" {
		t.Errorf("replies differ: wrong password %q, unknown user %q", wrong.reply, unknown.reply)
	}
	if unknown.dummies != 1 || wrong.dummies != 0 {
		t.Errorf("dummy verifications: unknown user %d (want 1), wrong password %d (want 0)", unknown.dummies, wrong.dummies)
	}
	for _, a := range []attempt{wrong, unknown} {
		if a.elapsed < testFailDelay {
			t.Errorf("FAIL after %v, want >= %v", a.elapsed, testFailDelay)
		}
	}
	if len(ts.pen.incs) != 0 {
		t.Errorf("no-penalty request raised the penalty: %v", ts.pen.incs)
	}
}

func TestPenaltyGrowth(t *testing.T) {
	ts := startServer(t, testUsers, "")
	rc := dialRaw(t, ts.client)
	rc.handshake()
	ip := netip.MustParseAddr("192.0.2.99")
	// Five failures with distinct passwords: 1 2 3 4 4 (capped).
	for i := 1; i <= 5; i++ {
		rc.send(fmt.Sprintf("AUTH\t%d\tPLAIN\tservice=imap\tsecured\trip=%s\tresp=%s", i, ip, plainResp("alice", fmt.Sprint("bad", i))))
		if got := rc.line(); got != fmt.Sprintf("FAIL\t%d", i) {
			t.Fatalf("attempt %d: %q", i, got)
		}
	}
	if got := fmt.Sprint(ts.pen.incs); got != "[1 2 3 4 4]" {
		t.Errorf("penalty values %s, want [1 2 3 4 4]", got)
	}
	// The wait before an AUTH grows with the penalty: init * 2^(n-1).
	tests := []struct {
		n    int
		want time.Duration
	}{{1, 40 * time.Millisecond}, {3, 160 * time.Millisecond}, {4, 300 * time.Millisecond}}
	for i, tc := range tests {
		t.Run(fmt.Sprint("penalty", tc.n), func(t *testing.T) {
			rc.t = t
			ts.pen.set(ip, tc.n, time.Now())
			start := time.Now()
			rc.send(fmt.Sprintf("AUTH\t%d\tPLAIN\tservice=imap\tsecured\trip=%s\tresp=%s", 10+i, ip, plainResp("alice", "right")))
			if got := rc.line(); got != fmt.Sprintf("OK\t%d\tuser=alice", 10+i) {
				t.Fatalf("got %q", got)
			}
			if el := time.Since(start); el < tc.want {
				t.Errorf("penalty %d: answered after %v, want >= %v", tc.n, el, tc.want)
			}
		})
	}
}

func TestPlaintextRefusedWhenNotSecured(t *testing.T) {
	ts := startServer(t, testUsers, "")
	rc := dialRaw(t, ts.client)
	rc.handshake()
	rc.send("AUTH\t1\tPLAIN\tservice=imap\tno-penalty\tresp=" + plainResp("alice", "right"))
	if got := rc.line(); got != "FAIL\t1\treason=Plaintext authentication disabled." {
		t.Errorf("got %q", got)
	}
	rc.send("AUTH\t2\tNTLM\tservice=imap\tsecured\tno-penalty")
	if got := rc.line(); got != "FAIL\t2\treason=Unsupported authentication mechanism." {
		t.Errorf("got %q", got)
	}
}

func TestMalformedLineClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, testUsers, "")
	tests := []struct{ name, line string }{
		{"unknown command", "BOGUS\t1"},
		{"auth before cpid", "AUTH\t1\tPLAIN\tservice=imap"},
		{"bad id", "AUTH\tx\tPLAIN\tservice=imap"},
		{"bad base64", "AUTH\t1\tPLAIN\tservice=imap\tresp=!!!"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts.client)
			for l := rc.line(); l != "DONE"; l = rc.line() {
			}
			rc.send("VERSION\t1\t2")
			if tc.name != "auth before cpid" {
				rc.send(fmt.Sprintf("CPID\t%d", os.Getpid()))
			}
			rc.send(tc.line)
			if l, err := rc.r.ReadString('\n'); err == nil {
				t.Errorf("connection stayed open, got %q", l)
			}
		})
	}
	rc := dialRaw(t, ts.client)
	rc.handshake()
	rc.send("AUTH\t1\tPLAIN\tservice=imap\tsecured\tresp=" + plainResp("alice", "right"))
	if got := rc.line(); got != "OK\t1\tuser=alice" {
		t.Errorf("after malformed connections: %q", got)
	}
}

func TestUserdbSocket(t *testing.T) {
	ts := startServer(t, "alice:{PLAIN}right:1000:1000::/home/alice\n", "")
	u := dialRaw(t, ts.userdb)
	u.line()
	u.line()
	u.send("VERSION\t1\t0")
	tests := []struct{ req, want string }{
		{"USER\t1\talice\tservice=lmtp", "USER\t1\talice\tuid=vmail\tgid=vmail\thome=/var/vmail//alice"},
		{"USER\t2\tnobody\tservice=lmtp", "NOTFOUND\t2"},
		{"REQUEST\t3\t1\t1\t" + strings.Repeat("a", 32), "FAIL\t3\treason=REQUEST is only allowed on auth-master"},
	}
	for _, tc := range tests {
		u.send(tc.req)
		if got := u.line(); got != tc.want {
			t.Errorf("%q -> %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	h, err := passwd.Hash("SHA512-CRYPT", "", "Sup3r-Secret", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "carol:"+h+"\n", "")
	rc := dialRaw(t, ts.client)
	rc.handshake()
	secrets := []string{"Sup3r-Secret", "Wr0ng-Guess", h, plainResp("carol", "Sup3r-Secret"), plainResp("carol", "Wr0ng-Guess"),
		base64.StdEncoding.EncodeToString([]byte("Wr0ng-Guess"))}
	rc.send("AUTH\t1\tPLAIN\tservice=imap\tsecured\tresp=" + plainResp("carol", "Sup3r-Secret"))
	rc.line()
	rc.send("AUTH\t2\tPLAIN\tservice=imap\tsecured\tresp=" + plainResp("carol", "Wr0ng-Guess"))
	rc.line()
	rc.send("AUTH\t3\tLOGIN\tservice=imap\tsecured")
	rc.line()
	rc.send("CONT\t3\t" + base64.StdEncoding.EncodeToString([]byte("carol")))
	rc.line()
	rc.send("CONT\t3\t" + base64.StdEncoding.EncodeToString([]byte("Wr0ng-Guess")))
	rc.line()
	// A malformed line that carries a password closes the connection
	// and must not be logged either.
	rc.send("AUTH\t4\tPLAIN\tservice=imap\tresp=Wr0ng-Guess!")
	_, _ = rc.r.ReadString('\n')
	text := logText(ts.logs)
	if !strings.Contains(text, "authenticated") {
		t.Fatalf("no success line logged at all:\n%s", text)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("log contains secret %q:\n%s", s, text)
		}
	}
	_ = zap.NewNop
}

// BenchmarkAuthPlain measures AUTH PLAIN round trips through the server
// (one connection, requests pipelined by b.RunParallel's goroutines over
// their own connections) for the schemes the issue asks about.
func BenchmarkAuthPlain(b *testing.B) {
	for _, scheme := range []string{"SHA512-CRYPT", "ARGON2ID"} {
		b.Run(scheme, func(b *testing.B) {
			h, err := passwd.Hash(scheme, "", "right", passwd.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ts := startServer(b, "alice:"+h+"\n", "")
			resp := plainResp("alice", "right")
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rc := dialRaw(b, ts.client)
				rc.handshake()
				id := 0
				for pb.Next() {
					id++
					rc.send(fmt.Sprintf("AUTH\t%d\tPLAIN\tservice=imap\tsecured\tresp=%s", id, resp))
					if l := rc.line(); !strings.HasPrefix(l, "OK") {
						b.Errorf("AUTH: %q", l)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}
