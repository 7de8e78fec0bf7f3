package imapd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// BenchmarkMixInProcess runs cote-bench's imaptest-like mix (pkg/bench)
// against sessions of this package served in-process: one maildir.Driver
// for 100 users, as the imap process has, and a minimal stand-in for
// imap-login that answers LOGIN for any user. It is the in-process twin
// of test/e2e's BenchmarkIMAPMixPerf, for Go's profilers:
//
//	go test -run '^$' -bench MixInProcess -benchtime 1x -cpuprofile cpu.out \
//	    -mutexprofile mutex.out -blockprofile block.out ./pkg/imapd/
//
// COTE_BENCH_SECONDS sets each run's length (4). Each sub-benchmark
// reports ops/s and the p99 of every operation in ms.
func BenchmarkMixInProcess(b *testing.B) {
	secs, _ := strconv.Atoi(os.Getenv("COTE_BENCH_SECONDS"))
	if secs <= 0 {
		secs = 4
	}
	noLogout := bench.DefaultMix()
	noLogout[bench.OpLogout] = bench.Weight{}
	for _, tc := range []struct {
		name     string
		mix      bench.Mix
		noLogout bool
	}{
		{"no-logout", noLogout, true},
		{"mix", bench.DefaultMix(), false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := newMixServer(b)
			users := make([]bench.Credential, 100)
			for i := range users {
				users[i] = bench.Credential{User: "user" + strconv.Itoa(i+1), Password: "secret"}
				if err := os.Mkdir(filepath.Join(srv.root, users[i].User), 0o700); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				w, err := bench.NewIMAP(bench.IMAPConfig{Addr: srv.ln.Addr().String(), Users: users, NoLogout: tc.noLogout, Mix: tc.mix, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				res, err := bench.Run(context.Background(), w, bench.Options{Clients: 10, Duration: time.Duration(secs) * time.Second, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				if res.ErrorCount > 0 {
					b.Errorf("%d errors: %v", res.ErrorCount, res.ErrorSamples)
				}
				b.ReportMetric(res.OpsPerSec, "ops/s")
				var line strings.Builder
				for _, o := range res.PerOp {
					if o.Count > 0 {
						b.ReportMetric(o.P99Ms, o.Name+"-p99-ms")
						fmt.Fprintf(&line, " %s %.1f/%.1f", o.Name, o.P50Ms, o.P99Ms)
					}
				}
				b.Logf("%.0f ops/s; p50/p99 ms:%s", res.OpsPerSec, line.String())
			}
		})
	}
}

// mixServer serves the mix's users in-process.
type mixServer struct {
	b      *testing.B
	root   string
	driver *maildir.Driver
	ln     net.Listener
	ctx    context.Context
	wg     sync.WaitGroup
}

func newMixServer(b *testing.B) *mixServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &mixServer{b: b, root: b.TempDir(), driver: maildir.New(nil), ln: ln, ctx: ctx}
	s.wg.Add(1)
	go s.accept()
	b.Cleanup(func() {
		cancel()
		ln.Close()
		s.wg.Wait()
		s.driver.Close()
	})
	return s
}

func (s *mixServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.serve(conn)
		}()
	}
}

// serve greets, takes "tag LOGIN user password" (quoted or atoms, as
// pkg/bench sends it) and hands the connection to a Session.
func (s *mixServer) serve(conn net.Conn) {
	if _, err := conn.Write([]byte("* OK ready\r\n")); err != nil {
		return
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	if len(f) < 4 || !strings.EqualFold(f[1], "LOGIN") {
		fmt.Fprintf(conn, "%s BAD LOGIN expected\r\n", f[0])
		return
	}
	name := strings.Trim(f[2], `"`)
	u, err := storage.OpenUser(storage.UserConfig{Name: name, Home: filepath.Join(s.root, name), MailLocation: "maildir:~/Maildir",
		Namespaces: []storage.NamespaceConfig{{Separator: "/", Inbox: true, List: "yes", Subscriptions: true}}},
		map[string]storage.Driver{"maildir": s.driver.Open}, nil)
	if err != nil {
		fmt.Fprintf(conn, "%s NO %v\r\n", f[0], err)
		return
	}
	defer u.Close()
	var preamble []byte
	if n := br.Buffered(); n > 0 {
		preamble, _ = br.Peek(n)
	}
	NewSession(Config{}, u, conn, nil).Serve(s.ctx, preamble, f[0])
}
