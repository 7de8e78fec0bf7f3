package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/testkit"
)

// BenchmarkIMAPMixPerf is the repeatable harness for the IMAP engine's
// speed: it boots cote and a private Dovecot exactly as BenchmarkSideBySide
// does (startCoteBench, startDovecotBench) and runs only the two IMAP mix
// rows, alternately (cote, Dovecot, cote, Dovecot, ...):
//
//   - "no-logout": the default mix without LOGOUT at 10 clients (long
//     sessions),
//   - "mix": the default mix at 10 clients.
//
// It logs every run's ops/s and the p50/p99 of each operation, then the
// min/median/max over the rounds of cote's ratio to Dovecot. Run it as
//
//	COTE_PERF_ROUNDS=3 go test -count=1 -run '^$' -bench '^BenchmarkIMAPMixPerf$' -benchtime 1x -timeout 30m ./test/e2e/
//
// Knobs: COTE_PERF_ROUNDS (3), COTE_BENCH_SECONDS per run (4),
// COTE_BENCH_PEERS=none (cote alone), COTE_PERF_ROWS ("no-logout,mix").
//
// COTE_PERF_ATTACH runs a command beside each run, attached to the
// server's `imap` processes once the run has gone one second, and sends it
// SIGINT when the run ends (strace -c and perf record both print or write
// their summary then). In the command {pids} is replaced by the pids
// joined by commas, {server} by the server's name and {row} by the row
// name with its round, e.g.
//
//	COTE_PERF_ATTACH='strace -c -f -o /tmp/st-{server}-{row}.txt -p {pids}'
//	COTE_PERF_ATTACH='perf record -g -o /tmp/perf-{server}-{row}.data -p {pids}'
//
// Dovecot's imap processes live as long as their connection, so its
// attached figures are complete for the no-logout row only.
func BenchmarkIMAPMixPerf(b *testing.B) {
	for b.Loop() {
		imapMixPerf(b)
	}
}

func imapMixPerf(b *testing.B) {
	if _, err := bench.RaiseNoFile(); err != nil {
		b.Fatal(err)
	}
	rounds := envInt("COTE_PERF_ROUNDS", 3)
	d := time.Duration(envInt("COTE_BENCH_SECONDS", 4)) * time.Second
	users := numbered("user", 100)
	setup := benchSetup{users: users, big: map[string]int{}, conns: 200}
	servers := []*benchServer{startCoteBench(b, setup)}
	if os.Getenv("COTE_BENCH_PEERS") != "none" {
		servers = append(servers, startDovecotBench(b, setup, testkit.MakeCert(b)))
	}
	mix := bench.DefaultMix()
	noLogout := bench.DefaultMix()
	noLogout[bench.OpLogout] = bench.Weight{}
	type row struct {
		name     string
		mix      bench.Mix
		noLogout bool
	}
	var rows []row
	want := os.Getenv("COTE_PERF_ROWS")
	for _, r := range []row{{"no-logout", noLogout, true}, {"mix", mix, false}} {
		if want == "" || slices.Contains(strings.Split(want, ","), r.name) {
			rows = append(rows, r)
		}
	}
	// A warm-up run per server, not recorded: the first sessions find
	// cold caches and, in Dovecot, no imap processes yet.
	for _, s := range servers {
		imapMix(b, s, users, mix, false, false, 10, 2*time.Second)
	}
	// opsPerSec[row][server] holds one figure per round.
	opsPerSec := map[string]map[string][]float64{}
	p99 := map[string]map[string][]float64{} // key row+" "+op
	cpuPerOp := map[string]map[string][]float64{}
	for round := range rounds {
		for _, s := range servers {
			for _, r := range rows {
				tag := fmt.Sprintf("%s-r%d", r.name, round+1)
				stop := attach(s, tag, d)
				cpu := sampleCPU(s)
				tree0 := treeCPU(s)
				res := imapMix(b, s, users, r.mix, r.noLogout, false, 10, d)
				user, sys := cpu()
				tree := treeCPU(s) - tree0
				stop()
				if res.ErrorCount > 0 {
					perfLogf("%s %s: %d errors, e.g. %v", s.name, tag, res.ErrorCount, res.ErrorSamples)
				}
				if opsPerSec[r.name] == nil {
					opsPerSec[r.name] = map[string][]float64{}
				}
				opsPerSec[r.name][s.name] = append(opsPerSec[r.name][s.name], res.OpsPerSec)
				var line strings.Builder
				perOp := func(v time.Duration) float64 {
					if res.Ops == 0 {
						return 0
					}
					return float64(v.Microseconds()) / float64(res.Ops)
				}
				k := r.name + " cpu µs/op"
				if cpuPerOp[k] == nil {
					cpuPerOp[k] = map[string][]float64{}
				}
				cpuPerOp[k][s.name] = append(cpuPerOp[k][s.name], perOp(user+sys))
				k = r.name + " server cpu µs/op"
				if cpuPerOp[k] == nil {
					cpuPerOp[k] = map[string][]float64{}
				}
				cpuPerOp[k][s.name] = append(cpuPerOp[k][s.name], perOp(tree))
				fmt.Fprintf(&line, "%-8s %-12s %7.0f ops/s  cpu/op: server %4.0f µs, imap %4.0f µs (user %4.0f, sys %4.0f)  p50/p99 ms:", s.name, tag, res.OpsPerSec, perOp(tree), perOp(user+sys), perOp(user), perOp(sys))
				for _, o := range res.PerOp {
					if o.Count == 0 {
						continue
					}
					fmt.Fprintf(&line, " %s %.1f/%.1f", o.Name, o.P50Ms, o.P99Ms)
					k := r.name + " " + o.Name
					if p99[k] == nil {
						p99[k] = map[string][]float64{}
					}
					p99[k][s.name] = append(p99[k][s.name], o.P99Ms)
				}
				perfLogf("%s", line.String())
			}
		}
	}
	if len(servers) < 2 {
		return
	}
	for _, r := range rows {
		c, dv := opsPerSec[r.name]["cote"], opsPerSec[r.name]["dovecot"]
		lo, med, hi := ratioStats(c, dv)
		perfLogf("ratio cote/dovecot %-9s ops/s: min %.2f median %.2f max %.2f (cote %v, dovecot %v)", r.name, lo, med, hi, rounded(c), rounded(dv))
	}
	for _, r := range rows {
		for _, what := range []string{"server", "imap"} {
			k := r.name + " cpu µs/op"
			if what == "server" {
				k = r.name + " server cpu µs/op"
			}
			c, dv := cpuPerOp[k]["cote"], cpuPerOp[k]["dovecot"]
			lo, med, hi := ratioStats(c, dv)
			perfLogf("%s CPU per op, cote/dovecot %-9s: min %.2f median %.2f max %.2f (cote %v µs, dovecot %v µs)", what, r.name, lo, med, hi, rounded(c), rounded(dv))
		}
	}
	keys := make([]string, 0, len(p99))
	for k := range p99 {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c, dv := p99[k]["cote"], p99[k]["dovecot"]
		if len(c) == 0 || len(c) != len(dv) {
			continue
		}
		perfLogf("p99 %-22s cote %v ms, dovecot %v ms (median cote %.1f, dovecot %.1f)", k, rounded(c), rounded(dv), median(c), median(dv))
	}
}

// perfLogf prints a harness line on stdout: b.Log output of a benchmark
// is truncated after a few lines, and the suites log there too.
func perfLogf(format string, args ...any) {
	fmt.Printf("imapperf: "+format+"\n", args...)
}

// ratioStats returns the min, median and max of a[i]/b[i].
func ratioStats(a, b []float64) (lo, med, hi float64) {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(rs)
	return rs[0], median(rs), rs[len(rs)-1]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rounded(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}

// imapPids lists the descendants of the server's master whose command
// name is "imap" (cote's post-login process, Dovecot's per-connection
// imap processes).
func imapPids(s *benchServer) []int {
	root, err := s.pid()
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	comm := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := testkit.ReadProc(n)
		if err != nil || p.State == "Z" {
			continue
		}
		parent[n], comm[n] = p.PPID, p.Comm
	}
	var out []int
	for pid, c := range comm {
		if c != "imap" {
			continue
		}
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// attach starts COTE_PERF_ATTACH one second into a run of length d and
// returns the function that stops it (SIGINT, then waits). Without the
// knob it does nothing.
func attach(s *benchServer, tag string, d time.Duration) (stop func()) {
	tmpl := os.Getenv("COTE_PERF_ATTACH")
	if tmpl == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Second, d/4)):
		}
		pids := imapPids(s)
		if len(pids) == 0 {
			perfLogf("%s %s: no imap process to attach to", s.name, tag)
			return
		}
		ps := make([]string, len(pids))
		for i, p := range pids {
			ps[i] = strconv.Itoa(p)
		}
		cmdline := strings.NewReplacer("{pids}", strings.Join(ps, ","), "{server}", s.name, "{row}", tag).Replace(tmpl)
		cmd := exec.Command("sh", "-c", "exec "+cmdline)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Dir = os.TempDir()
		if err := cmd.Start(); err != nil {
			perfLogf("%s: %v", cmdline, err)
			return
		}
		perfLogf("%s %s: attached %s", s.name, tag, cmdline)
		<-ctx.Done()
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	return func() {
		cancel()
		<-done
	}
}

// sampleCPU follows the CPU time of the server's imap processes from now
// on: a goroutine reads /proc/<pid>/stat every 100 ms (Dovecot's
// processes may exit when their connection ends, so the last reading of
// each counts; one started during the run counts from zero). The
// function it returns stops it and gives the user and system time spent
// since.
func sampleCPU(s *benchServer) func() (user, sys time.Duration) {
	type times struct{ u, s int64 }
	first := map[int]times{}
	last := map[int]times{}
	read := func(pid int) (times, bool) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return times{}, false
		}
		// Fields after the parenthesised command name: utime and stime
		// are the 14th and 15th fields of the whole line.
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			return times{}, false
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 13 {
			return times{}, false
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return times{u, st}, true
	}
	for _, pid := range imapPids(s) {
		if t, ok := read(pid); ok {
			first[pid], last[pid] = t, t
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, pid := range imapPids(s) {
				if t, ok := read(pid); ok {
					last[pid] = t
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (time.Duration, time.Duration) {
		close(done)
		wg.Wait()
		var u, st int64
		for pid, t := range last {
			f := first[pid]
			u += t.u - f.u
			st += t.s - f.s
		}
		// /proc counts in clock ticks, 100 per second on Linux.
		return time.Duration(u) * 10 * time.Millisecond, time.Duration(st) * 10 * time.Millisecond
	}
}

// treeCPU is the CPU time the server's process tree has used: every
// live process below its master (zombies included) and the master, each
// with the children it reaped, so processes that exit during a run still
// count. Dovecot's imap processes and both servers' login processes are
// in it; the difference of two readings is what a run cost.
func treeCPU(s *benchServer) time.Duration {
	root, err := s.pid()
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	ticks := map[int]int64{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		// After the command name: state, ppid, ... utime (12th),
		// stime, cutime, cstime.
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 15 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		var sum int64
		for _, x := range f[11:15] {
			v, _ := strconv.ParseInt(x, 10, 64)
			sum += v
		}
		ticks[pid] = sum
	}
	var total int64
	for pid, t := range ticks {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				total += t
				break
			}
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}
