package imap

import (
	"iter"
	"slices"
	"strconv"
	"strings"
)

// Star is the value "*" takes in a SeqRange before it is resolved: the
// largest sequence number or UID in use (RFC 9051 §9 seq-number).
const Star uint32 = 0

// MaxSeqRanges caps the ranges of one sequence set. A set is at most one
// command line (MaxLine, 64 KiB), which holds about 16,000 "n," items;
// the cap keeps the parsed form as small as the text.
const MaxSeqRanges = 16384

// SeqRange is "Start:Stop", or a single number when Start == Stop. Either
// end may be Star. Ends are kept as the client wrote them ("5:1" is the
// same range as "1:5", RFC 9051 §9 seq-range).
type SeqRange struct {
	Start, Stop uint32
}

// SeqSet is a parsed sequence set (RFC 9051 §9 sequence-set), or "$", the
// result saved by SEARCH RETURN (SAVE) (RFC 5182), which the engine
// substitutes: SearchRes is then true and Ranges empty.
type SeqSet struct {
	Ranges    []SeqRange
	SearchRes bool
}

// ParseSeqSet parses "1:5,7,9:*", "*" or "$". Numbers are nz-number
// (1..4294967295). Errors are *ArgError with status BAD.
func ParseSeqSet(s string) (SeqSet, error) {
	if s == "$" {
		return SeqSet{SearchRes: true}, nil
	}
	if s == "" {
		return SeqSet{}, badArg("Empty sequence set")
	}
	n := strings.Count(s, ",") + 1
	if n > MaxSeqRanges {
		return SeqSet{}, badArg("Too many ranges in sequence set")
	}
	set := SeqSet{Ranges: make([]SeqRange, 0, n)}
	for item := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(item, ":")
		start, err := parseSeqNumber(a)
		if err != nil {
			return SeqSet{}, err
		}
		stop := start
		if isRange {
			if stop, err = parseSeqNumber(b); err != nil {
				return SeqSet{}, err
			}
		}
		set.Ranges = append(set.Ranges, SeqRange{Start: start, Stop: stop})
	}
	return set, nil
}

// parseSeqNumber parses seq-number: nz-number or "*".
func parseSeqNumber(s string) (uint32, error) {
	if s == "*" {
		return Star, nil
	}
	if s == "" || s[0] == '0' || len(s) > 10 {
		return 0, badArg("Invalid sequence set")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, badArg("Invalid sequence set")
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, badArg("Invalid sequence set")
	}
	return uint32(v), nil
}

// IsSeqSet reports whether s has the syntax of a sequence set or "$"; the
// SEARCH parser uses it to tell a set from a search key.
func IsSeqSet(s string) bool {
	if s == "" {
		return false
	}
	if s == "$" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '*' && c != ':' && c != ',' {
			return false
		}
	}
	_, err := ParseSeqSet(s)
	return err == nil
}

// Resolve returns the set with "*" replaced by star (the largest sequence
// number or UID; 0 in an empty mailbox), each range ordered, sorted and
// merged. Numbers above star are kept: for UIDs they simply match
// nothing, for sequence numbers the engine decides (RFC 9051 §6.4.8
// makes "UID 4:*" with largest UID 3 mean 3:4, which this keeps).
// A SearchRes set resolves to nil: the engine substitutes it first.
func (s SeqSet) Resolve(star uint32) []SeqRange {
	out := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == Star {
			a = star
		}
		if b == Star {
			b = star
		}
		if a > b {
			a, b = b, a
		}
		if b == 0 {
			// "*" in an empty mailbox: nothing.
			continue
		}
		if a == 0 {
			a = 1
		}
		out = append(out, SeqRange{Start: a, Stop: b})
	}
	return normalizeRanges(out)
}

// normalizeRanges sorts ordered ranges and merges overlapping or adjacent
// ones, in place.
func normalizeRanges(rs []SeqRange) []SeqRange {
	if len(rs) < 2 {
		return rs
	}
	slices.SortFunc(rs, func(x, y SeqRange) int {
		switch {
		case x.Start < y.Start:
			return -1
		case x.Start > y.Start:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if last.Stop == ^uint32(0) || r.Start <= last.Stop+1 {
			if r.Stop > last.Stop {
				last.Stop = r.Stop
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Contains reports whether n is in the set, "*" standing for star.
func (s SeqSet) Contains(n, star uint32) bool {
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == Star {
			a = star
		}
		if b == Star {
			b = star
		}
		if a > b {
			a, b = b, a
		}
		if n >= a && n <= b {
			return true
		}
	}
	return false
}

// Max returns the largest number of the set with "*" as star; a
// sequence-number command whose set exceeds the mailbox's count is a
// BAD (RFC 9051 §9 seq-number: "*" and numbers must exist).
func (s SeqSet) Max(star uint32) uint32 {
	var m uint32
	for _, r := range s.Ranges {
		for _, v := range [2]uint32{r.Start, r.Stop} {
			if v == Star {
				v = star
			}
			if v > m {
				m = v
			}
		}
	}
	return m
}

// All iterates over the numbers of the resolved set in ascending order,
// each once.
func (s SeqSet) All(star uint32) iter.Seq[uint32] {
	rs := s.Resolve(star)
	return func(yield func(uint32) bool) {
		for _, r := range rs {
			for n := r.Start; ; n++ {
				if !yield(n) {
					return
				}
				if n == r.Stop {
					break
				}
			}
		}
	}
}

// String renders the set as the client could have written it ("$" for a
// SearchRes set); ParseSeqSet(s.String()) returns s.
func (s SeqSet) String() string {
	if s.SearchRes {
		return "$"
	}
	return string(AppendRanges(nil, s.Ranges))
}

// AppendRanges renders ranges as a sequence set: "n" or "a:b", comma
// separated, Star as "*".
func AppendRanges(dst []byte, rs []SeqRange) []byte {
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendSeqNumber(dst, r.Start)
		if r.Stop != r.Start {
			dst = append(dst, ':')
			dst = appendSeqNumber(dst, r.Stop)
		}
	}
	return dst
}

func appendSeqNumber(dst []byte, n uint32) []byte {
	if n == Star {
		return append(dst, '*')
	}
	return strconv.AppendUint(dst, uint64(n), 10)
}

// RangesOf compresses numbers into ranges without reordering them: runs
// of consecutive ascending numbers become one range. The order matters
// for COPYUID, whose source and destination sets pair up by position
// (RFC 4315 §3); for sorted input the result is the normalized set.
func RangesOf(nums []uint32) []SeqRange {
	var out []SeqRange
	for _, n := range nums {
		if k := len(out); k > 0 && out[k-1].Stop != ^uint32(0) && out[k-1].Stop+1 == n {
			out[k-1].Stop = n
			continue
		}
		out = append(out, SeqRange{Start: n, Stop: n})
	}
	return out
}

// FormatNums renders numbers as a compact sequence set in their order
// ("1:3,7" for 1 2 3 7), for COPYUID, APPENDUID and ESEARCH ALL; "" for
// none.
func FormatNums(nums []uint32) string {
	return string(AppendRanges(nil, RangesOf(nums)))
}
