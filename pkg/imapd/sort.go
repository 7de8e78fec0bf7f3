package imapd

import (
	"slices"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/storage"
)

// sortItem is one message being sorted, with the keys the criteria need.
type sortItem struct {
	uid  uint32
	size int64
	t    time.Time // ARRIVAL or DATE
	str  []string  // the string keys, in criteria order, folded
	hdr  *sortHeaders
}

// searchUIDs runs a parsed search program over the selected mailbox and
// returns the matching messages, ascending by UID.
func (s *Session) searchUIDs(c *cmdCtx, prog *searchKey) ([]storage.Message, error) {
	var hits []storage.Message
	// Header keys fill the header cache as SEARCH's do (searchcache.go).
	fill := s.newHeaderFill(prog)
	err := s.mbox.Messages(nil, func(m storage.Message) error {
		if err := c.ctx.Err(); err != nil {
			return &ioError{errShutdown}
		}
		sm := &searchMsg{s: s, m: m, hc: searchHeaderCache{fill: fill}}
		if sm.matches(prog) {
			hits = append(hits, m)
		}
		return nil
	})
	fill.flush()
	return hits, err
}

// cmdSort: SORT and UID SORT (RFC 5256 §3), with SORT=DISPLAY's keys
// (RFC 5957), ESORT's RETURN options (RFC 5267 §3) and CONTEXT=SORT's
// PARTIAL, UPDATE and CONTEXT (RFC 5267 §4, context5267.go).
func cmdSort(s *Session, c *cmdCtx) error {
	parsed, err := imap.ParseSort(c.args, !s.rev2, charset.Decode)
	if err != nil {
		return err
	}
	ret := parsed.Return
	upd, err := s.prepareUpdate(c, ret)
	if err != nil {
		return err
	}
	prog, err := s.compile(parsed.Search.Key)
	if err != nil {
		return err
	}
	hits, err := s.searchUIDs(c, prog)
	if err != nil {
		return err
	}
	items, err := s.sortItems(hits, parsed.Criteria)
	if err != nil {
		return err
	}
	uids := make([]uint32, len(items))
	for i := range items {
		uids[i] = items[i].uid
	}
	if upd != nil {
		// Written after the ESEARCH response (RFC 5267 §4.3.1's
		// example puts a NOUPDATE refusal there).
		defer s.addSortContext(c, upd, prog, parsed.Criteria, items)
	}
	nums := uids
	if !c.uid {
		nums = make([]uint32, len(uids))
		for i, u := range uids {
			nums[i] = s.mbox.Seq(u)
		}
	}
	if ret == nil {
		s.w.WriteString("* SORT")
		for _, n := range nums {
			s.w.WriteString(" " + itoa(n))
		}
		s.w.CRLF()
		return nil
	}
	if ret.Save {
		// RFC 5182 §2.4 as for SEARCH; MIN and MAX are the first and
		// last in sort order (RFC 5267 §3.2).
		switch {
		case len(uids) == 0 || ret.All || ret.Count || (!ret.Min && !ret.Max):
			s.searchRes = slices.Sorted(slices.Values(uids))
		case ret.Min && ret.Max && len(uids) > 1:
			s.searchRes = slices.Sorted(slices.Values([]uint32{uids[0], uids[len(uids)-1]}))
		case ret.Min:
			s.searchRes = uids[:1:1]
		default:
			s.searchRes = slices.Clone(uids[len(uids)-1:])
		}
		if saveOnly(ret) {
			return nil
		}
	}
	s.w.WriteString(`* ESEARCH (TAG `)
	s.w.String(c.tag)
	s.w.WriteString(")")
	if c.uid {
		s.w.WriteString(" UID")
	}
	if len(nums) > 0 {
		if ret.Min {
			s.w.WriteString(" MIN " + itoa(nums[0]))
		}
		if ret.Max {
			s.w.WriteString(" MAX " + itoa(nums[len(nums)-1]))
		}
		if ret.All {
			s.w.WriteString(" ALL " + orderedSet(nums))
		}
	}
	if ret.Partial != nil {
		// RFC 5267 §4.4: the window of the result in sort order.
		s.w.WriteString(" PARTIAL (" + ret.Partial.String() + " ")
		if w := partialWindow(nums, *ret.Partial); len(w) > 0 {
			s.w.WriteString(orderedSet(w) + ")")
		} else {
			s.w.WriteString("NIL)")
		}
	}
	if ret.Count {
		s.w.WriteString(" COUNT " + itoa(uint32(len(nums))))
	}
	s.w.CRLF()
	return nil
}

// orderedSet writes numbers in their given order (RFC 5267 §3.2: ESORT's
// ALL is in sort order), joining only ascending runs into ranges.
func orderedSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(itoa(nums[i]))
		if j > i {
			b.WriteString(":" + itoa(nums[j]))
		}
		i = j + 1
	}
	return b.String()
}

// sortMessages orders msgs by the criteria; ties keep sequence (UID)
// order, as RFC 5256 §3 requires. It returns the UIDs.
func (s *Session) sortMessages(msgs []storage.Message, crit []imap.SortCriterion) ([]uint32, error) {
	items, err := s.sortItems(msgs, crit)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(items))
	for i := range items {
		out[i] = items[i].uid
	}
	return out, nil
}

// sortItems computes the keys of msgs and returns them in sort order. A
// SORT update context keeps the items, so a message that enters the
// result later is placed by the same comparison (context5267.go).
func (s *Session) sortItems(msgs []storage.Message, crit []imap.SortCriterion) ([]sortItem, error) {
	items := make([]sortItem, len(msgs))
	for i, m := range msgs {
		if err := s.fillSortItem(&items[i], m, crit); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(items, sortCmp(crit))
	return items, nil
}

// fillSortItem computes the keys the criteria need for one message.
func (s *Session) fillSortItem(it *sortItem, m storage.Message, crit []imap.SortCriterion) error {
	it.uid, it.size = m.UID, m.Size
	it.str = make([]string, len(crit))
	for j, cr := range crit {
		switch cr.Key {
		case imap.SortArrival:
			it.t = m.InternalDate
		case imap.SortSize:
		case imap.SortDate:
			h, err := s.itemHeaders(it)
			if err != nil {
				return err
			}
			it.t = sentDate(h, m.InternalDate)
		default:
			h, err := s.itemHeaders(it)
			if err != nil {
				return err
			}
			it.str[j] = sortString(cr.Key, h)
		}
	}
	it.hdr = nil
	return nil
}

// sortCmp is the order of the criteria, total: ties go by sequence
// order, which is UID order.
func sortCmp(crit []imap.SortCriterion) func(a, b sortItem) int {
	return func(a, b sortItem) int {
		for j, cr := range crit {
			var r int
			switch cr.Key {
			case imap.SortArrival, imap.SortDate:
				r = a.t.Compare(b.t)
			case imap.SortSize:
				r = cmpInt64(a.size, b.size)
			default:
				r = strings.Compare(a.str[j], b.str[j])
			}
			if cr.Reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmpInt64(int64(a.uid), int64(b.uid))
	}
}

func (s *Session) itemHeaders(it *sortItem) (*sortHeaders, error) {
	if it.hdr == nil {
		h, err := s.headersOf(it.uid)
		if err != nil {
			return nil, err
		}
		it.hdr = h
	}
	return it.hdr, nil
}

// sortString is the folded string key of a message (i;unicode-casemap:
// Dovecot titlecases and decomposes every string key, then compares
// octets).
func sortString(k imap.SortKey, h *sortHeaders) string {
	switch k {
	case imap.SortSubject:
		b, _ := baseSubject(h.f[hSubject])
		return b
	case imap.SortFrom:
		return foldString(firstMailbox(h.f[hFrom]))
	case imap.SortTo:
		return foldString(firstMailbox(h.f[hTo]))
	case imap.SortCc:
		return foldString(firstMailbox(h.f[hCc]))
	case imap.SortDisplayFrom:
		return foldString(displayName(h.f[hFrom]))
	case imap.SortDisplayTo:
		return foldString(displayName(h.f[hTo]))
	}
	return ""
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
