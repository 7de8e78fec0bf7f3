package imapd

import (
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// This file holds CONDSTORE and QRESYNC (RFC 7162): enabling, the
// SELECT/EXAMINE parameters, VANISHED, and the pieces FETCH, STORE and
// SEARCH call.

// enableCondStore records a CONDSTORE-enabling command (RFC 7162 §3.1).
// The first one with a mailbox selected announces its HIGHESTMODSEQ,
// which the SELECT did not (§3.1.2.1), as Dovecot does.
func (s *Session) enableCondStore() {
	if s.condstore {
		return
	}
	s.condstore = true
	if s.mbox != nil {
		s.w.WriteString("* OK [HIGHESTMODSEQ " + s.highestModSeq() + "] Highest\r\n")
	}
}

// highestModSeq is the selected mailbox's HIGHESTMODSEQ. A mailbox that
// never changed has none yet; RFC 7162 §7 makes the value positive, and
// every later change gets a modseq above 1.
func (s *Session) highestModSeq() string {
	return strconv.FormatUint(max(s.mbox.HighestModSeq(), 1), 10)
}

// saveDate is the RFC 8514 SAVEDATE of m: when it was saved into this
// mailbox. The store records one for every message (the time it indexed
// a file another program delivered); a store without one falls back to
// the internal date.
func saveDate(m storage.Message) time.Time {
	if m.SaveDate.Unix() <= 0 {
		return m.InternalDate
	}
	return m.SaveDate
}

// selectParams parses the optional SELECT/EXAMINE parameter list.
func (s *Session) selectParams(c *cmdCtx) (imap.SelectParams, error) {
	if len(c.args) == 1 {
		return imap.SelectParams{}, nil
	}
	if len(c.args) != 2 {
		return imap.SelectParams{}, bad("Invalid arguments.")
	}
	p, err := imap.ParseSelectParams(c.args[1])
	if err != nil {
		return p, err
	}
	if p.QResync != nil && !s.qresync {
		// RFC 7162 §3.2.5: QRESYNC without ENABLE QRESYNC is a BAD.
		return p, bad("QRESYNC not enabled.")
	}
	return p, nil
}

// selectCondStore writes what CONDSTORE and QRESYNC add to a SELECT or
// EXAMINE: HIGHESTMODSEQ, then with QRESYNC the expunges since the
// client's modseq as VANISHED (EARLIER) and the changed messages as FETCH
// (RFC 7162 §3.2.5).
func (s *Session) selectCondStore(p imap.SelectParams) error {
	if p.CondStore || p.QResync != nil {
		s.condstore = true
	}
	if !s.condstore {
		return nil
	}
	s.w.WriteString("* OK [HIGHESTMODSEQ " + s.highestModSeq() + "] Highest\r\n")
	q := p.QResync
	if q == nil || q.UIDValidity != s.mbox.UIDValidity() {
		// A different UIDVALIDITY: the client must resync from scratch;
		// the normal SELECT responses tell it so.
		return nil
	}
	last := s.mbox.UIDNext() - 1
	var known []imap.SeqRange
	if len(q.KnownUIDs.Ranges) > 0 {
		known = clipRanges(q.KnownUIDs.Resolve(last), last)
	} else if last > 0 {
		known = []imap.SeqRange{{Start: 1, Stop: last}}
	}
	if van := s.vanishedSince(q.ModSeq, known, q); len(van) > 0 {
		s.writeVanished(van, true)
	}
	// FETCH of every message of the known set changed since (new
	// messages included: their modseq is above the client's too).
	return s.mbox.Messages(nil, func(m storage.Message) error {
		if m.ModSeq <= q.ModSeq || (len(q.KnownUIDs.Ranges) > 0 && !rangesContain(known, m.UID)) {
			return nil
		}
		s.writeFlagsFetch(m, true)
		return nil
	})
}

// vanishedSince returns the UID ranges of known that were expunged with a
// modseq above modseq and are no longer in the session's view. When the
// store cannot vouch for its expunge record, every UID of known missing
// from the view is reported (RFC 7162 §3.2.5.2 allows UIDs the client
// never saw), narrowed by the sequence match data when q has it.
func (s *Session) vanishedSince(modseq uint64, known []imap.SeqRange, q *imap.QResync) []imap.SeqRange {
	if len(known) == 0 {
		return nil
	}
	uids, complete := s.mbox.ExpungedSince(modseq)
	if complete {
		var out []uint32
		i := 0
		for _, u := range uids {
			for i < len(known) && known[i].Stop < u {
				i++
			}
			if i == len(known) {
				break
			}
			if u >= known[i].Start && s.mbox.Seq(u) == 0 {
				out = append(out, u)
			}
		}
		return imap.RangesOf(out)
	}
	view := s.mbox.UIDs()
	from := uint32(1)
	if q != nil && q.SeqMatch {
		from = s.seqMatchFloor(q) + 1
	}
	var out []imap.SeqRange
	for _, r := range known {
		a := max(r.Start, from)
		if a > r.Stop {
			continue
		}
		i, _ := slices.BinarySearch(view, a)
		for a <= r.Stop {
			if i < len(view) && view[i] == a {
				a++
				i++
				continue
			}
			b := r.Stop
			if i < len(view) && view[i]-1 < b {
				b = view[i] - 1
			}
			out = append(out, imap.SeqRange{Start: a, Stop: b})
			if b == r.Stop {
				break
			}
			a = b + 1
		}
	}
	return out
}

// seqMatchFloor applies the sequence match data (RFC 7162 §3.2.5.2): the
// client's pairs of sequence number and UID, taken in order while each
// still holds in the view; the UID of the last that holds has as many
// messages at or below it as the client knew, so nothing the client knew
// below it was expunged.
func (s *Session) seqMatchFloor(q *imap.QResync) uint32 {
	count := s.mbox.Count()
	seqs := q.KnownSeqs.Resolve(count)
	uids := q.KnownSeqUIDs.Resolve(s.mbox.UIDNext() - 1)
	// Walk both sets in step; a pair past the view cannot hold, so the
	// walk is bounded by the view, whatever ranges the client sent.
	floor := uint32(0)
	i, j := 0, 0
	var seq, uid uint32
	if len(seqs) > 0 {
		seq = seqs[0].Start
	}
	if len(uids) > 0 {
		uid = uids[0].Start
	}
	for i < len(seqs) && j < len(uids) && seq <= count {
		if s.mbox.UIDAt(seq) != uid {
			break
		}
		floor = uid
		if seq++; seq > seqs[i].Stop {
			if i++; i < len(seqs) {
				seq = seqs[i].Start
			}
		}
		if uid++; uid > uids[j].Stop {
			if j++; j < len(uids) {
				uid = uids[j].Start
			}
		}
	}
	return floor
}

// clipRanges drops what lies above last (UIDs never assigned).
func clipRanges(rs []imap.SeqRange, last uint32) []imap.SeqRange {
	out := rs[:0]
	for _, r := range rs {
		if r.Start > last {
			continue
		}
		r.Stop = min(r.Stop, last)
		out = append(out, r)
	}
	return out
}

// rangesContain reports whether sorted, merged ranges hold n.
func rangesContain(rs []imap.SeqRange, n uint32) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Stop >= n })
	return i < len(rs) && rs[i].Start <= n
}

// writeVanished writes "* VANISHED [(EARLIER)] set" (RFC 7162 §3.2.10).
func (s *Session) writeVanished(rs []imap.SeqRange, earlier bool) {
	s.w.WriteString("* VANISHED ")
	if earlier {
		s.w.WriteString("(EARLIER) ")
	}
	s.w.WriteString(string(imap.AppendRanges(nil, rs)))
	s.w.CRLF()
}

// writeFlagsFetch writes an unsolicited-style FETCH of m's flags: UID,
// FLAGS and, with CONDSTORE enabled, MODSEQ (RFC 7162 §3.1.4, §3.2.4).
func (s *Session) writeFlagsFetch(m storage.Message, flags bool) {
	s.w.WriteString("* " + itoa(s.mbox.Seq(m.UID)) + " FETCH (UID " + itoa(m.UID))
	if flags {
		s.w.WriteString(" FLAGS " + s.flagList(m))
	}
	if s.condstore {
		s.w.WriteString(" MODSEQ (" + strconv.FormatUint(m.ModSeq, 10) + ")")
	}
	s.w.WriteString(")\r\n")
}

// fetchVanished answers UID FETCH's VANISHED modifier (RFC 7162 §3.2.6):
// the UIDs of the set expunged since the CHANGEDSINCE modseq, before the
// FETCH responses.
func (s *Session) fetchVanished(set string, modseq uint64) error {
	parsed, err := imap.ParseSeqSet(set)
	if err != nil {
		return bad("Invalid messageset")
	}
	last := s.mbox.UIDNext() - 1
	var known []imap.SeqRange
	if parsed.SearchRes {
		known = imap.RangesOf(s.searchRes)
	} else {
		known = clipRanges(parsed.Resolve(last), last)
	}
	if van := s.vanishedSince(modseq, known, nil); len(van) > 0 {
		s.writeVanished(van, true)
	}
	return nil
}

// storeResult writes STORE's FETCH responses under CONDSTORE: FLAGS
// (unless .SILENT) and MODSEQ for every message that changed; .SILENT
// still reports the new MODSEQ (RFC 7162 §3.1.3, example 4).
func (s *Session) storeResult(c *cmdCtx, uids []uint32, failed []uint32, silent bool) error {
	if len(failed) > 0 {
		nums := slices.Clone(failed)
		if !c.uid {
			for i, u := range nums {
				nums[i] = s.mbox.Seq(u)
			}
		}
		slices.Sort(nums)
		c.code = "MODIFIED " + formatSet(nums)
		c.text = "Conditional store failed."
	}
	ok := uids
	if len(failed) > 0 {
		bad := toSet(failed)
		ok = slices.DeleteFunc(slices.Clone(uids), func(u uint32) bool { return bad[u] })
	}
	return s.mbox.Messages(ok, func(m storage.Message) error {
		seq := s.mbox.Seq(m.UID)
		s.w.WriteString("* " + itoa(seq) + " FETCH (")
		if c.uid || s.qresync {
			s.w.WriteString("UID " + itoa(m.UID) + " ")
		}
		if !silent {
			s.w.WriteString("FLAGS " + s.flagList(m) + " ")
		}
		s.w.WriteString("MODSEQ (" + strconv.FormatUint(m.ModSeq, 10) + "))\r\n")
		return nil
	})
}

// condStoreItems applies CONDSTORE to a FETCH's items: MODSEQ and
// CHANGEDSINCE enable it (RFC 7162 §3.1) and CHANGEDSINCE implies MODSEQ
// (§3.1.4.1). A plain FETCH FLAGS stays without MODSEQ, as in Dovecot:
// the RFC asks it of unsolicited FETCH responses only.
func (s *Session) condStoreItems(items []fetchItem, mods imap.FetchModifiers) []fetchItem {
	hasMod := hasItem(items, imap.FetchModSeq)
	if hasMod || mods.Changed {
		s.enableCondStore()
	}
	if !hasMod && mods.Changed {
		it := imap.FetchItem{Attr: imap.FetchModSeq}
		items = append(items, fetchItem{FetchItem: it, name: it.ResponseName()})
	}
	return items
}

// hasItem reports whether items ask for attr.
func hasItem(items []fetchItem, attr imap.FetchAttr) bool {
	for _, it := range items {
		if it.Attr == attr {
			return true
		}
	}
	return false
}
