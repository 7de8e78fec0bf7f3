package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
	"github.com/cote-mail/cote/pkg/testkit"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample", []time.Duration{7 * time.Millisecond}, 0.99, 7 * time.Millisecond},
		{"exact small values", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond}, 0.5, 21*time.Microsecond - 1},
		{"max is a bound", []time.Duration{time.Second, time.Second}, 1, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, s := range tc.samples {
				h.Record(s)
			}
			if got := h.Quantile(tc.q); got != tc.want {
				t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// TestHistogramAccuracy checks every quantile of random samples against
// the exact value: the histogram promises at most ~3% relative error.
func TestHistogramAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	var all []time.Duration
	for i := range 20000 {
		// Log-uniform from 1 µs to ~17 s covers every bucket range.
		d := time.Duration(float64(time.Microsecond) * math.Exp2(r.Float64()*24))
		all = append(all, d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if a.Count() != uint64(len(all)) || a.Max() != all[len(all)-1] {
		t.Fatalf("count %d max %v, want %d %v", a.Count(), a.Max(), len(all), all[len(all)-1])
	}
	for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		exact := all[int(q*float64(len(all)))-1]
		got := a.Quantile(q)
		if got < exact || float64(got) > float64(exact)*1.04+float64(time.Microsecond) {
			t.Errorf("q=%v: %v, exact %v", q, got, exact)
		}
	}
}

func TestBucketBounds(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us += 1 + us/97 {
		i := bucketOf(us)
		if i < prev {
			t.Fatalf("bucket of %d went back to %d", us, i)
		}
		prev = i
		if high := bucketHigh(i); high < us || (us >= histLinear && float64(high-us) > float64(us)/31) {
			t.Fatalf("value %d in bucket %d with upper bound %d", us, i, high)
		}
	}
	if i := bucketOf(1 << 62); i != histSize-1 {
		t.Errorf("huge value in bucket %d, want the last", i)
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		check   string // a state whose weight is compared
		want    Weight
		wantErr bool
	}{
		{"default", "", OpFetchBody, Weight{100, 30}, false},
		{"percent only", "search=0", OpSearch, Weight{0, 0}, false},
		{"with repeat", "append=80,30", OpAppend, Weight{80, 30}, false},
		{"case", "LIST=10", OpList, Weight{10, 0}, false},
		{"unknown state", "sort=10", "", Weight{}, true},
		{"no value", "list", "", Weight{}, true},
		{"over 100", "list=101", "", Weight{}, true},
		{"endless repeat", "append=100,100", "", Weight{}, true},
		{"login off", "login=0", "", Weight{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMix(DefaultMix(), tc.spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && m[tc.check] != tc.want {
				t.Errorf("%s = %+v, want %+v", tc.check, m[tc.check], tc.want)
			}
		})
	}
	m, _ := ParseMix(DefaultMix(), "")
	if back, err := ParseMix(DefaultMix(), m.String()); err != nil || back.String() != m.String() {
		t.Errorf("String does not round-trip: %v %q", err, back.String())
	}
}

func TestGenerateMessages(t *testing.T) {
	a, b := GenerateMessages(3, 8), GenerateMessages(3, 8)
	for i := range a {
		if string(a[i]) != string(b[i]) {
			t.Fatalf("message %d differs between two generations with one seed", i)
		}
		for j, line := range strings.Split(string(a[i]), "\r\n") {
			if strings.ContainsAny(line, "\r\n") || len(line) > 998 {
				t.Fatalf("message %d line %d is not a proper RFC 5322 line: %q", i, j, line)
			}
		}
	}
}

// countWorkload records one op per iteration, so the runner can be tested
// without a server.
type countWorkload struct{}

func (countWorkload) Name() string   { return "count" }
func (countWorkload) Target() string { return "none" }
func (countWorkload) Ops() []string  { return []string{"tick", "never"} }
func (countWorkload) Run(ctx context.Context, c *Client) {
	for ctx.Err() == nil {
		c.Record("tick", time.Now())
	}
	// Errors after the end are the end's own doing: not counted.
	c.Error("tick", ErrDisconnect, "cut at the end")
}

func TestRunStopsAtOps(t *testing.T) {
	res, err := Run(context.Background(), countWorkload{}, Options{Clients: 3, Ops: 5000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops < 4990 || res.Ops > 5000 {
		t.Errorf("ops %d, want about 5000 (operations after the stop are dropped)", res.Ops)
	}
	if res.ErrorCount != 0 {
		t.Errorf("errors after the stop were counted: %v", res.Errors)
	}
	if len(res.PerOp) != 2 || res.PerOp[0].Name != "tick" || res.PerOp[1].Count != 0 {
		t.Errorf("per-op %+v", res.PerOp)
	}
	if res.Seconds <= 0 || res.OpsPerSec <= 0 {
		t.Errorf("seconds %v ops/s %v", res.Seconds, res.OpsPerSec)
	}
}

// fakeIMAP is a deliberately broken IMAP server: answer returns the
// response lines (tag already substituted) to a command, or "" to close
// the connection.
func fakeIMAP(t *testing.T, answer func(tag, cmd string) string) string {
	t.Helper()
	return testkit.ServeLoopback(t, func(c net.Conn) { serveFake(c, answer) })
}

func serveFake(c net.Conn, answer func(tag, cmd string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "* OK [CAPABILITY IMAP4rev1 LITERAL+] fake\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\r\n")
		// Skip a non-synchronizing literal and the rest of its line.
		if i := strings.LastIndex(line, "{"); i >= 0 && strings.HasSuffix(line, "+}") {
			n, _ := strconv.Atoi(line[i+1 : len(line)-2])
			r.Discard(n)
			r.ReadString('\n')
		}
		tag, cmd, _ := strings.Cut(line, " ")
		out := answer(tag, strings.ToUpper(cmd))
		if out == "" {
			return
		}
		if _, err := fmt.Fprint(c, out); err != nil {
			return
		}
	}
}

// TestIMAPCountsBrokenServers runs the workload against servers that
// answer wrongly in one way each: the run must report that kind of error.
func TestIMAPCountsBrokenServers(t *testing.T) {
	okAll := func(tag, cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "SELECT"):
			return "* 3 EXISTS\r\n" + tag + " OK [READ-WRITE] selected\r\n"
		case strings.HasPrefix(cmd, "FETCH") && strings.Contains(cmd, "BODY.PEEK[]"):
			n, _, _ := strings.Cut(strings.TrimPrefix(cmd, "FETCH "), " ")
			return "* " + n + " FETCH (BODY[] {2}\r\nhi)\r\n" + tag + " OK done\r\n"
		case strings.HasPrefix(cmd, "LOGOUT"):
			return "* BYE bye\r\n" + tag + " OK bye\r\n"
		}
		return tag + " OK done\r\n"
	}
	tests := []struct {
		name   string
		answer func(tag, cmd string) string
		kind   string
	}{
		{"BAD to LOGIN", func(tag, cmd string) string { return tag + " BAD nope\r\n" }, ErrBAD},
		{"NO to SELECT", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "SELECT") {
				return tag + " NO nope\r\n"
			}
			return okAll(tag, cmd)
		}, ErrNO},
		{"FETCH beyond EXISTS", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "FETCH") {
				return "* 9 FETCH (FLAGS ())\r\n" + tag + " OK done\r\n"
			}
			return okAll(tag, cmd)
		}, ErrSequence},
		{"SEARCH data to LIST", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "LIST") {
				return "* SEARCH 1\r\n" + tag + " OK done\r\n"
			}
			return okAll(tag, cmd)
		}, ErrUntagged},
		{"BYE in the middle", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "STATUS") {
				return "* BYE going away\r\n" + tag + " OK done\r\n"
			}
			return okAll(tag, cmd)
		}, ErrBye},
		{"body without literal", func(tag, cmd string) string {
			if strings.Contains(cmd, "BODY.PEEK[]") {
				return tag + " OK done\r\n"
			}
			return okAll(tag, cmd)
		}, ErrMissing},
		{"malformed response", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "SELECT") {
				return "* 3 EXISTS\n" + tag + " OK x\r\n"
			}
			return okAll(tag, cmd)
		}, ErrProtocol},
		{"disconnect after LOGIN", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "LOGIN") {
				return ""
			}
			return okAll(tag, cmd)
		}, ErrDisconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeIMAP(t, tc.answer)
			w, err := NewIMAP(IMAPConfig{
				Addr:  addr,
				Dial:  imapc.Options{Timeout: 10 * time.Second},
				Users: []Credential{{"u", "p"}},
				Mix:   DefaultMix(),
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), w, Options{Clients: 2, Ops: 300, Duration: 5 * time.Second, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors[tc.kind] == 0 {
				t.Errorf("no %s error counted; errors %v", tc.kind, res.Errors)
			}
		})
	}
	// The correct fake passes clean.
	t.Run("correct", func(t *testing.T) {
		addr := fakeIMAP(t, okAll)
		w, _ := NewIMAP(IMAPConfig{Addr: addr, Users: []Credential{{"u", "p"}}, Msgs: 4})
		res, err := Run(context.Background(), w, Options{Clients: 2, Ops: 500, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.ErrorCount != 0 {
			t.Errorf("errors %v %v", res.Errors, res.ErrorSamples)
		}
	})
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name string
		frac float64
		want string
	}{
		{"start", 0, "\r\033[K[..............................]   1.0s  500 ops  500 ops/s  2 errors"},
		{"half", 0.5, "\r\033[K[###############...............]   1.0s  500 ops  500 ops/s  2 errors"},
		{"past the end", 1.7, "\r\033[K[##############################]   1.0s  500 ops  500 ops/s  2 errors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine(tc.frac, time.Second, 500, 2); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
