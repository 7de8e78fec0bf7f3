package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
)

// IdleConfig configures the idle-concurrency measurement.
type IdleConfig struct {
	Addr  string
	Dial  imapc.Options
	Users []Credential
	// Conns connections are opened, Parallel at a time (default 32); each
	// logs in as Users[i % len], selects INBOX and enters IDLE.
	Conns    int
	Parallel int
	// Pid, when not zero, is the server's top process (the master): its
	// whole process tree's RSS is summed before, half way and after.
	Pid int
}

// IdleResult is the outcome: how many connections reached IDLE, how long
// opening them took, and the server's memory before and after.
type IdleResult struct {
	Target  string  `json:"target"`
	Conns   int     `json:"conns"`
	Opened  int     `json:"opened"`
	Seconds float64 `json:"seconds"`
	// RSS sums over the server's processes, in KiB. PerConnKiB is the
	// growth from half way (RSSMidKiB, half the connections open) to the
	// end, divided by the connections opened in that second half: memory
	// the server's processes return meanwhile from earlier work (freed
	// heap, dropped indexes) moved a before/after difference below zero,
	// and the first connections also pay for processes started for them.
	RSSBeforeKiB uint64            `json:"rss_before_kib,omitempty"`
	RSSMidKiB    uint64            `json:"rss_mid_kib,omitempty"`
	RSSAfterKiB  uint64            `json:"rss_after_kib,omitempty"`
	PerConnKiB   float64           `json:"per_conn_kib,omitempty"`
	Processes    int               `json:"processes,omitempty"`
	Errors       map[string]int64  `json:"errors"`
	ErrorCount   int64             `json:"error_count"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
}

// IdleSet is a set of open connections in IDLE.
type IdleSet struct {
	conns []*imapc.Conn
}

// Close closes every connection (without LOGOUT: the server must cope with
// clients vanishing).
func (s *IdleSet) Close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// OpenIdle opens the connections and measures the server's memory. The
// connections stay open until the returned set is closed (also when errors
// were counted). Failures are counted by kind in the result, never
// ignored; the error return is for a configuration that cannot run.
func OpenIdle(ctx context.Context, cfg IdleConfig) (*IdleResult, *IdleSet, error) {
	if cfg.Addr == "" || len(cfg.Users) == 0 || cfg.Conns < 1 {
		return nil, nil, errors.New("idle: an address, users and a connection count are needed")
	}
	if cfg.Parallel < 1 {
		cfg.Parallel = 32
	}
	res := &IdleResult{Target: cfg.Addr, Conns: cfg.Conns, Errors: map[string]int64{}, ErrorSamples: map[string]string{}}
	if cfg.Pid != 0 {
		rss, _, err := TreeRSS(cfg.Pid)
		if err != nil {
			return nil, nil, err
		}
		res.RSSBeforeKiB = rss >> 10
	}
	start := time.Now()
	set := &IdleSet{conns: make([]*imapc.Conn, cfg.Conns)}
	var mu sync.Mutex
	fail := func(kind, detail string) {
		mu.Lock()
		defer mu.Unlock()
		res.Errors[kind]++
		res.ErrorCount++
		if _, ok := res.ErrorSamples[kind]; !ok {
			res.ErrorSamples[kind] = detail
		}
	}
	openRange := func(lo, hi int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, cfg.Parallel)
		for i := lo; i < hi; i++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, kind, err := openIdleOne(ctx, cfg, cfg.Users[i%len(cfg.Users)])
				if err != nil {
					if ctx.Err() == nil {
						fail(kind, fmt.Sprintf("connection %d: %v", i, err))
					}
					return
				}
				set.conns[i] = c
			})
		}
		wg.Wait()
	}
	half := cfg.Conns / 2
	openRange(0, half)
	midOpen := 0
	for _, c := range set.conns[:half] {
		if c != nil {
			midOpen++
		}
	}
	if cfg.Pid != 0 {
		rss, _, err := TreeRSS(cfg.Pid)
		if err != nil {
			set.Close()
			return nil, nil, err
		}
		res.RSSMidKiB = rss >> 10
	}
	openRange(half, cfg.Conns)
	res.Seconds = time.Since(start).Seconds()
	open := set.conns[:0]
	for _, c := range set.conns {
		if c != nil {
			open = append(open, c)
		}
	}
	set.conns = open
	res.Opened = len(open)
	if cfg.Pid != 0 {
		rss, n, err := TreeRSS(cfg.Pid)
		if err != nil {
			set.Close()
			return nil, nil, err
		}
		res.RSSAfterKiB = rss >> 10
		res.Processes = n
		if second := res.Opened - midOpen; second > 0 {
			res.PerConnKiB = (float64(res.RSSAfterKiB) - float64(res.RSSMidKiB)) / float64(second)
		}
	}
	return res, set, nil
}

func openIdleOne(ctx context.Context, cfg IdleConfig, u Credential) (*imapc.Conn, string, error) {
	c, err := imapc.Dial(ctx, cfg.Addr, cfg.Dial)
	if err != nil {
		return nil, ErrConnect, err
	}
	for _, cmd := range [][]any{
		{"LOGIN", imapc.Quote(u.User), imapc.Quote(u.Password)},
		{"SELECT", "INBOX"},
	} {
		res, err := c.Do(cmd...)
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			c.Close()
			return nil, imapKind(err), fmt.Errorf("%s: %w", cmd[0], err)
		}
	}
	if _, err := c.StartIdle(); err != nil {
		c.Close()
		return nil, imapKind(err), fmt.Errorf("IDLE: %w", err)
	}
	return c, "", nil
}

// WriteText prints the result.
func (r *IdleResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "idle %s: %d of %d connections in IDLE after %.1f s\n", r.Target, r.Opened, r.Conns, r.Seconds)
	if r.RSSAfterKiB > 0 {
		fmt.Fprintf(w, "server RSS %d KiB before, %d KiB half way, %d KiB after (%d processes): %.1f KiB per connection of the second half\n",
			r.RSSBeforeKiB, r.RSSMidKiB, r.RSSAfterKiB, r.Processes, r.PerConnKiB)
	}
	if r.ErrorCount == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	fmt.Fprintf(w, "errors: %d\n", r.ErrorCount)
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-10s %d  e.g. %s\n", k, r.Errors[k], r.ErrorSamples[k])
	}
}

// TreeRSS sums VmRSS (bytes) over pid and all its descendants, found by
// the parent pid in /proc/PID/stat; it also returns how many processes it
// summed. A process that exits meanwhile is skipped.
func TreeRSS(pid int) (uint64, int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, err := ppid(p); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var total uint64
	n := 0
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		rss, err := procRSS(p)
		if err != nil {
			if p == pid {
				return 0, 0, err
			}
			continue
		}
		total += rss
		n++
		queue = append(queue, children[p]...)
	}
	return total, n, nil
}

func ppid(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: the fields
	// after the last ')' are "state ppid ...".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("malformed stat")
	}
	return strconv.Atoi(f[1])
}

func procRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			return kb << 10, err
		}
	}
	// Kernel threads and zombies have no VmRSS.
	return 0, nil
}

// RaiseNoFile raises this process's RLIMIT_NOFILE soft limit to its hard
// limit (processes started afterwards inherit it) and returns the limit
// now in force.
func RaiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}
