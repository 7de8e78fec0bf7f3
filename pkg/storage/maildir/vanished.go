package maildir

import "slices"

// ExpungedSince implements storage.Mailbox from the index's expunge
// records, which keep every expunged UID with its modseq.
//
// The record is complete back to modseq when some record (a message or an
// expunge) is at or below it: a rebuilt index gives every record a modseq
// above the reservation floor, which is above every modseq announced
// before the rebuild, so a client modseq from before a rebuild is below
// every record and the answer is incomplete; a client modseq at or above
// the lowest record was announced by this index, whose expunge records
// since then are all kept.
func (mb *mailbox) ExpungedSince(modseq uint64) ([]uint32, bool) {
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	complete := false
	var out []uint32
	for _, e := range b.st.expunged {
		if e.modseq <= modseq {
			complete = true
		} else {
			out = append(out, e.uid)
		}
	}
	if !complete {
		for _, m := range b.st.msgs {
			if m.modseq <= modseq {
				complete = true
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), complete
}
