package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// Group commit. Commits into one mailbox serialise on b.mu (and, across
// processes, on the index lock and the dovecot-uidlist dotlock), and each
// costs a directory fsync and a dovecot-uidlist fsync besides its
// messages' own fsyncs (done in Append, in parallel). So a commit does
// not run alone: it queues itself on the box, and whichever queued commit
// gets b.mu first makes every queued one in one pass (one lock of each
// kind, one fsync of new/ or cur/ covering every rename of the pass, one
// uidlist append and fsync), then the others find theirs done. Nothing is
// skipped: every message of every commit of the pass is in its directory
// on stable storage, with its UID fsynced in dovecot-uidlist, before any
// of those commits returns. A commit that fails (a bad keyword, a rename
// error) fails alone; a failure of the shared work fails the whole pass.

// commitReq is one queued Commit; its results are written by the commit
// that makes the pass, under b.mu, and read by its owner after taking
// b.mu.
type commitReq struct {
	sv       *save
	recs     []*msg
	finished bool
	uidv     uint32
	uids     []uint32
	err      error
	// usage added, recorded by the owner after b.mu is released
	// (quotaChanged may read every mailbox's index).
	qBytes, qCount int64
}

// Commit implements storage.Save: quota check, then (grouped with the
// concurrent commits into the same mailbox) rename into new/ or cur/,
// fsync the directories, UIDs in dovecot-uidlist (fsynced) and the index.
// Once it returns nil every message is durable with its UID.
func (sv *save) Commit() (uint32, []uint32, error) {
	if sv.done {
		return 0, nil, storage.Errorf("save", sv.mb.name, storage.ErrInvalid, errors.New("transaction is finished"))
	}
	defer sv.Abort()
	mb, b := sv.mb, sv.mb.b
	if mb.s.checkQuota != nil {
		var total int64
		for _, m := range sv.msgs {
			total += m.size
		}
		if err := mb.s.checkQuota(total, int64(len(sv.msgs))); err != nil {
			return 0, nil, err
		}
	}
	req := &commitReq{sv: sv}
	b.pendMu.Lock()
	b.pending = append(b.pending, req)
	b.pendMu.Unlock()
	b.mu.Lock()
	if !req.finished {
		b.pendMu.Lock()
		batch := b.pending
		b.pending = nil
		b.pendMu.Unlock()
		b.commitBatch(batch)
	}
	b.mu.Unlock()
	mb.s.quotaChanged(req.qBytes, req.qCount)
	if req.err != nil {
		return 0, nil, req.err
	}
	sv.msgs = nil
	return req.uidv, req.uids, nil
}

// commitBatch makes the queued commits reqs in one pass; the caller holds
// b.mu. Every request is finished when it returns.
func (b *box) commitBatch(reqs []*commitReq) {
	live := make([]*commitReq, 0, len(reqs))
	failAll := func(err error) {
		for _, r := range live {
			if r.err == nil {
				r.err = err
			}
		}
	}
	defer func() {
		for _, r := range reqs {
			r.finished = true
		}
	}()
	// No directory scan: UIDs come from dovecot-uidlist under its lock,
	// so files other programs added meanwhile get theirs at the next
	// sync without a clash, and a save into a big mailbox costs no
	// readdir of it.
	if err := b.openLocked(false); err != nil {
		for _, r := range reqs {
			r.err = err
		}
		return
	}
	defer b.unlock()
	for _, r := range reqs {
		recs := make([]*msg, 0, len(r.sv.msgs))
		for _, s := range r.sv.msgs {
			m := &msg{base: s.base, size: s.size, vsize: s.vsize, flags: s.opts.Flags, guid: s.guid}
			kw, err := b.keywordBits(s.opts.Keywords)
			if err != nil {
				r.err = err
				break
			}
			m.kw = kw
			m.inNew = m.flags == 0 && m.kw == 0
			if m.inNew {
				m.name = m.base
			} else {
				m.name = fileName(m)
			}
			recs = append(recs, m)
		}
		if r.err == nil {
			r.recs = recs
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	name := live[0].sv.mb.name
	lk, err := format.LockUidlist(b.dir, format.UidlistLockTimeout)
	if err != nil {
		failAll(storage.Errorf("save", name, storage.ErrTemporary, err))
		return
	}
	held := true
	defer func() {
		if held {
			lk.Unlock()
		}
	}()
	ul, err := b.readUidlist()
	if err != nil {
		failAll(err)
		return
	}
	if b.st.uidValidity == 0 {
		b.st.uidValidity = ul.UIDValidity
		if err := b.appendLog(encState(b.st)); err != nil {
			failAll(err)
			return
		}
	}
	now := time.Now()
	oc := b.beginOwnChange()
	var changed [2]bool
	orphans := false
	for _, r := range live {
		for i, s := range r.sv.msgs {
			if err := os.Rename(s.tmp, b.msgPath(r.recs[i])); err != nil {
				r.err = storage.Errorf("save", r.sv.mb.name, kindOfOS(err), err)
				// Messages of r renamed before this one stay, without a
				// UID until the next scan gives them one.
				orphans = orphans || i > 0
				break
			}
			if r.recs[i].inNew {
				changed[0] = true
			} else {
				changed[1] = true
			}
		}
	}
	ok := live[:0]
	for _, r := range live {
		if r.err == nil {
			ok = append(ok, r)
		}
	}
	live = ok
	// One fsync of each changed directory covers every rename above. It
	// runs while dovecot-uidlist is appended and fsynced below, and both
	// are waited for before any commit of the pass returns: the two
	// fsyncs are independent (a crash between them leaves either a file
	// without a UID, which the next scan numbers, or a UID whose file is
	// missing, which is an expunge; neither was acknowledged), and on a
	// disk where each fsync ends in a cache flush the two flushes
	// overlap instead of queueing one behind the other.
	dirSynced := make(chan error, 1)
	go func(changed [2]bool) {
		var err error
		for i, sub := range subdirs {
			if changed[i] && err == nil {
				err = syncDir(filepath.Join(b.dir, sub))
			}
		}
		dirSynced <- err
	}(changed)
	waited := false
	waitDirs := func() error {
		waited = true
		return <-dirSynced
	}
	defer func() {
		if !waited {
			// An early return: no commit of the pass may return before
			// the directory fsync did.
			waitDirs()
		}
	}()
	if len(live) == 0 {
		return
	}
	var added []format.UidlistRecord
	var enc []byte
	for _, r := range live {
		for i, m := range r.recs {
			m.uid = ul.NextUID
			ul.NextUID++
			idate := r.sv.msgs[i].opts.InternalDate
			if idate.IsZero() {
				idate = now
			}
			m.idate, m.sdate = idate.Unix(), now.Unix()
			ms, err := b.nextModseq()
			if err != nil {
				failAll(err)
				return
			}
			m.modseq = ms
			added = append(added, uidlistRecord(m))
			r.uids = append(r.uids, m.uid)
			enc = append(enc, encMessage(m)...)
			if t := r.sv.msgs[i].tree; t != nil {
				enc = append(enc, encCache(m.uid, storage.CacheStructure, t)...)
			}
			if p := r.sv.msgs[i].preview; p != nil {
				enc = append(enc, encCache(m.uid, storage.CachePreview, p)...)
			}
			if h := r.sv.msgs[i].hdrs; h != nil {
				enc = append(enc, encCache(m.uid, storage.CacheHeaders, h)...)
			}
		}
	}
	if orphans {
		// The directories hold files the index does not: the next sync
		// must read them, so they are not recorded as cote's own change.
		changed = [2]bool{}
	}
	enc = append(enc, b.endOwnChange(oc, changed)...)
	if err := b.writeUidlist(lk, ul, added); err != nil {
		failAll(err)
		return
	}
	held = false
	if err := waitDirs(); err != nil {
		// The UIDs are in dovecot-uidlist but the names may not be on
		// stable storage: the commits fail (the client retries), and the
		// next sync indexes whatever survived.
		failAll(err)
		return
	}
	if err := b.appendLog(enc); err != nil {
		// The messages and their UIDs are durable; the next scan
		// indexes them.
		b.log.Warn("index append after save failed", zap.Error(err))
	}
	for _, r := range live {
		r.uidv = b.st.uidValidity
		for _, m := range r.recs {
			r.qBytes += m.size
			r.qCount++
		}
	}
	b.notifyOthers(nil)
}
