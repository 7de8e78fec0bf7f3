package maildir

import (
	"testing"
)

// FuzzIndex feeds arbitrary bytes to the index reader: it must never
// panic, and a snapshot it accepts must re-encode to records it accepts
// again with the same messages.
func FuzzIndex(f *testing.F) {
	s := newState()
	s.uidValidity, s.firstRecent, s.keywords = 1, 1, []string{"a", "", "b"}
	s.msgs[1] = &msg{uid: 1, base: "1.M1P1.h", name: "1.M1P1.h:2,S", modseq: 3, size: 10, vsize: 11}
	s.byBase["1.M1P1.h"] = s.msgs[1]
	var w bytesBuf
	s.snapshot(&w)
	f.Add(w.b)
	f.Add(encExpunge(2, 9))
	f.Add(frame(recCache, []byte{1, 0, 0, 0, 1, 0, 0, 0, 'x', 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := newState()
		n, err := readRecords(st, data, false)
		if n < 0 || n > len(data) {
			t.Fatalf("used %d of %d", n, len(data))
		}
		if err != nil {
			return
		}
		var out bytesBuf
		if err := st.snapshot(&out); err != nil {
			t.Fatal(err)
		}
		st2 := newState()
		if _, err := readRecords(st2, out.b, true); err != nil {
			t.Fatalf("re-encoded snapshot rejected: %v", err)
		}
		if len(st2.msgs) != len(st.msgs) {
			t.Fatalf("%d messages after round trip, want %d", len(st2.msgs), len(st.msgs))
		}
	})
}

type bytesBuf struct{ b []byte }

func (w *bytesBuf) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
