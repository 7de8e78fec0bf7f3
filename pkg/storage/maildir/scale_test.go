package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
)

// scaleFixture writes n small messages straight into cur/ the way
// cote-bench bigmailbox --write does: names with S= and, when withW,
// W= (Dovecot's virtual size); bodies with bare LFs.
func scaleFixture(tb testing.TB, n int, withW bool) string {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), "home")
	root := filepath.Join(home, "Maildir")
	if err := os.MkdirAll(home, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := makeMaildir(root, false); err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf("From: a%d@example.org\nTo: b@example.net\nSubject: message %d\n\nbody %d\n", i, i, i))
		lines := 0
		for _, c := range body {
			if c == '\n' {
				lines++
			}
		}
		name := fmt.Sprintf("%d.M%dP1.scale,S=%d", 1600000000+i, i, len(body))
		if withW {
			name += ",W=" + strconv.Itoa(len(body)+lines)
		}
		name += ":2,S"
		p := filepath.Join(root, "cur", name)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			tb.Fatal(err)
		}
		it := t0.Add(time.Duration(i) * time.Millisecond)
		os.Chtimes(p, it, it)
	}
	old := time.Now().Add(-time.Hour)
	for _, sub := range []string{"new", "cur"} {
		os.Chtimes(filepath.Join(root, sub), old, old)
	}
	return home
}

func scaleN() int {
	if v, err := strconv.Atoi(os.Getenv("COTE_SCALE_N")); err == nil && v > 0 {
		return v
	}
	return 10000
}

// peakHeap runs fn and returns the highest heap in use seen while it
// ran, sampled by a goroutine every millisecond (runtime/metrics reads
// do not stop the world).
func peakHeap(fn func()) uint64 {
	runtime.GC()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	return <-done
}

// BenchmarkColdBuild: the first open of a Maildir cote has no index for
// (cote-bench bigmailbox's select1), with and without W= in the names;
// peak-heap-MiB is the heap high-water mark of the build.
// COTE_SCALE_N sets the size (10,000).
func BenchmarkColdBuild(b *testing.B) {
	n := scaleN()
	for _, withW := range []bool{true, false} {
		name := "noW"
		if withW {
			name = "W"
		}
		b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
			home := scaleFixture(b, n, withW)
			root := filepath.Join(home, "Maildir")
			var peak uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for _, f := range []string{indexName, logName, "dovecot-uidlist"} {
					os.Remove(filepath.Join(root, f))
				}
				b.StartTimer()
				p := peakHeap(func() { closeAll(benchOpen(b, home)) })
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// TestColdBuildSizes: a first open of a Maildir another program filled
// takes sizes from the names (S=, W=) and the file (no W=: line ends
// counted; no S=: the file size), the internal date from the mtime,
// on the parallel path (more than 64 messages) and the serial one.
func TestColdBuildSizes(t *testing.T) {
	bodies := []string{
		"Subject: lf\n\nbody\n",
		"Subject: crlf\r\n\r\nbody\r\n",
		"Subject: mixed\r\n\nbody\rx\n\r\n",
		"",
		"no newline at all",
		strings.Repeat("long line\n", 8000), // past one read buffer
		strings.Repeat("x", sizeBuf-1) + "\r\nnext\n", // CRLF across reads
	}
	for _, tc := range []struct {
		name string
		n    int
	}{{"serial", len(bodies)}, {"parallel", 200}} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			root := filepath.Join(home, "Maildir")
			must(t, makeMaildir(root, false))
			t0 := time.Unix(1700000000, 0)
			type want struct{ size, vsize, idate int64 }
			wants := map[string]want{}
			for i := 0; i < tc.n; i++ {
				body := bodies[i%len(bodies)]
				vsize := int64(len(body) + strings.Count(body, "\n") - strings.Count(body, "\r\n"))
				base := fmt.Sprintf("%d.M%dP1.host", 1700000000+i, i)
				switch i % 3 {
				case 0: // S= only
					base += ",S=" + strconv.Itoa(len(body))
				case 1: // S= and W=: trusted as Dovecot trusts them
					base += ",S=" + strconv.Itoa(len(body)) + ",W=" + strconv.FormatInt(vsize, 10)
				}
				p := filepath.Join(root, "cur", base+":2,S")
				must(t, os.WriteFile(p, []byte(body), 0o600))
				it := t0.Add(time.Duration(i) * time.Second)
				must(t, os.Chtimes(p, it, it))
				wants[fmt.Sprint(i)] = want{int64(len(body)), vsize, it.Unix()}
			}
			d := newDriver(t)
			u := openUser(t, home, d, nil)
			mb, err := u.Open("INBOX", false)
			must(t, err)
			defer mb.Close()
			if int(mb.Count()) != tc.n {
				t.Fatalf("%d messages, want %d", mb.Count(), tc.n)
			}
			i := 0
			must(t, mb.Messages(nil, func(m storage.Message) error {
				// UIDs follow the base names' order: time stamps
				// 1700000000+i, so message i has UID i+1.
				w := wants[fmt.Sprint(m.UID-1)]
				if m.PhysicalSize != w.size || m.Size != w.vsize || m.InternalDate.Unix() != w.idate {
					t.Errorf("uid %d: size %d vsize %d idate %d, want %+v", m.UID, m.PhysicalSize, m.Size, m.InternalDate.Unix(), w)
				}
				i++
				return nil
			}))
			if i != tc.n {
				t.Fatalf("listed %d of %d", i, tc.n)
			}
		})
	}
}

func TestCRLFCounter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   int64
	}{
		{"empty", nil, 0},
		{"bare LF", []string{"a\nb\n"}, 6},
		{"CRLF", []string{"a\r\nb\r\n"}, 6},
		{"CR alone", []string{"a\rb"}, 3},
		{"CRLF split", []string{"a\r", "\nb"}, 4},
		{"LF after split non-CR", []string{"a", "\nb"}, 4},
		{"CR then empty then LF", []string{"a\r", "", "\n"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c crlfCounter
			for _, ch := range tc.chunks {
				c.add([]byte(ch))
			}
			if c.n != tc.want {
				t.Fatalf("got %d, want %d", c.n, tc.want)
			}
			n, err := crlfSize(strings.NewReader(strings.Join(tc.chunks, "")))
			if err != nil || n != tc.want {
				t.Fatalf("crlfSize %d %v, want %d", n, err, tc.want)
			}
		})
	}
}

// bigState is an in-memory index of n messages, some with cached data.
func bigState(n int) *state {
	s := newState()
	s.uidValidity, s.firstRecent = 1, 1
	for i := 1; i <= n; i++ {
		base := fmt.Sprintf("%d.M%dP1.host,S=1000,W=1030", 1700000000+i, i)
		rec := encMessage(&msg{uid: uint32(i), base: base, name: base + ":2,S", modseq: uint64(i), size: 1000, vsize: 1030, idate: 1, sdate: 2})
		if _, err := readRecords(s, rec, true); err != nil {
			panic(err)
		}
		if i%10 == 0 {
			readRecords(s, encCache(uint32(i), "x", []byte("cached")), true)
		}
	}
	return s
}

// TestSnapshotStreams: writing the index of 30,000 messages allocates
// a bounded amount (the records are encoded into one reused buffer and
// streamed), and reading it back holds one record at a time besides the
// state; both round-trip.
func TestSnapshotStreams(t *testing.T) {
	const n = 30000
	s := bigState(n)
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	must(t, writeSnapshot(dir, s, 7))
	runtime.ReadMemStats(&after)
	fi, err := os.Stat(filepath.Join(dir, indexName))
	must(t, err)
	// The UID list (4 bytes a message) and the write buffer; encoding
	// each record apart made ~200 bytes of garbage a message.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*n+1<<20); got > limit {
		t.Errorf("writing a %d-byte snapshot allocated %d bytes, limit %d", fi.Size(), got, limit)
	}
	f, err := os.Open(filepath.Join(dir, indexName))
	must(t, err)
	defer f.Close()
	st, gen, err := loadSnapshot(f)
	must(t, err)
	if gen != 7 || len(st.msgs) != n || st.highest != s.highest || st.usedVBytes != s.usedVBytes {
		t.Fatalf("round trip: gen %d, %d messages, highest %d", gen, len(st.msgs), st.highest)
	}
	if m := st.msgs[n]; m == nil || m.name != s.msgs[n].name || func() bool { d, _ := m.cache.get("x"); return string(d) != "cached" }() {
		t.Fatalf("round trip lost message %d: %+v", n, m)
	}
	for _, e := range []msg{{uid: 1, base: "b", name: "b:2,S"}, {uid: 2, base: "b", name: "c", guid: "g"}} {
		if got := len(encMessage(&e)); got != msgRecLen(&e) {
			t.Errorf("msgRecLen %d, record %d bytes", msgRecLen(&e), got)
		}
	}
}

// TestSnapshotCorrupt: a truncated or damaged snapshot is errCorrupt
// (rebuilt), not an I/O error.
func TestSnapshotCorrupt(t *testing.T) {
	var good bytes.Buffer
	good.Write(header(3))
	must(t, bigState(3).snapshot(&good))
	g := good.Bytes()
	flip := append([]byte(nil), g...)
	flip[len(flip)-1] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", g[:5]},
		{"torn record", g[:len(g)-3]},
		{"torn frame header", g[:headerLen+4]},
		{"bad crc", flip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadSnapshot(bytes.NewReader(tc.data))
			var bad errCorrupt
			if !errors.As(err, &bad) {
				t.Fatalf("got %v, want errCorrupt", err)
			}
		})
	}
	if _, _, err := loadSnapshot(bytes.NewReader(g)); err != nil {
		t.Fatal(err)
	}
}
