package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/bench/imapc"
	"github.com/cote-mail/cote/pkg/bench/peer"
	"github.com/cote-mail/cote/pkg/testkit"
)

// This file runs cote-bench's workloads (pkg/bench) against the real
// suite, booted by testkit from a temporary tree, and against a private
// Dovecot (pkg/bench/peer) set up the same way: the same users with PLAIN
// passwords (neither server spends its time hashing), auth_username_format
// %Ln on both (so LMTP's user@domain is the login name), the same
// generated large mailboxes written as Maildir files before each server
// starts, an LMTP listener on loopback, implicit TLS with the same
// certificate; cote's smtpd and queue, and a private Postfix delivering
// into the Dovecot by LMTP (pkg/bench/peer.StartPostfix), for the SMTP
// workloads.
//
// TestBenchWorkloads (part of `make test`) runs every workload for about a
// second against cote and requires zero protocol errors.
// BenchmarkSideBySide is `make bench` (cote alone, COTE_BENCH_PEERS=none)
// and `make bench-compare` (cote and Dovecot alternately, A B A B); see
// bench/README.md.

const benchPassword = "secret"

// benchSetup says which users and mailboxes a server gets.
type benchSetup struct {
	users []string // every login name
	// big maps a user to the size of the generated INBOX written for it
	// before the server starts.
	big map[string]int
	// conns bounds connections per user and IP and the processes a
	// server may need for the idle runs.
	conns int
}

// benchServer is one server the workloads drive.
type benchServer struct {
	name  string
	imap  string
	imaps string
	lmtp  string
	tls   *tls.Config
	pid   func() (int, error)
	// pop3 and pop3s are the POP3 listeners; smtp is the port 25 role
	// (cote's smtpd, or the private Postfix in front of Dovecot), empty
	// when the server has none.
	pop3, pop3s, smtp string
}

func (s *benchServer) dial(useTLS bool) imapc.Options {
	o := imapc.Options{Timeout: 60 * time.Second}
	if useTLS {
		o.TLS = s.tls
	}
	return o
}

func (s *benchServer) addr(useTLS bool) string {
	if useTLS {
		return s.imaps
	}
	return s.imap
}

// numbered returns prefix1..prefix<n>.
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i+1)
	}
	return out
}

func creds(names []string) []bench.Credential {
	c := make([]bench.Credential, len(names))
	for i, n := range names {
		c[i] = bench.Credential{User: n, Password: benchPassword}
	}
	return c
}

// traversable makes every ancestor of dir up to the temp directory
// searchable, so mail users reach homes below it.
func traversable(tb testing.TB, dir string) {
	tb.Helper()
	stop := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); p != stop && p != "/" && strings.HasPrefix(p, stop); p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
			tb.Fatal(err)
		}
	}
}

// writeBig writes the generated large mailboxes below homeRoot/<user>/Maildir.
func writeBig(tb testing.TB, homeRoot string, big map[string]int, uid, gid int) {
	tb.Helper()
	for u, n := range big {
		home := filepath.Join(homeRoot, u)
		if err := os.MkdirAll(home, 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chown(home, uid, gid); err != nil {
			tb.Fatal(err)
		}
		if err := bench.WriteMaildir(filepath.Join(home, "Maildir"), 1, n, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
}

// startCoteBench boots the real suite for the workloads.
func startCoteBench(tb testing.TB, setup benchSetup) *benchServer {
	tb.Helper()
	testkit.RequireRoot(tb)
	testkit.RequireUser(tb, "vmail")
	s := testkit.New(tb, testkit.Options{})
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	var users strings.Builder
	for _, u := range setup.users {
		fmt.Fprintf(&users, "%s:{PLAIN}%s::::::\n", u, benchPassword)
	}
	if err := os.WriteFile(usersFile, []byte(users.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(tb, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		tb.Fatal(err)
	}
	vuid, vgid, _ := testkit.UserCreds(tb, "vmail")
	homes := filepath.Join(s.Dir(), "vmail")
	if err := os.Mkdir(homes, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(homes, vuid, vgid); err != nil {
		tb.Fatal(err)
	}
	traversable(tb, homes)
	writeBig(tb, homes, setup.big, vuid, vgid)
	lmtpPort := testkit.FreePort(tb)
	// smtpd and the queue: the spool under the suite's tree (never the
	// system's), example.org local, delivered by the queue over LMTP.
	spool := filepath.Join(s.Dir(), "spool")
	s.Rewrite(fmt.Sprintf(`protocols = imap pop3 lmtp smtp
queue_directory = %s
myhostname = mx.example.org
mydestination = example.org
postscreen_greet_wait = 0
auth_mechanisms = plain login
auth_username_format = %%Ln
mail_location = maildir:~/Maildir
mail_max_userip_connections = %d
passdb {
  driver = passwd-file
  args = scheme=PLAIN %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%n
}
service lmtp {
  inet_listener lmtp {
    port = %d
  }
}
`, spool, setup.conns, usersFile, homes, lmtpPort))
	s.Start()
	return &benchServer{
		name:  "cote",
		imap:  s.Addr("imap-login", "imap"),
		imaps: s.Addr("imap-login", "imaps"),
		lmtp:  s.Addr("lmtp", "lmtp"),
		tls:   s.Cert.ClientConfig("localhost"),
		pid:   func() (int, error) { return s.Pid(), nil },
		pop3:  s.Addr("pop3-login", "pop3"),
		pop3s: s.Addr("pop3-login", "pop3s"),
		smtp:  s.Addr("smtpd", "smtp"),
	}
}

// startDovecotBench starts a private Dovecot with the same users and
// mailboxes, or skips when Dovecot is not installed.
func startDovecotBench(tb testing.TB, setup benchSetup, cert *testkit.Cert) *benchServer {
	tb.Helper()
	testkit.RequireRoot(tb)
	testkit.RequireTool(tb, "dovecot", "dovecot-imapd")
	dir := tb.TempDir()
	traversable(tb, dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	u := testkit.RequireUser(tb, "nobody")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		tb.Fatal(err)
	}
	writeBig(tb, filepath.Join(dir, "home"), setup.big, uid, gid)
	// Dovecot runs one imap process per connection: the process limit
	// must admit the idle runs.
	extra := fmt.Sprintf("mail_max_userip_connections = %d\nservice imap {\n  process_limit = %d\n}\n", setup.conns, setup.conns+100)
	d, err := peer.StartDovecot(peer.DovecotOptions{
		Dir: dir, Users: setup.users, Password: benchPassword, Extra: extra,
		LMTP: true, POP3: true, TLSCert: cert.CertFile, TLSKey: cert.KeyFile,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.Stop(); err != nil {
			tb.Errorf("%v\n%s", err, d.Log())
		}
	})
	srv := &benchServer{
		name:  "dovecot",
		imap:  d.IMAPAddr,
		imaps: d.IMAPSAddr,
		lmtp:  d.LMTPAddr,
		tls:   cert.ClientConfig("localhost"),
		pid:   d.Pid,
		pop3:  d.POP3Addr,
		pop3s: d.POP3SAddr,
	}
	// The SMTP figures of the Dovecot column: a private Postfix in front
	// of it, delivering example.org by LMTP into it, when installed.
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
			tb.Logf("postfix is not installed: no SMTP figures for Dovecot")
			return srv
		}
	}
	var rcpts []string
	for _, u := range setup.users {
		rcpts = append(rcpts, u+"@example.org")
	}
	pdir := tb.TempDir()
	p, err := peer.StartPostfix(peer.PostfixOptions{Dir: pdir, Domain: "example.org", Recipients: rcpts, LMTPAddr: d.LMTPAddr})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Errorf("%v\n%s", err, p.Log())
		}
	})
	srv.smtp = p.SMTPAddr
	return srv
}

// benchRun runs one workload and returns its result.
func benchRun(tb testing.TB, w bench.Workload, o bench.Options) *bench.Result {
	tb.Helper()
	res, err := bench.Run(context.Background(), w, o)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// mustWorkload returns w; a configuration the constructor refuses is a
// mistake in this file, not a measurement.
func mustWorkload[W bench.Workload](w W, err error) W {
	if err != nil {
		panic(err)
	}
	return w
}

// The workloads, each a function of the server and its size knobs, shared
// by the test and the benchmark.

func imapMix(tb testing.TB, s *benchServer, users []string, mix bench.Mix, noLogout, useTLS bool, clients int, d time.Duration) *bench.Result {
	w := mustWorkload(bench.NewIMAP(bench.IMAPConfig{
		Addr: s.addr(useTLS), Dial: s.dial(useTLS), Users: creds(users), NoLogout: noLogout, Mix: mix, Seed: 1,
	}))
	return benchRun(tb, w, bench.Options{Clients: clients, Duration: d, Seed: 1})
}

func lmtpRun(tb testing.TB, addr string, rcpts []string, sessions int, d time.Duration) *bench.Result {
	var to []string
	for _, r := range rcpts {
		to = append(to, r+"@example.org")
	}
	w := mustWorkload(bench.NewLMTP(bench.LMTPConfig{Addr: addr, Recipients: to, Timeout: 60 * time.Second}))
	return benchRun(tb, w, bench.Options{Clients: sessions, Duration: d, Seed: 1})
}

// pop3Run downloads the users' mailboxes over POP3 (pop3s with useTLS)
// and returns the result with its throughput in MB/s (10^6 octets).
func pop3Run(tb testing.TB, s *benchServer, users []string, useTLS bool, clients int, d time.Duration) (*bench.Result, float64) {
	cfg := bench.POP3Config{Addr: s.pop3, Users: creds(users), Timeout: 60 * time.Second}
	if useTLS {
		cfg.Addr, cfg.TLS = s.pop3s, s.tls
	}
	w := mustWorkload(bench.NewPOP3(cfg))
	res := benchRun(tb, w, bench.Options{Clients: clients, Duration: d, Seed: 1})
	mbs := 0.0
	if res.Seconds > 0 {
		mbs = float64(w.Bytes()) / 1e6 / res.Seconds
	}
	return res, mbs
}

// smtpRun is lmtpRun over SMTP: durable 250s on a port 25 listener.
func smtpRun(tb testing.TB, addr string, rcpts []string, sessions int, d time.Duration) *bench.Result {
	var to []string
	for _, r := range rcpts {
		to = append(to, r+"@example.org")
	}
	w := mustWorkload(bench.NewSMTP(bench.LMTPConfig{Addr: addr, Recipients: to, From: "bench@remote.example", Timeout: 60 * time.Second}))
	return benchRun(tb, w, bench.Options{Clients: sessions, Duration: d, Seed: 1})
}

// smtpVisibleRun submits over SMTP and waits for each message over IMAP
// IDLE: the whole path (smtpd, queue, LMTP, store), one user per session.
func smtpVisibleRun(tb testing.TB, s *benchServer, users []string, sessions int, d time.Duration) *bench.Result {
	users = users[:sessions]
	var rcpts []string
	for _, u := range users {
		rcpts = append(rcpts, u+"@example.org")
	}
	w := mustWorkload(bench.NewVisible(bench.VisibleConfig{
		SMTPAddr: s.smtp, IMAPAddr: s.imap, Dial: s.dial(false),
		Users: creds(users), Rcpts: rcpts, Wait: 30 * time.Second,
	}))
	return benchRun(tb, w, bench.Options{Clients: sessions, Duration: d, Seed: 1})
}

func visibleRun(tb testing.TB, s *benchServer, user string, d time.Duration) *bench.Result {
	w := mustWorkload(bench.NewVisible(bench.VisibleConfig{
		LMTPAddr: s.lmtp, IMAPAddr: s.imap, Dial: s.dial(false),
		User: bench.Credential{User: user, Password: benchPassword}, Rcpt: user + "@example.org",
	}))
	return benchRun(tb, w, bench.Options{Clients: 1, Duration: d, Seed: 1})
}

// bigRun runs the large-mailbox workload for the given number of cycles
// (SELECT, FETCH 1:*, two SEARCHes each), d at most: a cycle on 100,000
// messages can take longer than a timed run, and a run must not end
// before its first cycle.
func bigRun(tb testing.TB, s *benchServer, user string, n, cycles int, d time.Duration) *bench.Result {
	w := mustWorkload(bench.NewBigMailbox(bench.BigMailboxConfig{
		Addr: s.imap, Dial: s.dial(false), User: bench.Credential{User: user, Password: benchPassword}, Count: n,
	}))
	return benchRun(tb, w, bench.Options{Clients: 1, Ops: int64(4 * cycles), Duration: d, Seed: 1})
}

func idleRun(tb testing.TB, s *benchServer, users []string, n int) *bench.IdleResult {
	tb.Helper()
	pid, err := s.pid()
	if err != nil {
		tb.Fatal(err)
	}
	res, set, err := bench.OpenIdle(context.Background(), bench.IdleConfig{
		Addr: s.imap, Dial: s.dial(false), Users: creds(users), Conns: n, Pid: pid,
	})
	if err != nil {
		tb.Fatal(err)
	}
	set.Close()
	return res
}

// TestBenchWorkloads runs each cote-bench workload for about a second
// against the real suite: every one must do work and see no protocol
// error (pkg/bench counts every wrong answer; none is acceptable).
func TestBenchWorkloads(t *testing.T) {
	users := numbered("user", 4)
	setup := benchSetup{
		users: append(append(users, "dlv1", "dlv2", "vis", "e2e1", "e2e2", "pop1", "pop2"), "big300"),
		big:   map[string]int{"big300": 300, "pop1": 40, "pop2": 40},
		conns: 200,
	}
	s := startCoteBench(t, setup)
	const d = 800 * time.Millisecond
	mix := bench.DefaultMix()
	noLogout := bench.DefaultMix()
	noLogout[bench.OpLogout] = bench.Weight{}
	tests := []struct {
		name string
		run  func() *bench.Result
		op   string // an operation that must have been counted
	}{
		{"imap mix", func() *bench.Result { return imapMix(t, s, users, mix, false, false, 4, d) }, bench.OpSelect},
		{"imap no-logout", func() *bench.Result { return imapMix(t, s, users, noLogout, true, false, 4, d) }, bench.OpFetchFlags},
		{"logins", func() *bench.Result { return imapMix(t, s, users, bench.LoginMix(), false, false, 2, d) }, bench.OpLogin},
		{"logins tls", func() *bench.Result { return imapMix(t, s, users, bench.LoginMix(), false, true, 2, d) }, bench.OpLogin},
		{"lmtp", func() *bench.Result { return lmtpRun(t, s.lmtp, []string{"dlv1", "dlv2"}, 2, d) }, bench.OpDeliver},
		{"visible", func() *bench.Result { return visibleRun(t, s, "vis", d) }, bench.OpVisible},
		{"pop3", func() *bench.Result { r, _ := pop3Run(t, s, []string{"pop1", "pop2"}, false, 2, d); return r }, bench.OpDownload},
		{"pop3s", func() *bench.Result { r, _ := pop3Run(t, s, []string{"pop1", "pop2"}, true, 2, d); return r }, bench.OpDownload},
		{"smtp", func() *bench.Result { return smtpRun(t, s.smtp, []string{"dlv1", "dlv2"}, 2, d) }, bench.OpDeliver},
		{"smtp visible", func() *bench.Result { return smtpVisibleRun(t, s, []string{"e2e1", "e2e2"}, 2, d) }, bench.OpVisible},
		{"bigmailbox", func() *bench.Result { return bigRun(t, s, "big300", 300, 5, 10*time.Second) }, bench.OpSearchSubject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.run()
			if res.ErrorCount != 0 {
				t.Fatalf("%d errors: %v, e.g. %v", res.ErrorCount, res.Errors, res.ErrorSamples)
			}
			for _, op := range res.PerOp {
				if op.Name == tc.op && op.Count > 0 {
					return
				}
			}
			t.Errorf("no %s counted: %+v", tc.op, res.PerOp)
		})
	}
	t.Run("idle", func(t *testing.T) {
		res := idleRun(t, s, users, 40)
		if res.ErrorCount != 0 || res.Opened != 40 {
			t.Fatalf("%d of 40 opened, errors %v %v", res.Opened, res.Errors, res.ErrorSamples)
		}
		if res.RSSAfterKiB == 0 || res.Processes < 3 {
			t.Errorf("RSS %d KiB over %d processes: the master's tree was not measured", res.RSSAfterKiB, res.Processes)
		}
	})
}

// kilo names a mailbox size: 10000 is "10k".
func kilo(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// envInts reads a comma-separated list of positive integers from the
// environment, or returns def.
func envInts(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return def
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkSideBySide runs every workload against cote and, unless
// COTE_BENCH_PEERS=none, against a private Dovecot, alternately (cote,
// Dovecot, cote, Dovecot...) for COTE_BENCH_ROUNDS rounds (default 2); it
// prints the comparison table and, when COTE_BENCH_RESULTS names a
// directory, writes <date>.json and <date>.svg there. COTE_BENCH_SECONDS
// sets each timed run's length (default 4), COTE_BENCH_BIG the large
// mailbox sizes (default 10000,100000), COTE_BENCH_IDLE the idle
// connection counts (default 100,1000,10000), COTE_BENCH_POP3 the messages
// of each POP3 mailbox (default 1000). The Dovecot column's SMTP rows are a
// private Postfix delivering by LMTP into that Dovecot.
func BenchmarkSideBySide(b *testing.B) {
	for b.Loop() {
		sideBySide(b)
	}
}

func sideBySide(b *testing.B) {
	limit, err := bench.RaiseNoFile()
	if err != nil {
		b.Fatal(err)
	}
	rounds := envInt("COTE_BENCH_ROUNDS", 2)
	d := time.Duration(envInt("COTE_BENCH_SECONDS", 4)) * time.Second
	withPeer := os.Getenv("COTE_BENCH_PEERS") != "none"
	mixUsers := numbered("user", 100)
	dlvUsers := numbered("dlv", 16)
	bigSizes := envInts("COTE_BENCH_BIG", []int{10000, 100000})
	idleSizes := envInts("COTE_BENCH_IDLE", []int{100, 1000, 10000})
	// POP3: four users, each with the same generated mailbox of
	// COTE_BENCH_POP3 messages (about 1 KiB each); SMTP end to end: one
	// user per session, its INBOX watched in IDLE.
	popUsers := numbered("pop", 4)
	popSize := envInt("COTE_BENCH_POP3", 1000)
	e2eUsers := numbered("e2e", 10)
	setup := benchSetup{users: append(append(append([]string{}, mixUsers...), dlvUsers...), "vis"), big: map[string]int{}, conns: 11000}
	setup.users = append(append(setup.users, popUsers...), e2eUsers...)
	for _, u := range popUsers {
		setup.big[u] = popSize
	}
	for _, n := range bigSizes {
		u := "big" + strconv.Itoa(n)
		setup.users = append(setup.users, u)
		setup.big[u] = n
	}
	cmp := &bench.Comparison{
		Date:    time.Now().UTC().Format("2006-01-02"),
		Machine: fmt.Sprintf("%s/%s, %d CPUs, RLIMIT_NOFILE %d", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), limit),
		Rounds:  rounds,
		Charts: []bench.ChartAxes{
			{Title: "IMAP mix throughput vs clients", XLabel: "clients", YLabel: "ops/s", LogX: true},
			{Title: "LMTP durable deliveries vs sessions", XLabel: "sessions", YLabel: "deliveries/s", LogX: true},
			{Title: "Server RSS vs idle IMAP connections", XLabel: "connections in IDLE", YLabel: "MiB", LogX: true},
		},
		Commands: []string{
			"make bench-compare   (scripts/bench-compare.sh: go test -run '^$' -bench '^BenchmarkSideBySide$' -benchtime 1x ./test/e2e/)",
			"make bench           (COTE_BENCH_PEERS=none COTE_BENCH_ROUNDS=1, plus the Go micro-benchmarks)",
		},
	}
	start := time.Now()
	b.Log("writing the generated mailboxes and starting the servers")
	servers := []*benchServer{startCoteBench(b, setup)}
	if withPeer {
		servers = append(servers, startDovecotBench(b, setup, testkit.MakeCert(b)))
	}
	for _, s := range servers {
		cmp.Servers = append(cmp.Servers, s.name)
	}
	b.Logf("servers ready after %.1f s", time.Since(start).Seconds())

	// Physical limits: the disk's durable-delivery rate and smtp-sink's
	// rate for the same LMTP workload (the client side's ceiling).
	if rate, err := bench.FsyncRate(os.TempDir(), 4096, 2*time.Second); err == nil {
		cmp.Limits = append(cmp.Limits, bench.Limit{Name: "disk: new file+fsync+rename+dir fsync", Value: rate, Unit: "/s"})
	} else {
		b.Logf("fsync rate: %v", err)
	}
	if sink, err := peer.StartSink(true); err == nil {
		for _, n := range []int{1, 16} {
			res := lmtpRun(b, sink.Addr, dlvUsers, n, 2*time.Second)
			cmp.Limits = append(cmp.Limits, bench.Limit{Name: fmt.Sprintf("smtp-sink -L, %d sessions", n), Value: res.OpsPerSec, Unit: "msgs/s"})
		}
		sink.Stop()
	} else {
		b.Logf("no smtp-sink ceiling: %v", err)
	}
	if sink, err := peer.StartSink(false); err == nil {
		for _, n := range []int{1, 10} {
			res := smtpRun(b, sink.Addr, dlvUsers, n, 2*time.Second)
			cmp.Limits = append(cmp.Limits, bench.Limit{Name: fmt.Sprintf("smtp-sink (SMTP), %d sessions", n), Value: res.OpsPerSec, Unit: "msgs/s"})
		}
		sink.Stop()
	}

	add := func(s *benchServer, name, unit string, higher bool, v float64, errs int64) *bench.Figure {
		f := cmp.Add(name, unit, higher, s.name, v)
		f.AddErrors(s.name, errs)
		return f
	}
	// opP returns an operation's latencies; ok is false when the run
	// completed none (a figure of 0 would read as infinitely fast).
	opP := func(res *bench.Result, op string) (p50, p99 float64, ok bool) {
		for _, o := range res.PerOp {
			if o.Name == op && o.Count > 0 {
				return o.P50Ms, o.P99Ms, true
			}
		}
		return 0, 0, false
	}
	// logErrors shows what went wrong in a run that counted errors.
	logErrors := func(s *benchServer, what string, n int64, samples map[string]string) {
		if n > 0 {
			b.Logf("%s: %s: %d errors, e.g. %v", s.name, what, n, samples)
		}
	}
	mix := bench.DefaultMix()
	noLogout := bench.DefaultMix()
	noLogout[bench.OpLogout] = bench.Weight{}
	for round := range rounds {
		for _, s := range servers {
			b.Logf("round %d: %s", round+1, s.name)
			for _, n := range []int{1, 10, 50} {
				res := imapMix(b, s, mixUsers, mix, false, false, n, d)
				logErrors(s, "imap mix", res.ErrorCount, res.ErrorSamples)
				f := add(s, fmt.Sprintf("imap mix, %d clients", n), "ops/s", true, res.OpsPerSec, res.ErrorCount)
				f.Chart, f.X = "IMAP mix throughput vs clients", float64(n)
				if n == 10 {
					for _, op := range []string{bench.OpSelect, bench.OpFetchEnv, bench.OpSearch, bench.OpAppend} {
						if _, p99, ok := opP(res, op); ok {
							add(s, "imap mix 10 clients p99 "+op, "ms", false, p99, 0)
						}
					}
				}
			}
			res := imapMix(b, s, mixUsers, noLogout, true, false, 10, d)
			logErrors(s, "imap no-logout", res.ErrorCount, res.ErrorSamples)
			add(s, "imap no-logout, 10 clients", "ops/s", true, res.OpsPerSec, res.ErrorCount)
			for _, useTLS := range []bool{false, true} {
				res := imapMix(b, s, mixUsers, bench.LoginMix(), false, useTLS, 10, d)
				name := "logins, 10 clients"
				if useTLS {
					name = "logins imaps, 10 clients"
				}
				logErrors(s, name, res.ErrorCount, res.ErrorSamples)
				add(s, name, "/s", true, res.LoginsPerSec, res.ErrorCount)
			}
			for _, n := range []int{1, 4, 16} {
				res := lmtpRun(b, s.lmtp, dlvUsers, n, d)
				logErrors(s, "lmtp", res.ErrorCount, res.ErrorSamples)
				f := add(s, fmt.Sprintf("lmtp durable, %d sessions", n), "msgs/s", true, res.OpsPerSec, res.ErrorCount)
				f.Chart, f.X = "LMTP durable deliveries vs sessions", float64(n)
			}
			for _, useTLS := range []bool{false, true} {
				res, mbs := pop3Run(b, s, popUsers, useTLS, len(popUsers), d)
				name := "pop3"
				if useTLS {
					name = "pop3s"
				}
				name = fmt.Sprintf("%s download %s msgs, %d clients", name, kilo(popSize), len(popUsers))
				logErrors(s, name, res.ErrorCount, res.ErrorSamples)
				add(s, name+", data", "MB/s", true, mbs, res.ErrorCount)
				for _, o := range res.PerOp {
					if o.Name == bench.OpRetr {
						add(s, name+", messages", "msgs/s", true, o.PerSec, res.ErrorCount)
					}
				}
			}
			if s.smtp != "" {
				// End to end first: the acceptance runs leave a
				// queue behind that is still being delivered.
				for _, n := range []int{1, 10} {
					res := smtpVisibleRun(b, s, e2eUsers, n, d)
					name := fmt.Sprintf("smtp 250 to visible in IDLE, %d sessions", n)
					logErrors(s, name, res.ErrorCount, res.ErrorSamples)
					for _, o := range res.PerOp {
						if o.Name == bench.OpVisible && o.Count > 0 {
							add(s, name, "msgs/s", true, o.PerSec, res.ErrorCount)
							if n == 1 {
								add(s, "smtp 250 to visible in IDLE p50, 1 session", "ms", false, o.P50Ms, res.ErrorCount)
							}
						}
					}
				}
				for _, n := range []int{1, 10} {
					res := smtpRun(b, s.smtp, dlvUsers, n, d)
					name := fmt.Sprintf("smtp durable 250s, %d sessions", n)
					logErrors(s, name, res.ErrorCount, res.ErrorSamples)
					add(s, name, "msgs/s", true, res.OpsPerSec, res.ErrorCount)
				}
			}
			res = visibleRun(b, s, "vis", d)
			logErrors(s, "visible", res.ErrorCount, res.ErrorSamples)
			if p50, p99, ok := opP(res, bench.OpVisible); ok {
				add(s, "250 to visible in IDLE p50", "ms", false, p50, res.ErrorCount)
				add(s, "250 to visible in IDLE p99", "ms", false, p99, res.ErrorCount)
			}
			for _, n := range bigSizes {
				// Three cycles on the largest mailbox, five below.
				cycles := 5
				if n > 20000 {
					cycles = 3
				}
				res := bigRun(b, s, "big"+strconv.Itoa(n), n, cycles, 120*time.Second)
				logErrors(s, fmt.Sprintf("bigmailbox %d", n), res.ErrorCount, res.ErrorSamples)
				for _, op := range []string{bench.OpSelectFirst, bench.OpSelect, bench.OpFetchAllFlags, bench.OpSearchUnseen, bench.OpSearchSubject} {
					if p50, _, ok := opP(res, op); ok {
						add(s, fmt.Sprintf("%s %s p50", kilo(n), op), "ms", false, p50, res.ErrorCount)
					}
				}
			}
			for _, n := range idleSizes {
				if s.name != "cote" && n > 1000 {
					// One process per connection: 10,000 imap
					// processes are more than this machine is for.
					continue
				}
				if uint64(n)+256 > limit {
					b.Logf("idle %d: RLIMIT_NOFILE %d is too low", n, limit)
					continue
				}
				res := idleRun(b, s, mixUsers, n)
				logErrors(s, fmt.Sprintf("idle %d", n), res.ErrorCount, res.ErrorSamples)
				if n >= 1000 {
					// Below that the garbage collector's swings in
					// a Go server's RSS exceed the connections' cost.
					add(s, fmt.Sprintf("idle %d: RSS per connection", n), "KiB", false, res.PerConnKiB, res.ErrorCount)
				}
				f := add(s, fmt.Sprintf("idle %d: server RSS", n), "MiB", false, float64(res.RSSAfterKiB)/1024, res.ErrorCount)
				f.Chart, f.X = "Server RSS vs idle IMAP connections", float64(n)
			}
		}
	}
	if withPeer {
		cmp.Notes = append(cmp.Notes, "Dovecot: mail_fsync = optimized (cote's own guarantee: message and directory synced before the 250), login processes in performance mode (service_count = 0, process_min_avail = CPUs)")
		cmp.Notes = append(cmp.Notes, "idle 10000 runs on cote only: Dovecot needs one imap process per connection")
		cmp.Notes = append(cmp.Notes, "smtp rows, dovecot column: a private Postfix 3.7 (its own main.cf, queue and data directories) delivering by LMTP into that Dovecot; cote: smtpd -> queue -> lmtp")
	}
	cmp.Notes = append(cmp.Notes, fmt.Sprintf("total %.0f s", time.Since(start).Seconds()))
	var table strings.Builder
	cmp.WriteTable(&table)
	fmt.Fprint(os.Stdout, table.String())
	if dir := os.Getenv("COTE_BENCH_RESULTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		base := filepath.Join(dir, cmp.Date)
		if err := cmp.WriteJSON(base + ".json"); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(base + ".svg")
		if err != nil {
			b.Fatal(err)
		}
		if err := cmp.WriteSVG(f); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "wrote %s.json and %s.svg\n", base, base)
	}
	for _, f := range cmp.Figures {
		for s, n := range f.Errors {
			b.Errorf("%s: %s: %d protocol errors", f.Name, s, n)
		}
	}
}
