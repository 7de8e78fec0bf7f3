package imap

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseSeqSet(t *testing.T) {
	tests := []struct {
		in   string
		want SeqSet
		err  string
	}{
		{"1", SeqSet{Ranges: []SeqRange{{1, 1}}}, ""},
		{"1:5,7,9:*", SeqSet{Ranges: []SeqRange{{1, 5}, {7, 7}, {9, Star}}}, ""},
		{"*", SeqSet{Ranges: []SeqRange{{Star, Star}}}, ""},
		{"*:3", SeqSet{Ranges: []SeqRange{{Star, 3}}}, ""},
		{"5:1", SeqSet{Ranges: []SeqRange{{5, 1}}}, ""},
		{"4294967295", SeqSet{Ranges: []SeqRange{{4294967295, 4294967295}}}, ""},
		{"$", SeqSet{SearchRes: true}, ""},
		{"", SeqSet{}, "Empty sequence set"},
		{"0", SeqSet{}, "Invalid sequence set"},
		{"01", SeqSet{}, "Invalid sequence set"},
		{"4294967296", SeqSet{}, "Invalid sequence set"},
		{"1,", SeqSet{}, "Invalid sequence set"},
		{",1", SeqSet{}, "Invalid sequence set"},
		{"1::2", SeqSet{}, "Invalid sequence set"},
		{"1:2:3", SeqSet{}, "Invalid sequence set"},
		{"a", SeqSet{}, "Invalid sequence set"},
		{"$,1", SeqSet{}, "Invalid sequence set"},
		{"-1", SeqSet{}, "Invalid sequence set"},
		{strings.Repeat("1,", MaxSeqRanges) + "1", SeqSet{}, "Too many ranges"},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseSeqSet(tc.in)
			if tc.err != "" {
				wantArgError(t, err, "BAD", tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want %q", s, tc.in)
			}
		})
	}
}

func TestSeqSetResolve(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		star     uint32
		want     []SeqRange
		contains []uint32
		absent   []uint32
		max      uint32
	}{
		{"merge and sort", "9,1:3,4,2:5,7", 10, []SeqRange{{1, 5}, {7, 7}, {9, 9}}, []uint32{1, 5, 7, 9}, []uint32{6, 8, 10}, 9},
		{"star", "5:*", 8, []SeqRange{{5, 8}}, []uint32{5, 8}, []uint32{4, 9}, 8},
		{"star below start", "5:*", 3, []SeqRange{{3, 5}}, []uint32{3, 4, 5}, []uint32{2, 6}, 5},
		{"star empty mailbox", "*", 0, []SeqRange{}, nil, []uint32{1}, 0},
		{"range to star in empty mailbox", "1:*", 0, []SeqRange{{1, 1}}, nil, nil, 1},
		{"reversed", "7:3", 10, []SeqRange{{3, 7}}, []uint32{3, 7}, []uint32{2, 8}, 7},
		{"top", "4294967294:4294967295,1", 0, []SeqRange{{1, 1}, {4294967294, 4294967295}}, []uint32{4294967295}, []uint32{2}, 4294967295},
		{"adjacent at top", "4294967295,4294967294", 0, []SeqRange{{4294967294, 4294967295}}, nil, nil, 4294967295},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSeqSet(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Resolve(tc.star)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Resolve = %v want %v", got, tc.want)
			}
			for _, n := range tc.contains {
				if !s.Contains(n, tc.star) {
					t.Errorf("Contains(%d) = false", n)
				}
			}
			for _, n := range tc.absent {
				if s.Contains(n, tc.star) {
					t.Errorf("Contains(%d) = true", n)
				}
			}
			if m := s.Max(tc.star); m != tc.max {
				t.Errorf("Max = %d want %d", m, tc.max)
			}
		})
	}
}

func TestSeqSetAll(t *testing.T) {
	s, _ := ParseSeqSet("8:*,2,3,1,5")
	got := slices.Collect(s.All(10))
	want := []uint32{1, 2, 3, 5, 8, 9, 10}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	// Stopping early works, and the top of the range does not wrap.
	top, _ := ParseSeqSet("4294967294:*")
	got = slices.Collect(top.All(4294967295))
	if !reflect.DeepEqual(got, []uint32{4294967294, 4294967295}) {
		t.Errorf("top: got %v", got)
	}
	for n := range s.All(10) {
		if n == 3 {
			break
		}
	}
}

func TestFormatNums(t *testing.T) {
	tests := []struct {
		name string
		in   []uint32
		want string
	}{
		{"empty", nil, ""},
		{"one", []uint32{4}, "4"},
		{"runs", []uint32{1, 2, 3, 7, 9, 10}, "1:3,7,9:10"},
		{"order kept", []uint32{5, 6, 1, 2}, "5:6,1:2"},
		{"descending not merged", []uint32{3, 2, 1}, "3,2,1"},
		{"top", []uint32{4294967295, 1}, "4294967295,1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatNums(tc.in); got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

func FuzzSeqSet(f *testing.F) {
	for _, s := range []string{"1", "1:5,7,9:*", "*", "$", "5:1,3", "4294967295:1", "1,,2", "0"} {
		f.Add(s, uint32(10))
	}
	f.Fuzz(func(t *testing.T, in string, star uint32) {
		s, err := ParseSeqSet(in)
		if err != nil {
			return
		}
		if back, err := ParseSeqSet(s.String()); err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("String() = %q parses to %+v, %v; want %+v", s.String(), back, err, s)
		}
		if !IsSeqSet(in) {
			t.Fatalf("IsSeqSet(%q) = false", in)
		}
		rs := s.Resolve(star)
		for i, r := range rs {
			if r.Start == 0 || r.Start > r.Stop {
				t.Fatalf("bad range %v in %v", r, rs)
			}
			if i > 0 && uint64(rs[i-1].Stop)+1 >= uint64(r.Start) {
				t.Fatalf("ranges not merged: %v", rs)
			}
			// Every resolved end is in the set.
			if !s.Contains(r.Start, star) || !s.Contains(r.Stop, star) {
				t.Fatalf("Contains disagrees with Resolve at %v", r)
			}
		}
		// Resolved ranges re-render and parse back to themselves.
		if len(rs) > 0 {
			back, err := ParseSeqSet(string(AppendRanges(nil, rs)))
			if err != nil || !reflect.DeepEqual(back.Resolve(star), rs) {
				t.Fatalf("resolved set does not round trip: %v %v", rs, err)
			}
		}
	})
}
