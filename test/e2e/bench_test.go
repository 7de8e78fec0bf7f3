package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/bench/imapc"
	"github.com/cote-mail/cote/pkg/bench/peer"
	"github.com/cote-mail/cote/pkg/testkit"
)

// The benchmarks of this file measure the real suite (the binaries booted
// by testkit, users user1..user100 in a passwd-file, homes owned by vmail)
// next to a private Dovecot (pkg/bench/peer) with the same users, through
// pkg/bench, cote-bench's engine. Each runs its workload once per server
// (b.N is not used for the long runs: one 20 s run is the measurement) and
// reports the figures as custom metrics. Run them with
//
//	go test -run '^$' -bench 'Suite' -benchtime 1x -timeout 30m ./test/e2e/
//
// They need root (the master starts as root) and are not part of `make
// test`: only -bench selects them.

const (
	benchUsers    = 100
	benchPassword = "secret"
	benchConns    = 1000
)

// benchTarget is a server the suite benchmarks drive.
type benchTarget struct {
	name string
	addr string
	// rss sums VmRSS over every process of the server.
	rss func() (uint64, error)
}

// benchCreds returns user1..user<n> with the benchmark password.
func benchCreds(n int) []bench.Credential {
	c := make([]bench.Credential, n)
	for i := range c {
		c[i] = bench.Credential{User: "user" + strconv.Itoa(i+1), Password: benchPassword}
	}
	return c
}

// benchMailRoot is mailRoot for a benchmark: a directory for the homes
// owned by vmail, its ancestors up to the temp directory traversable.
func benchMailRoot(b *testing.B, s *testkit.Suite) string {
	b.Helper()
	uid, gid, _ := testkit.UserCreds(b, "vmail")
	dir := filepath.Join(s.Dir(), "vmail")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		b.Fatal(err)
	}
	stop := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); p != stop && p != "/" && strings.HasPrefix(p, stop); p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// startBenchCote boots the real suite with users user1..user100 (PLAIN
// passwords, as the Dovecot peer has, so neither spends its time hashing).
func startBenchCote(b *testing.B) benchTarget {
	b.Helper()
	testkit.RequireRoot(b)
	testkit.RequireUser(b, "vmail")
	s := testkit.New(b, testkit.Options{})
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	var users strings.Builder
	for _, c := range benchCreds(benchUsers) {
		fmt.Fprintf(&users, "%s:{PLAIN}%s::::::\n", c.User, c.Password)
	}
	if err := os.WriteFile(usersFile, []byte(users.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(b, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		b.Fatal(err)
	}
	homes := benchMailRoot(b, s)
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login
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
`, benchConns, usersFile, homes))
	s.Start()
	return benchTarget{name: "cote", addr: s.Addr("imap-login", "imap"), rss: func() (uint64, error) { return treeRSS(s.Pid()) }}
}

// startBenchDovecot starts a private Dovecot with the same users, or skips
// when Dovecot is not installed.
func startBenchDovecot(b *testing.B) benchTarget {
	b.Helper()
	testkit.RequireRoot(b)
	testkit.RequireTool(b, "dovecot", "dovecot-imapd")
	dir := b.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		b.Fatal(err)
	}
	var users []string
	for _, c := range benchCreds(benchUsers) {
		users = append(users, c.User)
	}
	// One imap process per connection is Dovecot's default; the process
	// limit must admit the idle-connection run.
	extra := fmt.Sprintf("mail_max_userip_connections = %d\nservice imap {\n  process_limit = %d\n}\n", benchConns, benchConns+100)
	d, err := peer.StartDovecot(peer.DovecotOptions{Dir: dir, Users: users, Password: benchPassword, Extra: extra})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Stop(); err != nil {
			b.Errorf("%v\n%s", err, d.Log())
		}
	})
	pidFile := filepath.Join(dir, "run", "master.pid")
	return benchTarget{name: "dovecot", addr: d.IMAPAddr, rss: func() (uint64, error) {
		raw, err := os.ReadFile(pidFile)
		if err != nil {
			return 0, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			return 0, err
		}
		return treeRSS(pid)
	}}
}

// benchTargets starts cote and, when installed, Dovecot.
func benchTargets(b *testing.B) []benchTarget {
	b.Helper()
	targets := []benchTarget{startBenchCote(b)}
	if testkit.InCI() {
		return targets
	}
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		targets = append(targets, startBenchDovecot(b))
	} else {
		b.Log("dovecot is not installed: no Dovecot figures")
	}
	return targets
}

// treeRSS sums VmRSS over pid and all its descendants.
func treeRSS(pid int) (uint64, error) {
	total, err := testkit.RSS(pid)
	if err != nil {
		return 0, err
	}
	for _, p := range testkit.ChildrenOf(pid) {
		n, err := treeRSS(p.PID)
		if err != nil {
			continue // exited since the listing
		}
		total += n
	}
	return total, nil
}

// runMix runs one cote-bench workload against target and reports it.
func runMix(b *testing.B, target benchTarget, mix bench.Mix, noLogout bool, clients int, d time.Duration) *bench.Result {
	b.Helper()
	w, err := bench.NewIMAP(bench.IMAPConfig{
		Addr:     target.addr,
		Dial:     imapc.Options{Timeout: 30 * time.Second},
		Users:    benchCreds(benchUsers),
		NoLogout: noLogout,
		Mix:      mix,
		Seed:     1,
	})
	if err != nil {
		b.Fatal(err)
	}
	res, err := bench.Run(context.Background(), w, bench.Options{Clients: clients, Duration: d, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	var text strings.Builder
	res.WriteText(&text)
	b.Logf("%s:\n%s", target.name, text.String())
	if res.ErrorCount > 0 {
		// Every error cote-bench counts is a server bug (pkg/bench's doc).
		b.Errorf("%s: %d protocol errors: %v samples: %q", target.name, res.ErrorCount, res.Errors, res.ErrorSamples)
	}
	b.ReportMetric(res.OpsPerSec, "ops/s")
	b.ReportMetric(res.LoginsPerSec, "logins/s")
	b.ReportMetric(float64(res.ErrorCount), "errors")
	return res
}

// BenchmarkSuiteMix: cote-bench's default mix at 10 and 50 clients, with
// LOGOUT (each session logs in anew) and without (long sessions), 20 s
// each.
func BenchmarkSuiteMix(b *testing.B) {
	for _, target := range benchTargets(b) {
		for _, tc := range []struct {
			name     string
			clients  int
			noLogout bool
		}{
			{"default-10", 10, false},
			{"default-50", 50, false},
			{"no-logout-10", 10, true},
			{"no-logout-50", 50, true},
		} {
			b.Run(target.name+"/"+tc.name, func(b *testing.B) {
				mix := bench.DefaultMix()
				if tc.noLogout {
					mix[bench.OpLogout] = bench.Weight{}
				}
				for b.Loop() {
					runMix(b, target, mix, tc.noLogout, tc.clients, 20*time.Second)
				}
			})
		}
	}
}

// loginMix makes every session connect, LOGIN and LOGOUT, nothing else:
// cote-bench's login-heavy mix.
const loginMix = "list=0 status=0 select=0 fetchflags=0 fetchenv=0 fetchbody=0 search=0 copy=0 store=0 delete=0 expunge=0 append=0"

// BenchmarkSuiteLogins: logins per second through the whole login path
// (imap-login, auth, the handoff to imap, the cookie redeemed, LOGOUT),
// 10 clients for 10 s.
func BenchmarkSuiteLogins(b *testing.B) {
	mix, err := bench.ParseMix(bench.DefaultMix(), loginMix)
	if err != nil {
		b.Fatal(err)
	}
	for _, target := range benchTargets(b) {
		b.Run(target.name, func(b *testing.B) {
			for b.Loop() {
				runMix(b, target, mix, false, 10, 10*time.Second)
			}
		})
	}
}

// BenchmarkSuiteIdleRSS: the RSS an idle IMAP connection costs. It sums
// VmRSS over every process of the server, opens 1,000 connections (logged
// in as user1..user100 in turn, INBOX selected, then idle), sums again
// and reports the difference per connection.
func BenchmarkSuiteIdleRSS(b *testing.B) {
	for _, target := range benchTargets(b) {
		b.Run(target.name, func(b *testing.B) {
			for b.Loop() {
				before, err := target.rss()
				if err != nil {
					b.Fatal(err)
				}
				conns := openIdle(b, target.addr, benchConns)
				after, err := target.rss()
				if err != nil {
					b.Fatal(err)
				}
				per := (float64(after) - float64(before)) / benchConns
				b.Logf("%s: RSS %d KiB before, %d KiB after %d idle sessions: %.0f KiB each",
					target.name, before>>10, after>>10, benchConns, per/1024)
				b.ReportMetric(float64(before>>10), "KiB-before")
				b.ReportMetric(float64(after>>10), "KiB-after")
				b.ReportMetric(per/1024, "KiB/conn")
				for _, c := range conns {
					c.Close()
				}
			}
		})
	}
}

// openIdle opens n sessions that log in, select INBOX and stay open; it
// returns when every one has its SELECT completed.
func openIdle(b *testing.B, addr string, n int) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i], errs[i] = openOne(addr, "user"+strconv.Itoa(i%benchUsers+1))
		}()
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
	}
	return conns
}

func openOne(addr, user string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := io.WriteString(c, "a LOGIN "+user+" "+benchPassword+"\r\nb SELECT INBOX\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if strings.HasPrefix(l, "a ") && !strings.HasPrefix(l, "a OK") {
			c.Close()
			return nil, fmt.Errorf("LOGIN: %q", l)
		}
		if strings.HasPrefix(l, "b ") {
			if !strings.HasPrefix(l, "b OK") {
				c.Close()
				return nil, fmt.Errorf("SELECT: %q", l)
			}
			c.SetDeadline(time.Time{})
			return c, nil
		}
	}
}
