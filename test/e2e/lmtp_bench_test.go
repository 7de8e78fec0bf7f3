package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/testkit"
)

// BenchmarkLMTPSmtpSource measures durable LMTP deliveries per second
// with Postfix's smtp-source as the client, against the real suite and
// (unless COTE_BENCH_PEERS=none) a private Dovecot with mail_fsync =
// optimized on the same disk, alternately per case:
//
//	smtp-source -L -s S -m M -l 4096 -r R -f bench@example.org -t u@example.com ADDR
//
// for S in COTE_LMTP_SESSIONS (default 1,4,16), R in COTE_LMTP_RCPTS
// (default 1,10: one recipient, and transactions of R recipients u,
// 2u, ... Ru) and M = COTE_LMTP_MESSAGES (default 2000). A delivery is one
// message stored for one recipient (M*R per run). Run it with
//
//	go test -run '^$' -bench '^BenchmarkLMTPSmtpSource$' -benchtime 1x ./test/e2e/
func BenchmarkLMTPSmtpSource(b *testing.B) {
	for b.Loop() {
		lmtpSmtpSource(b)
	}
}

func lmtpSmtpSource(b *testing.B) {
	src := testkit.RequireTool(b, "smtp-source", "postfix")
	sessions := envInts("COTE_LMTP_SESSIONS", []int{1, 4, 16})
	rcpts := envInts("COTE_LMTP_RCPTS", []int{1, 10})
	msgs := envInt("COTE_LMTP_MESSAGES", 2000)
	maxR := 0
	for _, r := range rcpts {
		maxR = max(maxR, r)
	}
	users := []string{"u"}
	for i := 2; i <= maxR; i++ {
		users = append(users, strconv.Itoa(i)+"u")
	}
	setup := benchSetup{users: users, big: map[string]int{}, conns: 1000}
	servers := []*benchServer{startCoteBench(b, setup)}
	if os.Getenv("COTE_BENCH_PEERS") != "none" {
		servers = append(servers, startDovecotBench(b, setup, testkit.MakeCert(b)))
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-8s %4s %4s %6s %10s %14s\n", "server", "-s", "-r", "-m", "seconds", "deliveries/s")
	for _, r := range rcpts {
		for _, s := range sessions {
			for _, srv := range servers {
				args := []string{"-L", "-s", strconv.Itoa(s), "-m", strconv.Itoa(msgs), "-l", "4096",
					"-r", strconv.Itoa(r), "-f", "bench@example.org", "-t", "u@example.com", srv.lmtp}
				start := time.Now()
				out, err := exec.Command(src, args...).CombinedOutput()
				el := time.Since(start)
				if err != nil {
					b.Fatalf("%s: smtp-source %s: %v\n%s", srv.name, strings.Join(args, " "), err, out)
				}
				rate := float64(msgs*r) / el.Seconds()
				fmt.Fprintf(&table, "%-8s %4d %4d %6d %10.2f %14.0f\n", srv.name, s, r, msgs, el.Seconds(), rate)
				b.ReportMetric(rate, fmt.Sprintf("%s-s%d-r%d-dlv/s", srv.name, s, r))
			}
		}
	}
	// Printed, not logged: the suite's log lines fill the benchmark log.
	fmt.Fprintf(os.Stderr, "durable LMTP deliveries, 4 KiB messages:\n%s", table.String())
}
