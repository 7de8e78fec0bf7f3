package imapd

import (
	"sort"

	"github.com/cote-mail/cote/pkg/imap"
)

// This file holds the sequence-set grammar (RFC 9051 §9 sequence-set,
// with RFC 5182's "$"), resolved against the session's view.

// resolveSet turns a sequence set (sequence numbers, or UIDs when uid is
// set) into the UIDs of the view it names, ascending and without
// duplicates. Sequence numbers past the end of the view are a BAD, as
// Dovecot answers them; UIDs that do not exist are ignored (RFC 9051
// §6.4.8).
func (s *Session) resolveSet(set string, uid bool) ([]uint32, error) {
	parsed, err := imap.ParseSeqSet(set)
	if err != nil {
		return nil, bad("Invalid messageset")
	}
	return s.resolveParsed(parsed, uid)
}

// resolveParsed is resolveSet for a parsed set.
func (s *Session) resolveParsed(parsed imap.SeqSet, uid bool) ([]uint32, error) {
	ranges := parsed.Ranges
	if parsed.SearchRes {
		// RFC 5182: "$" names the saved UIDs that still exist.
		var out []uint32
		for _, u := range s.searchRes {
			if s.mbox.Seq(u) != 0 {
				out = append(out, u)
			}
		}
		return out, nil
	}
	count := s.mbox.Count()
	if !uid {
		// in[q] marks sequence number q: ascending and deduplicated by
		// construction, where a map and a sort cost 1:* on a large
		// mailbox tens of milliseconds.
		if count == 0 {
			return nil, nil
		}
		// The bitmap costs count bytes; a set of just a few numbers
		// (FETCH 5) spans at most those.
		lo, hi := count, uint32(1)
		for _, r := range ranges {
			for _, q := range [2]uint32{r.Start, r.Stop} {
				if q == 0 || q > count {
					q = count // "*", or past the end (a BAD below)
				}
				lo, hi = min(lo, q), max(hi, q)
			}
		}
		in := make([]bool, hi+1)
		n := 0
		for _, r := range ranges {
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = count
			}
			if hi == 0 {
				hi = count
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if hi > count || lo == 0 {
				return nil, bad("Invalid messageset")
			}
			for q := lo; q <= hi; q++ {
				if !in[q] {
					in[q] = true
					n++
				}
			}
		}
		out := make([]uint32, 0, n)
		for q := lo; q <= hi; q++ {
			if in[q] {
				out = append(out, s.mbox.UIDAt(q))
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	uids := s.mbox.UIDs()
	maxUID := uint32(0)
	if len(uids) > 0 {
		maxUID = uids[len(uids)-1]
	}
	in := make([]bool, len(uids))
	for _, r := range ranges {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = maxUID
		}
		if hi == 0 {
			hi = maxUID
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		i := sort.Search(len(uids), func(i int) bool { return uids[i] >= lo })
		for ; i < len(uids) && uids[i] <= hi; i++ {
			in[i] = true
		}
	}
	var out []uint32
	for i, u := range uids {
		if in[i] {
			out = append(out, u)
		}
	}
	return out, nil
}

// formatSet renders ascending numbers as a compact sequence set.
func formatSet(nums []uint32) string { return imap.FormatNums(nums) }
