package maildir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

var errReadOnly = errors.New("mailbox is read-only")

// keywordBits maps keyword names to index bits, adding new ones to
// dovecot-keywords (under the uidlist lock, as Dovecot requires).
func (b *box) keywordBits(names []string) (uint32, error) {
	var mask uint32
	var missing []string
	for _, n := range names {
		if !storage.ValidKeyword(n) {
			return 0, storage.Errorf("store", b.name, storage.ErrInvalid, fmt.Errorf("invalid keyword %q", n))
		}
		found := false
		for i, k := range b.st.keywords {
			if k == n {
				mask |= 1 << i
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return mask, nil
	}
	lk, err := format.LockUidlist(b.dir, format.UidlistLockTimeout)
	if err != nil {
		return 0, storage.Errorf("store", b.name, storage.ErrTemporary, err)
	}
	defer lk.Unlock()
	kw, err := format.ReadKeywords(b.dir)
	if err != nil {
		return 0, storage.Errorf("store", b.name, storage.ErrTemporary, err)
	}
	for _, n := range missing {
		c, err := kw.Add(n)
		if err != nil {
			return 0, storage.Errorf("store", b.name, storage.ErrInvalid, err)
		}
		mask |= 1 << (c - 'a')
	}
	if err := format.WriteKeywords(b.dir, kw); err != nil {
		return 0, storage.Errorf("store", b.name, storage.ErrTemporary, err)
	}
	kws, _ := readKeywords(b.dir)
	for i, n := range kw.Names {
		if n != "" && i >= len(kws) {
			kws = append(kws, make([]string, i+1-len(kws))...)
			kws[i] = n
		}
	}
	b.st.keywords = kws
	return mask, b.appendLog(encKeywords(kws))
}

// Store implements storage.Mailbox.
func (mb *mailbox) Store(uids []uint32, op storage.StoreOp, flags storage.Flags, keywords []string, unchangedSince uint64) ([]uint32, error) {
	if mb.ro {
		return nil, storage.Errorf("store", mb.name, storage.ErrNoPerm, errReadOnly)
	}
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(false); err != nil {
		return nil, err
	}
	defer b.unlock()
	kw, err := b.keywordBits(keywords)
	if err != nil {
		return nil, err
	}
	var failed []uint32
	changed := false
	// The records of the whole command go to the log in one write (one
	// open, truncate and write instead of one per message), and the
	// renames are recorded as cote's own change of cur/ (and new/), so
	// the syncs that follow, in this process and others, need not read
	// the directories again (dirsync.go).
	lw := b.newLogBatch()
	oc := b.beginOwnChange()
	var dirs [2]bool
	for _, uid := range uids {
		if lw.has(uid) {
			// The same UID twice: the first change must be applied
			// before the second is computed from it.
			if err := lw.flush(); err != nil {
				return failed, err
			}
		}
		m := b.st.msgs[uid]
		if m == nil {
			continue // expunged: RFC 9051 §6.4.6 lets STORE ignore it
		}
		if unchangedSince > 0 && m.modseq > unchangedSince {
			failed = append(failed, uid)
			continue
		}
		nm := *m
		switch op {
		case storage.StoreReplace:
			nm.flags, nm.kw = flags, kw
		case storage.StoreAdd:
			nm.flags |= flags
			nm.kw |= kw
		case storage.StoreRemove:
			nm.flags &^= flags
			nm.kw &^= kw
		}
		if nm.flags == m.flags && nm.kw == m.kw {
			continue
		}
		wasNew := m.inNew
		if err := b.renameFlags(m, &nm, lw.flush); err != nil {
			if storage.KindOf(err) == storage.ErrExpunged {
				continue
			}
			return failed, lw.finish(err)
		}
		dirs[1] = true
		if wasNew || m.inNew {
			dirs[0] = true
		}
		ms, err := b.nextModseq()
		if err != nil {
			return failed, lw.finish(err)
		}
		nm.modseq = ms
		lw.add(uid, encMessage(&nm))
		if m.modseq <= mb.seen || mb.own[uid] == m.modseq {
			mb.own[uid] = ms
		} else {
			// Another handle changed the message since this one's last
			// Sync: Sync must still report it (with the flags as they
			// are now), or a session whose STORE was .SILENT would
			// never learn of the other change.
			delete(mb.own, uid)
		}
		changed = true
	}
	lw.recs = append(lw.recs, b.endOwnChange(oc, dirs)...)
	if err := lw.flush(); err != nil {
		return failed, err
	}
	if changed {
		b.notifyOthers(mb)
	}
	return failed, nil
}

// logBatch collects the index records of one command for a single
// appendLog. Records are applied to b.st when written, so a record for a
// UID already in the batch, or a scan (which reads b.st and appends its
// own records), needs a flush first.
type logBatch struct {
	b    *box
	recs []byte
	uids map[uint32]struct{}
}

func (b *box) newLogBatch() *logBatch { return &logBatch{b: b} }

func (l *logBatch) has(uid uint32) bool {
	_, ok := l.uids[uid]
	return ok
}

func (l *logBatch) add(uid uint32, rec []byte) {
	if l.uids == nil {
		l.uids = map[uint32]struct{}{}
	}
	l.uids[uid] = struct{}{}
	l.recs = append(l.recs, rec...)
}

// flush writes and applies the collected records.
func (l *logBatch) flush() error {
	if len(l.recs) == 0 {
		return nil
	}
	err := l.b.appendLog(l.recs)
	l.recs = l.recs[:0]
	clear(l.uids)
	return err
}

// finish flushes what the command did before it failed with err (the
// renames or removals are done: the index must say so) and returns err.
func (l *logBatch) finish(err error) error {
	if ferr := l.flush(); ferr != nil {
		l.b.log.Warn("index append failed", zap.Error(ferr))
	}
	return err
}

// renameFlags renames m's file to carry nm's flags (into cur/). When the
// file was renamed behind cote's back it rescans, after beforeScan (the
// caller's pending records must be in the index before a scan).
func (b *box) renameFlags(m, nm *msg, beforeScan func() error) error {
	nm.inNew = false
	nm.name = fileName(nm)
	for attempt := 0; ; attempt++ {
		err := os.Rename(b.msgPath(m), filepath.Join(b.dir, "cur", nm.name))
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt > 0 {
			return storage.Errorf("store", b.name, kindOfOS(err), err)
		}
		if err := beforeScan(); err != nil {
			return err
		}
		// Renamed behind our back: find it by its base name.
		if err := b.scan(true); err != nil {
			return err
		}
		cur := b.st.msgs[m.uid]
		if cur == nil {
			return storage.Errorf("store", b.name, storage.ErrExpunged, nil)
		}
		*m = *cur
		nm.passed = cur.passed
		nm.name = fileName(nm)
	}
}

func (b *box) notifyOthers(except *mailbox) {
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	for mb := range b.subs {
		if mb == except {
			continue
		}
		select {
		case mb.notifyC <- struct{}{}:
		default:
		}
	}
}

// Expunge implements storage.Mailbox.
func (mb *mailbox) Expunge(uids []uint32) ([]uint32, error) {
	if mb.ro {
		return nil, storage.Errorf("expunge", mb.name, storage.ErrNoPerm, errReadOnly)
	}
	b := mb.b
	var qBytes, qCount int64
	// Registered first so it runs after b.mu is released (quota.go).
	defer func() { mb.s.quotaChanged(qBytes, qCount) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(false); err != nil {
		return nil, err
	}
	defer b.unlock()
	if uids == nil {
		uids = b.st.sortedUIDs()
	}
	var done []uint32
	// One log write for the command, and the removals recorded as
	// cote's own change of the directories (see Store).
	lw := b.newLogBatch()
	oc := b.beginOwnChange()
	var dirs [2]bool
	for _, uid := range uids {
		if lw.has(uid) {
			continue // listed twice: already expunged above
		}
		m := b.st.msgs[uid]
		if m == nil || m.flags&storage.FlagDeleted == 0 {
			continue
		}
		err := os.Remove(b.msgPath(m))
		if err != nil && errors.Is(err, fs.ErrNotExist) {
			if err := lw.flush(); err != nil {
				return done, err
			}
			if err := b.scan(true); err != nil {
				return done, err
			}
			if m = b.st.msgs[uid]; m == nil {
				continue // already gone: the scan recorded the expunge
			}
			if m.flags&storage.FlagDeleted == 0 {
				continue
			}
			err = os.Remove(b.msgPath(m))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return done, lw.finish(storage.Errorf("expunge", mb.name, kindOfOS(err), err))
		}
		if m.inNew {
			dirs[0] = true
		} else {
			dirs[1] = true
		}
		ms, err := b.nextModseq()
		if err != nil {
			return done, lw.finish(err)
		}
		lw.add(uid, encExpunge(uid, ms))
		done = append(done, uid)
		qBytes -= m.size
		qCount--
	}
	lw.recs = append(lw.recs, b.endOwnChange(oc, dirs)...)
	if err := lw.flush(); err != nil {
		return done, err
	}
	if len(done) > 0 {
		b.notifyOthers(mb)
	}
	return done, nil
}

// saved is one message of a save transaction, in tmp/.
type saved struct {
	tmp         string
	base        string
	size, vsize int64
	opts        storage.AppendOptions
	// tree is the MIME tree in storage.CacheStructure form (nil: too
	// large to parse at save, parsed on first use); guid is the source's
	// GUID for a copy (its EMAILID), "" for a new message. preview is
	// the storage.CachePreview text (nil: not known at save).
	tree    []byte
	preview []byte
	guid    string
	// hdrs is the storage.CacheHeaders record (nil: not made at save).
	hdrs []byte
}

// save is a save transaction.
type save struct {
	mb   *mailbox
	msgs []saved
	done bool
}

var baseGen = format.NewBaseGenerator()

func (mb *mailbox) BeginSave() (storage.Save, error) {
	return &save{mb: mb}, nil
}

// Append implements storage.Save: the message goes to tmp/ and is
// fsynced there, so Commit only renames.
func (sv *save) Append(r io.Reader, opts storage.AppendOptions) error {
	if sv.done {
		return storage.Errorf("save", sv.mb.name, storage.ErrInvalid, errors.New("transaction is finished"))
	}
	for _, k := range opts.Keywords {
		if !storage.ValidKeyword(k) {
			return storage.Errorf("save", sv.mb.name, storage.ErrInvalid, fmt.Errorf("invalid keyword %q", k))
		}
	}
	base := baseGen.Next(time.Now())
	tmp := filepath.Join(sv.mb.b.dir, "tmp", base)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return storage.Errorf("save", sv.mb.name, kindOfOS(err), err)
	}
	var c format.SizeCounter
	var raw capped
	_, err = io.Copy(io.MultiWriter(f, &c, &raw), r)
	if err == nil {
		err = f.Sync()
	}
	size, vsize := c.Size, c.VSize
	var tree, preview, hdrs []byte
	if err == nil && size <= storage.MaxParseAtSave {
		// Parsed once here so no FETCH parses it again (cache.go), and
		// PREVIEW (LAZY) answers at once. A small message was kept while
		// it was written; a larger one is read back through a mapping
		// of the file (storage.ReadBody), so sessions saving large
		// messages at once do not hold them in the process's heap.
		data, release := raw.b, func() {}
		if raw.over {
			data, release, err = storage.ReadBody(fileBody{f, size})
		}
		if err == nil {
			tree, preview = storage.ParseAtSave(data, sv.mb.s.d.decode)
			hdrs = storage.HeaderCacheOf(data)
			release()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !opts.InternalDate.IsZero() {
		err = os.Chtimes(tmp, opts.InternalDate, opts.InternalDate)
	}
	if err != nil {
		os.Remove(tmp)
		return storage.Errorf("save", sv.mb.name, kindOfOS(err), err)
	}
	sv.msgs = append(sv.msgs, saved{tmp: tmp, base: format.WithSizes(base, size, vsize), size: size, vsize: vsize, opts: opts, tree: tree, preview: preview, hdrs: hdrs})
	return nil
}

func (sv *save) Abort() error {
	if sv.done {
		return nil
	}
	sv.done = true
	for _, m := range sv.msgs {
		os.Remove(m.tmp)
	}
	sv.msgs = nil
	return nil
}

// Copy implements storage.Mailbox: by hard link into the destination's
// tmp/ when both are Maildirs of this driver on one file system, by
// reading otherwise.
func (mb *mailbox) Copy(dst storage.Mailbox, uids []uint32) ([]uint32, []uint32, error) {
	d, ok := dst.(*mailbox)
	if !ok || d.s.d != mb.s.d {
		return storage.CopyByReading(mb, dst, uids)
	}
	if d.ro {
		return nil, nil, storage.Errorf("copy", d.name, storage.ErrNoPerm, errReadOnly)
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	sv := &save{mb: d}
	defer sv.Abort()
	var src []uint32
	for _, uid := range uids {
		mb.b.mu.Lock()
		m := mb.b.st.msgs[uid]
		var path, guid string
		var meta storage.Message
		var tree, preview, hdrs []byte
		if m != nil {
			path = mb.b.msgPath(m)
			meta = mb.b.toMessage(m)
			// The copy keeps the source's GUID (its EMAILID, RFC 8474
			// §5.1) and its cached tree and preview: the file is the
			// same.
			tree, _ = m.cache.get(storage.CacheStructure)
			hdrs, _ = m.cache.get(storage.CacheHeaders)
			guid = guidOf(m)
			if p, ok := m.cache.get(storage.CachePreview); ok {
				preview = append([]byte{}, p...) // non-nil: an empty preview is known
			}
		}
		mb.b.mu.Unlock()
		if m == nil {
			continue
		}
		opts := storage.AppendOptions{Flags: meta.Flags, Keywords: meta.Keywords, InternalDate: meta.InternalDate}
		base := baseGen.Next(time.Now())
		full := format.WithSizes(base, m.size, m.vsize)
		tmp := filepath.Join(d.b.dir, "tmp", full)
		err := os.Link(path, tmp)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // expunged meanwhile
			}
			// Another file system or no hard links: copy the bytes.
			body, oerr := mb.Open(uid)
			if oerr != nil {
				if storage.KindOf(oerr) == storage.ErrExpunged {
					continue
				}
				return nil, nil, oerr
			}
			aerr := sv.Append(io.NewSectionReader(body, 0, body.Size()), opts)
			body.Close()
			if aerr != nil {
				return nil, nil, aerr
			}
			sv.msgs[len(sv.msgs)-1].guid = guid
			src = append(src, uid)
			continue
		}
		sv.msgs = append(sv.msgs, saved{tmp: tmp, base: full, size: m.size, vsize: m.vsize, opts: opts, tree: tree, preview: preview, guid: guid, hdrs: hdrs})
		src = append(src, uid)
	}
	if len(src) == 0 {
		return nil, nil, nil
	}
	_, dstUIDs, err := sv.Commit()
	if err != nil {
		return nil, nil, err
	}
	return src, dstUIDs, nil
}
