package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Error kinds a workload reports. Every kind is a failure the benchmark
// counts; none is ever dropped (except what the end of the run itself
// causes, see Client.Error).
const (
	ErrBAD        = "BAD"        // a tagged BAD completion
	ErrNO         = "NO"         // a tagged NO the workload did not expect
	ErrUntagged   = "untagged"   // an untagged response that does not belong to the command
	ErrBye        = "bye"        // an unsolicited BYE
	ErrSequence   = "sequence"   // a message number beyond what the server announced
	ErrProtocol   = "protocol"   // a malformed response
	ErrDisconnect = "disconnect" // the server closed the connection
	ErrTimeout    = "timeout"    // no answer within the command timeout
	ErrConnect    = "connect"    // the connection could not be set up
	ErrMissing    = "missing"    // a successful answer without the data asked for
)

// Workload is one kind of load (IMAP mixed sessions now; LMTP and SMTP
// deliveries later). Run is called once per simulated client in its own
// goroutine and returns when ctx is done.
type Workload interface {
	// Name names the workload in reports ("imap").
	Name() string
	// Target names what is being driven ("127.0.0.1:143").
	Target() string
	// Ops lists the operation names in report order.
	Ops() []string
	// Run simulates one client until ctx is done.
	Run(ctx context.Context, c *Client)
}

// Options of a run.
type Options struct {
	Clients int
	// Duration ends the run after this long; Ops ends it after this many
	// operations. At least one of them must be set; with both the first
	// reached ends it.
	Duration time.Duration
	Ops      int64
	// Seed makes each client's random choices reproducible.
	Seed uint64
	// Progress, when set, receives a progress bar redrawn in place.
	Progress io.Writer
}

// Client is what a workload's Run gets: its identity, its random source,
// and the recording calls. Each Client is used by one goroutine.
type Client struct {
	ID   int
	Rand *rand.Rand
	rec  *recorder
	run  *runState
}

type runState struct {
	stopped  atomic.Bool
	total    atomic.Int64
	failures atomic.Int64
	limit    int64
	cancel   context.CancelFunc
}

type recorder struct {
	hist   map[string]*Histogram
	errs   map[string]map[string]int64 // op -> kind -> n
	notes  map[string]int64
	sample map[string]string // kind -> first error text seen
}

// Record counts one completed operation with its latency since start.
func (c *Client) Record(op string, start time.Time) {
	if c.run.stopped.Load() {
		return
	}
	d := time.Since(start)
	n := c.run.total.Add(1)
	if c.run.limit > 0 && n > c.run.limit {
		// Another client took the last operation of the budget.
		return
	}
	h := c.rec.hist[op]
	if h == nil {
		h = new(Histogram)
		c.rec.hist[op] = h
	}
	h.Record(d)
	if c.run.limit > 0 && n == c.run.limit {
		c.run.stop()
	}
}

// Error counts one failed operation of the given kind; detail is kept for
// the first error of each kind so a report can show an example. Errors
// after the run has stopped are dropped: cutting connections at the end
// causes them.
func (c *Client) Error(op, kind, detail string) {
	if c.run.stopped.Load() {
		return
	}
	m := c.rec.errs[op]
	if m == nil {
		m = map[string]int64{}
		c.rec.errs[op] = m
	}
	m[kind]++
	if _, ok := c.rec.sample[kind]; !ok {
		c.rec.sample[kind] = op + ": " + detail
	}
	c.run.failures.Add(1)
}

// Note counts an event that is not a failure but belongs in the report
// (a NO [EXPUNGEISSUED] for a message another client expunged).
func (c *Client) Note(name string) {
	if c.run.stopped.Load() {
		return
	}
	c.rec.notes[name]++
}

// Stopped reports whether the run has ended.
func (c *Client) Stopped() bool { return c.run.stopped.Load() }

func (r *runState) stop() {
	if r.stopped.CompareAndSwap(false, true) {
		r.cancel()
	}
}

// Run drives the workload with o.Clients simulated clients and returns the
// merged result. Cancelling ctx ends the run early; the result then covers
// the time until the cancellation.
func Run(ctx context.Context, w Workload, o Options) (*Result, error) {
	if o.Clients < 1 {
		return nil, errors.New("bench: at least one client")
	}
	if o.Duration <= 0 && o.Ops <= 0 {
		return nil, errors.New("bench: a duration or an operation count is needed")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &runState{limit: o.Ops, cancel: cancel}
	stopAt := make(chan time.Time, 1)
	context.AfterFunc(runCtx, func() {
		st.stopped.Store(true)
		stopAt <- time.Now()
	})
	if o.Duration > 0 {
		t := time.AfterFunc(o.Duration, st.stop)
		defer t.Stop()
	}

	start := time.Now()
	clients := make([]*Client, o.Clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := &Client{
			ID:   i,
			Rand: rand.New(rand.NewPCG(o.Seed, uint64(i))),
			rec: &recorder{
				hist:   map[string]*Histogram{},
				errs:   map[string]map[string]int64{},
				notes:  map[string]int64{},
				sample: map[string]string{},
			},
			run: st,
		}
		clients[i] = c
		wg.Go(func() { w.Run(runCtx, c) })
	}
	var progDone chan struct{}
	if o.Progress != nil {
		progDone = make(chan struct{})
		go func() {
			defer close(progDone)
			progress(runCtx, o.Progress, start, o, st)
		}()
	}
	wg.Wait()
	// Clients return when runCtx is done; one that gave up early must not
	// leave the run waiting, so stop explicitly (a no-op when stopped).
	st.stop()
	end := <-stopAt
	if progDone != nil {
		<-progDone
	}
	res := merge(w, o, clients, end.Sub(start))
	if bc, ok := w.(interface{ Bytes() int64 }); ok {
		res.Bytes = bc.Bytes()
		if res.Seconds > 0 {
			res.MBPerSec = float64(res.Bytes) / 1e6 / res.Seconds
		}
	}
	return res, nil
}

// progress redraws one status line on w until ctx is done, then clears it.
func progress(ctx context.Context, w io.Writer, start time.Time, o Options, st *runState) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(w, "\r\033[K")
			return
		case <-tick.C:
		}
		el := time.Since(start)
		total := st.total.Load()
		frac := 0.0
		if o.Duration > 0 {
			frac = float64(el) / float64(o.Duration)
		}
		if o.Ops > 0 {
			frac = max(frac, float64(total)/float64(o.Ops))
		}
		fmt.Fprint(w, progressLine(frac, el, total, st.failures.Load()))
	}
}

// progressLine renders one frame of the progress bar: it starts with a
// carriage return and an erase-line so each frame overwrites the last.
func progressLine(frac float64, el time.Duration, total, failures int64) string {
	const width = 30
	frac = min(max(frac, 0), 1)
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	rate := 0.0
	if el > 0 {
		rate = float64(total) / el.Seconds()
	}
	return fmt.Sprintf("\r\033[K[%s] %5.1fs  %d ops  %.0f ops/s  %d errors", bar, el.Seconds(), total, rate, failures)
}

// Result is the outcome of a run, in the form --json prints.
type Result struct {
	Workload  string  `json:"workload"`
	Target    string  `json:"target"`
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	Seed      uint64  `json:"seed"`
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// LoginsPerSec is the rate of the "login" operation, when the
	// workload has one (the figure Dovecot's login-heavy mix is known by).
	LoginsPerSec float64 `json:"logins_per_sec,omitempty"`
	// Bytes is the message data a workload that counts it (POP3's
	// RETRs) moved inside the run; MBPerSec is that in 10^6 octets/s.
	Bytes    int64      `json:"bytes,omitempty"`
	MBPerSec float64    `json:"mb_per_sec,omitempty"`
	PerOp    []OpResult `json:"per_op"`
	// Errors counts failures by kind; ErrorSamples holds the first of each.
	Errors       map[string]int64  `json:"errors"`
	ErrorCount   int64             `json:"error_count"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Notes        map[string]int64  `json:"notes,omitempty"`
}

// OpResult is one operation's figures; latencies in milliseconds.
type OpResult struct {
	Name   string           `json:"name"`
	Count  int64            `json:"count"`
	PerSec float64          `json:"per_sec"`
	MeanMs float64          `json:"mean_ms"`
	P50Ms  float64          `json:"p50_ms"`
	P95Ms  float64          `json:"p95_ms"`
	P99Ms  float64          `json:"p99_ms"`
	MaxMs  float64          `json:"max_ms"`
	Errors map[string]int64 `json:"errors,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func merge(w Workload, o Options, clients []*Client, elapsed time.Duration) *Result {
	secs := elapsed.Seconds()
	res := &Result{
		Workload:     w.Name(),
		Target:       w.Target(),
		Clients:      o.Clients,
		Seconds:      secs,
		Seed:         o.Seed,
		Errors:       map[string]int64{},
		ErrorSamples: map[string]string{},
		Notes:        map[string]int64{},
	}
	hist := map[string]*Histogram{}
	errs := map[string]map[string]int64{}
	names := append([]string(nil), w.Ops()...)
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for _, c := range clients {
		for op, h := range c.rec.hist {
			if hist[op] == nil {
				hist[op] = new(Histogram)
			}
			hist[op].Merge(h)
			if !known[op] {
				known[op] = true
				names = append(names, op)
			}
		}
		for op, m := range c.rec.errs {
			if errs[op] == nil {
				errs[op] = map[string]int64{}
			}
			for k, n := range m {
				errs[op][k] += n
				res.Errors[k] += n
				res.ErrorCount += n
			}
			if !known[op] {
				known[op] = true
				names = append(names, op)
			}
		}
		for k, s := range c.rec.sample {
			if _, ok := res.ErrorSamples[k]; !ok {
				res.ErrorSamples[k] = s
			}
		}
		for k, n := range c.rec.notes {
			res.Notes[k] += n
		}
	}
	for _, name := range names {
		h := hist[name]
		if h == nil {
			h = new(Histogram)
		}
		r := OpResult{
			Name:   name,
			Count:  int64(h.Count()),
			MeanMs: ms(h.Mean()),
			P50Ms:  ms(h.Quantile(0.50)),
			P95Ms:  ms(h.Quantile(0.95)),
			P99Ms:  ms(h.Quantile(0.99)),
			MaxMs:  ms(h.Max()),
			Errors: errs[name],
		}
		if secs > 0 {
			r.PerSec = float64(r.Count) / secs
		}
		res.Ops += r.Count
		if name == "login" {
			res.LoginsPerSec = r.PerSec
		}
		res.PerOp = append(res.PerOp, r)
	}
	if secs > 0 {
		res.OpsPerSec = float64(res.Ops) / secs
	}
	return res
}

// ErrorKinds returns the kinds of res.Errors sorted by name.
func (res *Result) ErrorKinds() []string {
	kinds := make([]string, 0, len(res.Errors))
	for k := range res.Errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// WriteText prints the result as a table.
func (res *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s %s: %d clients, %.1f s, seed %d\n", res.Workload, res.Target, res.Clients, res.Seconds, res.Seed)
	fmt.Fprintf(w, "%-12s %9s %9s %8s %8s %8s %8s %8s %7s\n", "op", "count", "ops/s", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
	for _, r := range res.PerOp {
		var ne int64
		for _, n := range r.Errors {
			ne += n
		}
		fmt.Fprintf(w, "%-12s %9d %9.1f %8.2f %8.2f %8.2f %8.2f %8.2f %7d\n",
			r.Name, r.Count, r.PerSec, r.MeanMs, r.P50Ms, r.P95Ms, r.P99Ms, r.MaxMs, ne)
	}
	fmt.Fprintf(w, "%-12s %9d %9.1f\n", "total", res.Ops, res.OpsPerSec)
	if res.LoginsPerSec > 0 {
		fmt.Fprintf(w, "logins/s %.1f\n", res.LoginsPerSec)
	}
	if res.Bytes > 0 {
		fmt.Fprintf(w, "data %d bytes, %.2f MB/s\n", res.Bytes, res.MBPerSec)
	}
	if res.ErrorCount == 0 {
		fmt.Fprintln(w, "errors: none")
	} else {
		fmt.Fprintf(w, "errors: %d\n", res.ErrorCount)
		for _, k := range res.ErrorKinds() {
			fmt.Fprintf(w, "  %-10s %d  e.g. %s\n", k, res.Errors[k], res.ErrorSamples[k])
		}
	}
	if len(res.Notes) > 0 {
		keys := make([]string, 0, len(res.Notes))
		for k := range res.Notes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "note: %s %d\n", k, res.Notes[k])
		}
	}
}
