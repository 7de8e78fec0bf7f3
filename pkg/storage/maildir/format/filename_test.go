package format

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseFilename(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Filename
		out  string // String(); "" means same as in
	}{
		{"dovecot seen with keywords", "1795798717.M527628P26014.vm,S=17,W=20:2,Sab",
			Filename{Base: "1795798717.M527628P26014.vm,S=17,W=20", Size: 17, VSize: 20, HasInfo: true, Flags: FlagSeen, Keywords: []byte("ab")}, ""},
		{"all flags", "1.M1P1.h,S=19,W=21:2,DFRTb",
			Filename{Base: "1.M1P1.h,S=19,W=21", Size: 19, VSize: 21, HasInfo: true, Flags: FlagDraft | FlagFlagged | FlagReplied | FlagTrashed, Keywords: []byte("b")}, ""},
		{"no info", "1.M1P1.h,S=5", Filename{Base: "1.M1P1.h,S=5", Size: 5, VSize: -1}, ""},
		{"empty info", "1.x:2,", Filename{Base: "1.x", Size: -1, VSize: -1, HasInfo: true}, ""},
		{"unsorted flags are sorted", "1.x:2,zSaF", Filename{Base: "1.x", Size: -1, VSize: -1, HasInfo: true, Flags: FlagSeen | FlagFlagged, Keywords: []byte("az")}, "1.x:2,FSaz"},
		{"passed and unknown flags kept", "1.x:2,PS1X", Filename{Base: "1.x", Size: -1, VSize: -1, HasInfo: true, Flags: FlagPassed | FlagSeen, Other: "1X"}, "1.x:2,1PSX"},
		{"second flag set kept", "1.x:2,S,foo", Filename{Base: "1.x", Size: -1, VSize: -1, HasInfo: true, Flags: FlagSeen, Extra: ",foo"}, ""},
		{"experimental info", "1.x:1,abc", Filename{Base: "1.x", Size: -1, VSize: -1, Info: "1,abc"}, ""},
		{"last colon is info", "1.x:junk:2,S", Filename{Base: "1.x", Size: -1, VSize: -1, HasInfo: true, Flags: FlagSeen}, "1.x:2,S"},
		{"bad size", "1.x,S=12a,W=3:2,", Filename{Base: "1.x,S=12a,W=3", Size: -1, VSize: 3, HasInfo: true}, ""},
		{"size before other field", "1.x,S=12,Z=9", Filename{Base: "1.x,S=12,Z=9", Size: 12, VSize: -1}, ""},
		{"duplicate flags", "1.x:2,SSaa", Filename{Base: "1.x", Size: -1, VSize: -1, HasInfo: true, Flags: FlagSeen, Keywords: []byte("a")}, "1.x:2,Sa"},
		{"courier style", "1234567890.12345_1.host:2,RS",
			Filename{Base: "1234567890.12345_1.host", Size: -1, VSize: -1, HasInfo: true, Flags: FlagReplied | FlagSeen}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseFilename(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseFilename(%q):\n-want %+v\n+got  %+v", tc.in, tc.want, got)
			}
			out := tc.out
			if out == "" {
				out = tc.in
			}
			if s := got.String(); s != out {
				t.Errorf("String() = %q, want %q", s, out)
			}
		})
	}
}

func TestFilenameSetFlags(t *testing.T) {
	f := ParseFilename("1.M2P3.h,S=10,W=11")
	f.HasInfo = true
	f.Flags = FlagSeen | FlagReplied
	f.Keywords = []byte("c")
	if got, want := f.String(), "1.M2P3.h,S=10,W=11:2,RSc"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestBaseGenerator(t *testing.T) {
	g := NewBaseGeneratorFor(26014, "mail/host:1")
	now := time.Unix(1795798717, 527628000)
	a := g.Next(now)
	if want := `1795798717.M527628P26014.mail\057host\0721`; a != want {
		t.Errorf("first = %q, want %q", a, want)
	}
	b := g.Next(now) // clock did not move: usecs bumped
	if want := `1795798717.M527629P26014.mail\057host\0721`; b != want {
		t.Errorf("second = %q, want %q", b, want)
	}
	c := g.Next(time.Unix(1795798717, 999999000))
	d := g.Next(time.Unix(1795798717, 999999000)) // wraps into next second
	if want := `1795798718.M0P26014.mail\057host\0721`; d != want {
		t.Errorf("wrap = %q (after %q), want %q", d, c, want)
	}
	seen := map[string]bool{}
	names := []string{}
	for i := 0; i < 1000; i++ {
		n := g.Next(now)
		if seen[n] {
			t.Fatalf("duplicate %q", n)
		}
		seen[n] = true
		names = append(names, n)
	}
	if !sort.SliceIsSorted(names, func(i, j int) bool { return CompareNames(names[i], names[j]) < 0 }) {
		t.Error("generated names not in CompareNames order")
	}
}

func TestCompareNames(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"seconds first", "9.M5P1.h", "10.M1P1.h", -1},
		{"usecs numeric", "10.M9P1.h", "10.M10P1.h", -1},
		{"base fallback", "10.M1P1.a", "10.M1P1.b", -1},
		{"info ignored", "10.M1P1.a:2,S", "10.M1P1.a:2,", 0},
		{"no usecs", "10.x", "10.y", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareNames(tc.a, tc.b); sign(got) != tc.want {
				t.Errorf("CompareNames(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := CompareNames(tc.b, tc.a); sign(got) != -tc.want {
				t.Errorf("reverse = %d", got)
			}
		})
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestSizes(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		size, vsize int64
	}{
		{"crlf", "a\r\nb\r\n", 6, 6},
		{"lf", "a\nb\n", 4, 6},
		{"mixed", "a\r\nb\nc", 6, 7},
		{"bare cr", "a\rb", 3, 3},
		{"empty", "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, v, err := Sizes(strings.NewReader(tc.in))
			if err != nil || s != tc.size || v != tc.vsize {
				t.Errorf("Sizes = %d %d %v, want %d %d", s, v, err, tc.size, tc.vsize)
			}
			// Byte-at-a-time writes must agree (CR at a write boundary).
			var c SizeCounter
			for i := 0; i < len(tc.in); i++ {
				c.Write([]byte{tc.in[i]})
			}
			if c.Size != tc.size || c.VSize != tc.vsize {
				t.Errorf("split writes = %d %d", c.Size, c.VSize)
			}
		})
	}
	if got := WithSizes("1.M1P1.h", 17, 20); got != "1.M1P1.h,S=17,W=20" {
		t.Errorf("WithSizes = %q", got)
	}
	if got := WithSizes("b", -1, 3); got != "b,W=3" {
		t.Errorf("WithSizes = %q", got)
	}
}
