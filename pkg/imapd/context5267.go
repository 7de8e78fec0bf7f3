package imapd

import (
	"context"
	"slices"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): SEARCH and SORT with
// RETURN (UPDATE) leave an update context behind, named by the command's
// tag, whose result the session keeps (UIDs in mailbox order for SEARCH;
// for SORT the sort keys too, in sort order). At the points where the
// selected mailbox's changes are reported (syncSelected in notify.go:
// after a command, during IDLE) the messages that may have entered or
// left a result are tested against the context's compiled program:
//   - expunged messages leave, with REMOVEFROM sent before the EXPUNGE
//     or VANISHED response (§4.3.4), numbered as before the expunge;
//   - new messages (UIDs above the highest one the context has seen) and
//     messages whose modseq grew (flag changes, by this session or
//     another; every change gets a modseq) are tested again, and ADDTO
//     and REMOVEFROM follow EXISTS and the FETCH responses (§4.3.3, RFC
//     5465 §5.1-5.2).
// Message content never changes, so only flag-dependent keys can move a
// message in or out, and sort keys never depend on flags: a message
// enters or leaves a SORT context but never moves inside it.
//
// SEARCH updates use context position 0 and mailbox order, as Dovecot
// does (§4.3.3 allows it); SORT updates give the positions in sort order,
// each pair applied after the previous one. Sequence numbers in the
// program were resolved to UIDs when the command ran (§4.3: they are not
// re-evaluated). After STORE or FETCH by sequence number, which may not
// change the view (RFC 9051 §7.5.1), the messages they named are tested
// at once, as Dovecot reports the session's own changes (contextsNoSync).
//
// Limits: maxUpdateContexts per session, of which maxSortUpdateContexts
// SORT ones; beyond them the command answers as asked but its UPDATE is
// refused with an untagged NO [NOUPDATE "tag"] (§4.3.1). Contexts end
// with CANCELUPDATE, and when the mailbox is no longer selected (SELECT,
// EXAMINE, CLOSE, UNSELECT, a failed SELECT).

const (
	// maxUpdateContexts bounds the update contexts of a session: each
	// keeps its result and is tested on every change.
	maxUpdateContexts = 10
	// maxSortUpdateContexts bounds the SORT ones among them, which also
	// keep every result's sort keys.
	maxSortUpdateContexts = 5
)

// updateReq is a RETURN (UPDATE) checked before the search runs.
type updateReq struct {
	fetch []fetchItem // RFC 5465 §7's fetch-att, for new messages
}

// updateCtx is one update context.
type updateCtx struct {
	tag   string
	uid   bool // UID SEARCH or UID SORT: updates carry UIDs
	prog  *searchKey
	fetch []fetchItem
	// SEARCH: uids ascending. SORT: crit and items in sort order.
	uids  []uint32
	crit  []imap.SortCriterion
	items []sortItem
	// maxUID is the highest UID of the view the context has tested;
	// modseq the highest modseq it has seen reported.
	maxUID uint32
	modseq uint64
}

func (u *updateCtx) isSort() bool { return u.crit != nil }

func (u *updateCtx) has(uid uint32) bool {
	if u.isSort() {
		for i := range u.items {
			if u.items[i].uid == uid {
				return true
			}
		}
		return false
	}
	_, ok := slices.BinarySearch(u.uids, uid)
	return ok
}

// contextByTag returns the update context of tag, or nil.
func (s *Session) contextByTag(tag string) *updateCtx {
	for _, u := range s.contexts {
		if u.tag == tag {
			return u
		}
	}
	return nil
}

// prepareUpdate checks a RETURN (UPDATE) before the search runs: a tag
// that names a live context is BAD (RFC 5267 §4.3), and UPDATE's
// fetch-att must parse. It returns nil without UPDATE.
func (s *Session) prepareUpdate(c *cmdCtx, ret *imap.SearchReturn) (*updateReq, error) {
	if ret == nil || !ret.Update {
		return nil, nil
	}
	if s.contextByTag(c.tag) != nil {
		return nil, bad("Duplicate search update tag")
	}
	req := &updateReq{}
	if ret.UpdateFetch != nil {
		items, err := parseFetchItems(*ret.UpdateFetch)
		if err != nil {
			return nil, err
		}
		req.fetch = s.condStoreItems(items, imap.FetchModifiers{})
	}
	return req, nil
}

// newContext starts a context of the command, or refuses it when the
// limits are reached (RFC 5267 §4.3.1); the command still succeeds.
func (s *Session) newContext(c *cmdCtx, req *updateReq, prog *searchKey, sorted bool) *updateCtx {
	nsort := 0
	for _, u := range s.contexts {
		if u.isSort() {
			nsort++
		}
	}
	if len(s.contexts) >= maxUpdateContexts || (sorted && nsort >= maxSortUpdateContexts) {
		s.w.WriteString("* NO [NOUPDATE ")
		s.w.String(c.tag)
		s.w.WriteString("] Too many update contexts.\r\n")
		return nil
	}
	u := &updateCtx{tag: c.tag, uid: c.uid, prog: prog, fetch: req.fetch,
		maxUID: s.mbox.UIDAt(s.mbox.Count()), modseq: s.mbox.HighestModSeq()}
	s.contexts = append(s.contexts, u)
	return u
}

// addSearchContext keeps a SEARCH's result (UIDs ascending) for updates.
func (s *Session) addSearchContext(c *cmdCtx, req *updateReq, prog *searchKey, uids []uint32) {
	if u := s.newContext(c, req, prog, false); u != nil {
		u.uids = slices.Clone(uids)
	}
}

// addSortContext keeps a SORT's result, with its keys, for updates.
func (s *Session) addSortContext(c *cmdCtx, req *updateReq, prog *searchKey, crit []imap.SortCriterion, items []sortItem) {
	if u := s.newContext(c, req, prog, true); u != nil {
		u.crit = slices.Clone(crit)
		u.items = items
	}
}

// dropContexts ends every update context: the mailbox is no longer
// selected (RFC 5267 §4.3).
func (s *Session) dropContexts() { s.contexts = nil }

// cmdCancelUpdate: CANCELUPDATE "tag"... (RFC 5267 §4.3.5). A tag that
// names no context is NO, as in Dovecot, and then none is cancelled.
func cmdCancelUpdate(s *Session, c *cmdCtx) error {
	tags, err := imap.ParseCancelUpdate(c.args)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if s.contextByTag(t) == nil {
			return no("", "Unknown tag.")
		}
	}
	s.contexts = slices.DeleteFunc(s.contexts, func(u *updateCtx) bool {
		return slices.Contains(tags, u.tag)
	})
	c.text = "Updates cancelled."
	return nil
}

// ctxOp is one context-position and its numbers, in the requested order.
type ctxOp struct {
	pos  uint32
	nums []uint32
}

// writeUpdate writes one ESEARCH response with REMOVEFROM, then ADDTO
// (the client applies them in that order, RFC 5267 §4.3.2).
func (s *Session) writeUpdate(u *updateCtx, removes, adds []ctxOp) {
	if len(removes) == 0 && len(adds) == 0 {
		return
	}
	s.w.WriteString(`* ESEARCH (TAG `)
	s.w.String(u.tag)
	s.w.WriteString(")")
	if u.uid {
		s.w.WriteString(" UID")
	}
	for i, ops := range [2][]ctxOp{removes, adds} {
		if len(ops) == 0 {
			continue
		}
		s.w.WriteString([2]string{" REMOVEFROM (", " ADDTO ("}[i])
		for j, op := range ops {
			if j > 0 {
				s.w.WriteString(" ")
			}
			s.w.WriteString(itoa(op.pos) + " ")
			if op.pos == 0 {
				s.w.WriteString(formatSet(op.nums))
			} else {
				s.w.WriteString(orderedSet(op.nums))
			}
		}
		s.w.WriteString(")")
	}
	s.w.CRLF()
}

// contextsExpunged sends REMOVEFROM for the expunged messages of ch that
// are in a context, before the EXPUNGE or VANISHED responses: sequence
// numbers are those of the view before the expunges (ch.Expunged
// descending pairs them with ch.ExpungedUIDs, each still valid when
// reported).
func (s *Session) contextsExpunged(ch storage.Changes) {
	if len(s.contexts) == 0 || len(ch.ExpungedUIDs) == 0 {
		return
	}
	oldSeq := make(map[uint32]uint32, len(ch.ExpungedUIDs))
	for i, uid := range ch.ExpungedUIDs {
		if i < len(ch.Expunged) {
			oldSeq[uid] = ch.Expunged[i]
		}
	}
	num := func(u *updateCtx, uid uint32) uint32 {
		if u.uid {
			return uid
		}
		return oldSeq[uid]
	}
	for _, u := range s.contexts {
		if u.isSort() {
			removes := u.removeSorted(func(uid uint32) bool { _, ok := oldSeq[uid]; return ok }, func(uid uint32) uint32 { return num(u, uid) })
			s.writeUpdate(u, removes, nil)
			continue
		}
		var gone []uint32
		u.uids = slices.DeleteFunc(u.uids, func(uid uint32) bool {
			if _, ok := oldSeq[uid]; ok {
				gone = append(gone, num(u, uid))
				return true
			}
			return false
		})
		if len(gone) > 0 {
			slices.Sort(gone)
			s.writeUpdate(u, []ctxOp{{pos: 0, nums: gone}}, nil)
		}
	}
}

// removeSorted removes the items for which leave is true and returns the
// REMOVEFROM pairs: each removal at its position at that moment, and
// adjacent ones joined (after removing the first, the next one is at the
// same position).
func (u *updateCtx) removeSorted(leave func(uint32) bool, num func(uint32) uint32) []ctxOp {
	var ops []ctxOp
	removed := 0
	prev := -2
	keep := u.items[:0]
	for i := range u.items {
		it := u.items[i]
		if !leave(it.uid) {
			keep = append(keep, it)
			continue
		}
		pos := uint32(i - removed + 1)
		if prev == i-1 && len(ops) > 0 && ops[len(ops)-1].pos == pos {
			ops[len(ops)-1].nums = append(ops[len(ops)-1].nums, num(it.uid))
		} else {
			ops = append(ops, ctxOp{pos: pos, nums: []uint32{num(it.uid)}})
		}
		prev = i
		removed++
	}
	clear(u.items[len(keep):])
	u.items = keep
	return ops
}

// insertSorted inserts items (in sort order) and returns the ADDTO pairs,
// each insertion at its position at that moment, consecutive positions
// joined.
func (u *updateCtx) insertSorted(add []sortItem, num func(uint32) uint32) []ctxOp {
	cmp := sortCmp(u.crit)
	var ops []ctxOp
	for _, it := range add {
		i, _ := slices.BinarySearchFunc(u.items, it, cmp)
		u.items = slices.Insert(u.items, i, it)
		pos := uint32(i + 1)
		if n := len(ops); n > 0 && ops[n-1].pos+uint32(len(ops[n-1].nums)) == pos {
			ops[n-1].nums = append(ops[n-1].nums, num(it.uid))
		} else {
			ops = append(ops, ctxOp{pos: pos, nums: []uint32{num(it.uid)}})
		}
	}
	return ops
}

// contextsUpdate tests again the messages that may have entered or left
// a context since it last looked: new messages always, and with
// withFlags those whose modseq grew up to the view's highest modseq or
// that ch reports changed. It runs after EXISTS and the FETCH responses
// of the same changes. Without withFlags (NOTIFY without FlagChange for
// the selected mailbox) flag changes wait for a later call.
func (s *Session) contextsUpdate(ch storage.Changes, withFlags bool) error {
	if len(s.contexts) == 0 || s.mbox == nil {
		return nil
	}
	return s.scanContexts(ch.FlagsChanged, withFlags, s.mbox.HighestModSeq())
}

// contextsNoSync reports the flag changes of STORE or FETCH by sequence
// number, commands that may not change the view (RFC 9051 §7.5.1): the
// messages they name whose modseq grew are tested again at once, as
// Dovecot reports the session's own changes right after them. The
// watermarks stay, so the next sync looks at them again (and reports the
// changes of others, after their FETCH, RFC 5465 §5.1).
func (s *Session) contextsNoSync() error {
	c := s.running
	if len(s.contexts) == 0 || s.mbox == nil || c == nil || c.uid ||
		(c.name != "STORE" && c.name != "FETCH") || len(c.args) == 0 || c.args[0].Kind != imap.Atom {
		return nil
	}
	uids, err := s.resolveSet(c.args[0].Value, false)
	if err != nil || len(uids) == 0 {
		return nil
	}
	var cands []storage.Message
	err = s.mbox.Messages(uids, func(m storage.Message) error {
		cands = append(cands, m)
		return nil
	})
	if err != nil {
		return err
	}
	grew := func(m storage.Message, since uint64) bool { return m.ModSeq > since }
	for _, u := range s.contexts {
		if err := s.updateContext(u, cands, grew); err != nil {
			return err
		}
	}
	return nil
}

// scanContexts is one pass over the view for every context. Candidates
// are messages above a context's maxUID (new), and with withFlags those
// with a modseq above its watermark and at most limit (later ones are
// the next pass's), or in changed. The watermarks then move to limit.
func (s *Session) scanContexts(changedUIDs []uint32, withFlags bool, limit uint64) error {
	last := s.mbox.UIDAt(s.mbox.Count())
	changed := make(map[uint32]bool, len(changedUIDs))
	for _, uid := range changedUIDs {
		changed[uid] = true
	}
	minUID, minMod := last, limit
	for _, u := range s.contexts {
		minUID = min(minUID, u.maxUID)
		minMod = min(minMod, u.modseq)
	}
	if minUID >= last && (!withFlags || (minMod >= limit && len(changed) == 0)) {
		return nil
	}
	flagged := func(m storage.Message, since uint64) bool {
		return withFlags && ((m.ModSeq > since && m.ModSeq <= limit) || changed[m.UID])
	}
	var cands []storage.Message
	err := s.mbox.Messages(nil, func(m storage.Message) error {
		if m.UID > minUID || flagged(m, minMod) {
			cands = append(cands, m)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range s.contexts {
		if err := s.updateContext(u, cands, flagged); err != nil {
			return err
		}
		u.maxUID = max(u.maxUID, last)
		if withFlags {
			u.modseq = max(u.modseq, limit)
		}
	}
	return nil
}

// updateContext applies the candidates to one context and reports what
// changed.
func (s *Session) updateContext(u *updateCtx, cands []storage.Message, flagged func(storage.Message, uint64) bool) error {
	var enter, leave []storage.Message
	for _, m := range cands {
		if m.UID <= u.maxUID && !flagged(m, u.modseq) {
			continue
		}
		match := (&searchMsg{s: s, m: m}).matches(u.prog)
		if in := u.has(m.UID); match && !in {
			enter = append(enter, m)
		} else if !match && in {
			leave = append(leave, m)
		}
	}
	if len(enter) == 0 && len(leave) == 0 {
		return nil
	}
	num := func(uid uint32) uint32 {
		if u.uid {
			return uid
		}
		return s.mbox.Seq(uid)
	}
	if len(u.fetch) > 0 {
		// RFC 5465 §7: the fetch-att of new messages entering the
		// result, before the ESEARCH response; not for flag changes.
		if err := s.fetchForContext(u, enter); err != nil {
			return err
		}
	}
	var removes, adds []ctxOp
	if u.isSort() {
		gone := make(map[uint32]bool, len(leave))
		for _, m := range leave {
			gone[m.UID] = true
		}
		if len(gone) > 0 {
			removes = u.removeSorted(func(uid uint32) bool { return gone[uid] }, num)
		}
		if len(enter) > 0 {
			items, err := s.sortItems(enter, u.crit)
			if err != nil {
				return err
			}
			adds = u.insertSorted(items, num)
		}
	} else {
		if len(leave) > 0 {
			op := ctxOp{}
			gone := make(map[uint32]bool, len(leave))
			for _, m := range leave {
				gone[m.UID] = true
				op.nums = append(op.nums, num(m.UID))
			}
			u.uids = slices.DeleteFunc(u.uids, func(uid uint32) bool { return gone[uid] })
			removes = []ctxOp{op}
		}
		if len(enter) > 0 {
			op := ctxOp{}
			for _, m := range enter {
				u.uids = append(u.uids, m.UID)
				op.nums = append(op.nums, num(m.UID))
			}
			slices.Sort(u.uids)
			adds = []ctxOp{op}
		}
	}
	s.writeUpdate(u, removes, adds)
	return nil
}

// fetchForContext sends UPDATE's fetch-att for the messages of enter
// that are new to the context (above the UIDs it had seen).
func (s *Session) fetchForContext(u *updateCtx, enter []storage.Message) error {
	items := u.fetch
	needPart, needRaw := false, false
	for _, it := range items {
		needPart = needPart || it.needsPart()
		needRaw = needRaw || it.needsRaw()
	}
	// UID only for a UID SEARCH or SORT, as Dovecot does.
	c := &cmdCtx{ctx: context.Background(), name: "FETCH", uid: u.uid}
	for _, m := range enter {
		if m.UID <= u.maxUID {
			continue
		}
		if err := s.fetchOne(c, m, items, needPart, needRaw, false); err != nil && isIOError(err) {
			return err
		}
	}
	return nil
}

// partialWindow is the part of nums at result positions r.Lo..r.Hi
// (counted from 1), empty when it lies beyond the end (RFC 5267 §4.4).
func partialWindow(nums []uint32, r imap.PartialRange) []uint32 {
	if int64(r.Lo) > int64(len(nums)) {
		return nil
	}
	return nums[r.Lo-1 : min(int64(r.Hi), int64(len(nums)))]
}

// saveOnly reports a RETURN with SAVE and no option that asks for an
// ESEARCH response: RFC 5182 §2.4 sends none then.
func saveOnly(ret *imap.SearchReturn) bool {
	return ret.Save && !ret.Min && !ret.Max && !ret.All && !ret.Count && ret.Partial == nil && !ret.Update
}
