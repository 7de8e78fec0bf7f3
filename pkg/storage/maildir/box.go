package maildir

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// modseqReserve is how far the HIGHESTMODSEQ floor in cote-modseq runs
// ahead of the modseqs handed out: the sidecar is fsynced once per
// modseqReserve changes, and a rebuild starts above it, so no modseq a
// client saw is ever reused (RFC 7162 §3.1.1: modseqs only grow).
const modseqReserve = 1 << 16

// dirtyWindow: a directory whose mtime is this recent may change again
// within the same timestamp, so its mtime cannot prove it unchanged
// (Dovecot's maildir sync treats a directory changed within the last
// second the same way).
const dirtyWindow = 2 * time.Second

// box is the shared state of one mailbox in this process. Sessions hold
// *mailbox handles over it.
type box struct {
	d    *Driver
	dir  string
	name string
	log  *zap.Logger
	refs int // guarded by d.mu

	mu sync.Mutex // guards everything below; held across an index lock

	lockF  *os.File // cote-index.lock, for OFD locks
	st     *state
	gen    uint64
	snapID fileID
	// snapMtime and snapSize complete snapID: a box kept idle
	// (Driver.idle) may outlive its mailbox, and a recreated mailbox's
	// snapshot can get a freed inode number back.
	snapMtime, snapSize int64
	logID               fileID
	logOff              int64 // valid log bytes applied, after the header
	floor               uint64

	ulc uidlistCache // dovecot-uidlist as last parsed (uidcache.go)
	// subs are the handles to signal on a change. subsMu, not mu,
	// guards them, so the inotify watcher and a closing handle never
	// wait for a commit's fsyncs (which hold mu). Order: mu, then subsMu.
	subsMu sync.Mutex
	subs   map[*mailbox]struct{}
	// idleMsgs is the message count when the box was last released
	// (guarded by d.mu once in Driver.idle; Driver.SetIdleLimits).
	idleMsgs int

	// pendMu guards pending: the commits waiting for b.mu, which the
	// first of them to get it makes together (commit.go).
	pendMu  sync.Mutex
	pending []*commitReq
}

type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) fileID {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return fileID{}
	}
	return fileID{uint64(st.Dev), st.Ino}
}

func (b *box) path(n string) string { return filepath.Join(b.dir, n) }

func (b *box) closeFiles() {
	b.closeLock()
	b.st = nil
}

// closeLock closes cote-index.lock (b.lock reopens it), keeping the
// in-memory index.
func (b *box) closeLock() {
	if b.lockF != nil {
		b.lockF.Close()
		b.lockF = nil
	}
}

// setSnap records the identity of the snapshot b.st was read from or
// written as.
func (b *box) setSnap(fi os.FileInfo) {
	b.snapID, b.snapMtime = statKey(fi)
	b.snapSize = fi.Size()
}

// sameSnap reports whether fi is the snapshot b.st came from.
func (b *box) sameSnap(fi os.FileInfo) bool {
	id, mt := statKey(fi)
	return id == b.snapID && mt == b.snapMtime && fi.Size() == b.snapSize
}

// lock takes the OFD lock on cote-index.lock: shared for readers,
// exclusive for writers. OFD locks belong to the open file, so they
// serialise processes; b.mu serialises this process's goroutines.
func (b *box) lock(exclusive bool) error {
	if b.lockF == nil {
		f, err := os.OpenFile(b.path(lockName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return storage.Errorf("lock", b.name, kindOfOS(err), err)
		}
		b.lockF = f
	}
	typ := int16(unix.F_RDLCK)
	if exclusive {
		typ = unix.F_WRLCK
	}
	lk := unix.Flock_t{Type: typ, Whence: 0}
	for {
		err := unix.FcntlFlock(b.lockF.Fd(), unix.F_OFD_SETLKW, &lk)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return storage.Errorf("lock", b.name, storage.ErrTemporary, err)
		}
		return nil
	}
}

func (b *box) unlock() {
	if b.lockF == nil {
		return
	}
	lk := unix.Flock_t{Type: unix.F_UNLCK}
	unix.FcntlFlock(b.lockF.Fd(), unix.F_OFD_SETLK, &lk)
}

// refresh brings b.st up to date with the index files. It returns
// errRebuild when there is no usable index.
var errRebuild = errors.New("index needs a rebuild")

func (b *box) refresh() error {
	fi, err := os.Stat(b.path(indexName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errRebuild
		}
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	if b.st == nil || !b.sameSnap(fi) {
		f, err := os.Open(b.path(indexName))
		if err == nil {
			// The identity recorded is the file's read, not the one
			// stat'ed above (a writer may have replaced it between).
			fi, err = f.Stat()
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			if errors.Is(err, fs.ErrNotExist) {
				return errRebuild
			}
			return storage.Errorf("index", b.name, storage.ErrTemporary, err)
		}
		st, gen, err := loadSnapshot(f)
		f.Close()
		var bad errCorrupt
		if errors.As(err, &bad) {
			b.log.Warn("index unusable, rebuilding", zap.Error(err))
			return errRebuild
		}
		if err != nil {
			return storage.Errorf("index", b.name, storage.ErrTemporary, err)
		}
		b.st, b.gen = st, gen
		b.setSnap(fi)
		b.logID, b.logOff = fileID{}, 0
		// The floor is read again before the next modseq: this may be
		// another mailbox's index than the one it was read for.
		b.floor = 0
	}
	// The common case, nothing appended since the last look, costs one
	// stat: the open, fstat and close below only when the log grew or
	// was replaced.
	if b.logID != (fileID{}) {
		if fi, err := os.Stat(b.path(logName)); err == nil && idOf(fi) == b.logID && fi.Size()-headerLen <= b.logOff {
			return nil
		}
	}
	lf, err := os.Open(b.path(logName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			b.logID, b.logOff = fileID{}, 0
			return nil
		}
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	defer lf.Close()
	lfi, err := lf.Stat()
	if err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	if idOf(lfi) != b.logID {
		hdr := make([]byte, headerLen)
		if _, err := io.ReadFull(lf, hdr); err != nil {
			return nil // an empty or torn new log: nothing to apply yet
		}
		gen, err := parseHeader(hdr)
		if err != nil || gen != b.gen {
			// A log from before the latest snapshot (a writer died
			// between writing the snapshot and replacing the log): its
			// records are all in the snapshot.
			return nil
		}
		b.logID, b.logOff = idOf(lfi), 0
	}
	if lfi.Size()-headerLen <= b.logOff {
		return nil
	}
	buf := make([]byte, lfi.Size()-headerLen-b.logOff)
	n, err := lf.ReadAt(buf, headerLen+b.logOff)
	if err != nil && err != io.EOF {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	used, err := readRecords(b.st, buf[:n], false)
	if err != nil {
		b.log.Warn("index log corrupt, rebuilding", zap.Error(err))
		return errRebuild
	}
	b.logOff += int64(used)
	return nil
}

// appendLog appends encoded records under the exclusive lock and applies
// them to b.st.
func (b *box) appendLog(recs []byte) error {
	if len(recs) == 0 {
		return nil
	}
	if b.logID == (fileID{}) {
		if err := b.newLog(); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(b.path(logName), os.O_RDWR, 0)
	if err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	defer f.Close()
	// Cut a torn tail a killed writer left behind before appending.
	if err := f.Truncate(headerLen + b.logOff); err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	if _, err := f.WriteAt(recs, headerLen+b.logOff); err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	used, err := readRecords(b.st, recs, true)
	if err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	b.logOff += int64(used)
	if b.logOff > compactLogs {
		return b.compact()
	}
	return nil
}

// newLog replaces the log with an empty one of the current generation.
func (b *box) newLog() error {
	f, err := os.CreateTemp(b.dir, logName+".tmp*")
	if err != nil {
		return storage.Errorf("index", b.name, kindOfOS(err), err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(header(b.gen)); err != nil {
		f.Close()
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	if err := os.Rename(f.Name(), b.path(logName)); err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	b.logID, b.logOff = idOf(fi), 0
	return nil
}

// compact writes a new snapshot generation and an empty log.
func (b *box) compact() error {
	gen := b.gen + 1
	if err := writeSnapshot(b.dir, b.st, gen); err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	fi, err := os.Stat(b.path(indexName))
	if err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	b.gen = gen
	b.setSnap(fi)
	return b.newLog()
}

// readFloor reads the modseq reservation.
func (b *box) readFloor() uint64 {
	data, err := os.ReadFile(b.path(modseqName))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// nextModseq returns a new modseq, above every one announced before,
// raising the fsynced reservation when it runs out.
func (b *box) nextModseq() (uint64, error) {
	ms := b.st.highest + 1
	if b.floor == 0 || ms >= b.floor {
		b.floor = b.readFloor()
	}
	if ms >= b.floor {
		f := ms + modseqReserve
		if err := format.WriteFileAtomic(b.dir, modseqName, []byte(strconv.FormatUint(f, 10)+"\n"), 0o600); err != nil {
			return 0, storage.Errorf("index", b.name, storage.ErrTemporary, err)
		}
		b.floor = f
	}
	b.st.highest = ms
	return ms, nil
}

// open brings the box up to date under the exclusive lock: load or
// rebuild the index, then scan the Maildir when it changed. The caller
// holds b.mu and must call b.unlock.
func (b *box) openLocked(scan bool) error {
	if err := b.lock(true); err != nil {
		return err
	}
	err := b.refresh()
	if err == errRebuild {
		err = b.rebuild()
	}
	if err != nil {
		b.unlock()
		return err
	}
	if scan {
		if err := b.scan(false); err != nil {
			b.unlock()
			return err
		}
	}
	return nil
}

// rebuild recreates the index from the Maildir and dovecot-uidlist:
// UIDs and flags are kept (they live in the uidlist and the file
// names), every modseq is set above the floor, cached data is dropped.
func (b *box) rebuild() error {
	b.log.Info("rebuilding mailbox index")
	floor := b.readFloor()
	b.st = newState()
	b.st.highest = floor
	b.gen++
	if err := writeSnapshot(b.dir, b.st, b.gen); err != nil {
		return storage.Errorf("index", b.name, kindOfOS(err), err)
	}
	fi, err := os.Stat(b.path(indexName))
	if err != nil {
		return storage.Errorf("index", b.name, storage.ErrTemporary, err)
	}
	b.setSnap(fi)
	if err := b.newLog(); err != nil {
		return err
	}
	if err := b.scan(true); err != nil {
		return err
	}
	// Keep new sessions from reporting every message \Recent after a
	// rebuild: recent is lost with the index, as in Dovecot.
	return nil
}

// fileRef is a message file found by a scan.
type fileRef struct {
	name  string
	inNew bool
}

// listDirs lists the subdirectories marked in which (new/, cur/) and
// returns their files by base name and the dirState each matched.
func (b *box) listDirs(which [2]bool) (map[string]fileRef, [2]dirState, error) {
	files := map[string]fileRef{}
	var ds [2]dirState
	// new/ before cur/: a file moved from new/ to cur/ during the scan is
	// then seen at least once.
	for i, sub := range subdirs {
		if !which[i] {
			continue
		}
		dir := filepath.Join(b.dir, sub)
		now := time.Now()
		fi, err := os.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("maildir subdirectory missing, recreated", zap.String("dir", sub))
			if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
				return nil, ds, storage.Errorf("sync", b.name, kindOfOS(err), err)
			}
			fi, err = os.Stat(dir)
		}
		if err != nil {
			return nil, ds, storage.Errorf("sync", b.name, kindOfOS(err), err)
		}
		ds[i] = dirState{mtime: mtimeOf(fi), check: now.UnixNano()}
		f, err := os.Open(dir)
		if err != nil {
			return nil, ds, storage.Errorf("sync", b.name, kindOfOS(err), err)
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return nil, ds, storage.Errorf("sync", b.name, storage.ErrTemporary, err)
		}
		for _, n := range names {
			if n == "" || n[0] == '.' {
				continue
			}
			files[format.BaseOf(n)] = fileRef{name: n, inNew: i == 0}
		}
	}
	return files, ds, nil
}

// scan compares the Maildir with the index and records the differences:
// new files get UIDs (from dovecot-uidlist if another program assigned
// them, else new ones written to it), renamed files their new flags, and
// vanished files are expunged. With force false it reads only the
// subdirectories the index's dirState does not vouch for (dirsync.go).
func (b *box) scan(force bool) error {
	which := [2]bool{true, true}
	if !force {
		which = b.dirsToScan(time.Now())
		if !which[0] && !which[1] {
			return nil
		}
	}
	files, ds, err := b.listDirs(which)
	if err != nil {
		return err
	}
	scanned := func(m *msg) bool {
		if m.inNew {
			return which[0]
		}
		return which[1]
	}
	missing := false
	for _, m := range b.st.msgs {
		if _, ok := files[m.base]; !ok && scanned(m) {
			missing = true
			break
		}
	}
	if missing {
		// A rename racing with readdir can hide a file; look again
		// before calling it expunged.
		again, ds2, err := b.listDirs(which)
		if err != nil {
			return err
		}
		for k, v := range again {
			if _, ok := files[k]; !ok {
				files[k] = v
			}
		}
		ds = ds2
	}
	// The messages to compare: all when both directories were read,
	// else those of the directory read and those whose file turned up
	// in it.
	var uids []uint32
	if which[0] && which[1] {
		uids = b.st.sortedUIDs()
	} else {
		for uid, m := range b.st.msgs {
			if scanned(m) {
				uids = append(uids, uid)
			}
		}
		for base := range files {
			if m := b.st.byBase[base]; m != nil && !scanned(m) {
				uids = append(uids, m.uid)
			}
		}
		slices.Sort(uids)
	}
	var recs []byte
	kwReloaded := false
	for _, uid := range uids {
		m := b.st.msgs[uid]
		f, ok := files[m.base]
		if !ok {
			ms, err := b.nextModseq()
			if err != nil {
				return err
			}
			recs = append(recs, encExpunge(uid, ms)...)
			continue
		}
		delete(files, m.base)
		if f.name == m.name && f.inNew == m.inNew {
			continue
		}
		nm := *m
		nm.name, nm.inNew = f.name, f.inNew
		fn := parseName(f.name)
		if fn.HasInfo {
			nm.flags, nm.passed = fromMaildirFlags(fn.Flags)
			kw, reloaded, err := b.kwMask(fn.Keywords, kwReloaded)
			if err != nil {
				return err
			}
			kwReloaded = kwReloaded || reloaded
			nm.kw = kw
		}
		if nm.flags != m.flags || nm.kw != m.kw || nm.passed != m.passed {
			ms, err := b.nextModseq()
			if err != nil {
				return err
			}
			nm.modseq = ms
		}
		recs = appendMessage(recs, &nm)
	}
	// An empty mailbox still needs its UIDVALIDITY: from the uidlist
	// Dovecot wrote, or a new uidlist (addNew).
	if len(files) > 0 || b.st.uidValidity == 0 {
		r, err := b.addNew(files, &kwReloaded)
		if err != nil {
			return err
		}
		recs = append(recs, r...)
	}
	if kwReloaded {
		recs = append(encKeywords(b.st.keywords), recs...)
	}
	dirs := b.st.dirs
	for i := range dirs {
		if which[i] {
			dirs[i] = ds[i]
		}
	}
	if dirs != b.st.dirs {
		recs = append(recs, encDirs(dirs)...)
	}
	return b.appendLog(recs)
}

// addNew gives UIDs to files the index does not know.
func (b *box) addNew(files map[string]fileRef, kwReloaded *bool) ([]byte, error) {
	lk, err := format.LockUidlist(b.dir, format.UidlistLockTimeout)
	if err != nil {
		return nil, storage.Errorf("sync", b.name, storage.ErrTemporary, err)
	}
	held := true
	defer func() {
		if held {
			lk.Unlock()
		}
	}()
	ul, err := b.readUidlist()
	if err != nil {
		return nil, err
	}
	var recs []byte
	if b.st.uidValidity != ul.UIDValidity {
		if b.st.uidValidity != 0 && len(b.st.msgs) > 0 {
			// Someone recreated the uidlist with a new UIDVALIDITY:
			// every UID we know is void (RFC 9051 §2.3.1.1).
			b.log.Warn("dovecot-uidlist UIDVALIDITY changed, reindexing", zap.Uint32("old", b.st.uidValidity), zap.Uint32("new", ul.UIDValidity))
			for _, uid := range b.st.sortedUIDs() {
				m := b.st.msgs[uid]
				files[m.base] = fileRef{name: m.name, inNew: m.inNew}
				ms, err := b.nextModseq()
				if err != nil {
					return nil, err
				}
				recs = append(recs, encExpunge(uid, ms)...)
			}
		}
		b.st.uidValidity = ul.UIDValidity
		if b.st.firstRecent == 0 {
			b.st.firstRecent = 1
		}
		recs = append(recs, encState(b.st)...)
	}
	known := make(map[string]uint32, len(ul.Records))
	guids := map[string]string{}
	for _, r := range ul.Records {
		known[r.Base] = r.UID
		if g, ok := r.GetExt(format.ExtGUID); ok && g != "" {
			guids[r.Base] = g
		}
	}
	type nf struct {
		base string
		ref  fileRef
		uid  uint32
	}
	fresh := make([]nf, 0, len(files))
	var added []format.UidlistRecord
	var gone map[uint32]bool
	wasExpunged := func(uid uint32) bool {
		if gone == nil {
			gone = make(map[uint32]bool, len(b.st.expunged))
			for _, e := range b.st.expunged {
				gone[e.uid] = true
			}
		}
		return gone[uid]
	}
	for base, ref := range files {
		uid := known[base]
		if uid != 0 && (b.st.msgs[uid] != nil || wasExpunged(uid)) {
			// The uidlist gives a UID in use, or one the index saw
			// expunged (the uidlist is appended to and keeps records of
			// expunged messages until it is rewritten): a UID is never
			// reused (RFC 9051 §2.3.1.1), so the file gets a new one.
			uid = 0
		}
		fresh = append(fresh, nf{base, ref, uid})
	}
	sort.Slice(fresh, func(i, j int) bool {
		if (fresh[i].uid == 0) != (fresh[j].uid == 0) {
			return fresh[i].uid != 0
		}
		if fresh[i].uid != fresh[j].uid {
			return fresh[i].uid < fresh[j].uid
		}
		return fresh[i].base < fresh[j].base // delivery order by time stamp
	})
	nAdd := 0
	for i := range fresh {
		if fresh[i].uid == 0 {
			nAdd++
		}
	}
	added = make([]format.UidlistRecord, 0, nAdd)
	for i := range fresh {
		if fresh[i].uid == 0 {
			fresh[i].uid = ul.NextUID
			ul.NextUID++
			added = append(added, format.UidlistRecord{UID: fresh[i].uid, Base: fresh[i].base})
		}
	}
	now := time.Now().Unix()
	msgs := make([]msg, len(fresh)) // one allocation for all of them
	ptrs := make([]*msg, len(fresh))
	for i, f := range fresh {
		m := &msgs[i]
		fn := parseName(f.ref.name)
		*m = msg{uid: f.uid, base: f.base, name: f.ref.name, inNew: f.ref.inNew, sdate: now, guid: guids[f.base],
			size: fn.Size, vsize: fn.VSize}
		if fn.HasInfo {
			m.flags, m.passed = fromMaildirFlags(fn.Flags)
			kw, reloaded, err := b.kwMask(fn.Keywords, *kwReloaded)
			if err != nil {
				return nil, err
			}
			*kwReloaded = *kwReloaded || reloaded
			m.kw = kw
		}
		ptrs[i] = m
	}
	vanished, err := b.fillSizesAll(ptrs)
	if err != nil {
		return nil, storage.Errorf("sync", b.name, kindOfOS(err), err)
	}
	// One allocation for the records of them all, not a doubling
	// append per message: a first open of 100,000 messages makes ~15 MB.
	need := len(recs)
	for i, m := range ptrs {
		if !vanished[i] {
			need += msgRecLen(m)
		}
	}
	recs = slices.Grow(recs, need-len(recs))
	for i, m := range ptrs {
		if vanished[i] {
			continue // vanished between listing and opening: the next scan sees it gone
		}
		ms, err := b.nextModseq()
		if err != nil {
			return nil, err
		}
		m.modseq = ms
		recs = appendMessage(recs, m)
	}
	if len(added) > 0 || b.uidlistMissing() {
		if err := b.writeUidlist(lk, ul, added); err != nil {
			return nil, err
		}
		held = false
	}
	return recs, nil
}

// readUidlist reads dovecot-uidlist (the caller holds its lock), making a
// new one when it is missing. A damaged one is used as far as it parses,
// then rewritten.
func (b *box) readUidlist() (*format.Uidlist, error) {
	ul, err := b.loadUidlist()
	if errors.Is(err, fs.ErrNotExist) {
		ul = &format.Uidlist{Version: format.UidlistVersion, UIDValidity: uint32(time.Now().Unix()), NextUID: 1}
		if g, err := format.NewGUID(); err == nil {
			ul.GUID, ul.HasGUID = g, true
		}
		if b.st.uidValidity != 0 {
			// The uidlist was deleted but our index remembers: keep the
			// UIDs clients know instead of invalidating them all.
			ul.UIDValidity = b.st.uidValidity
			for _, uid := range b.st.sortedUIDs() {
				m := b.st.msgs[uid]
				ul.Records = append(ul.Records, uidlistRecord(m))
				if uid >= ul.NextUID {
					ul.NextUID = uid + 1
				}
			}
		}
		return ul, nil
	}
	if err != nil {
		return nil, storage.Errorf("sync", b.name, storage.ErrTemporary, err)
	}
	if len(ul.Problems) > 0 {
		b.log.Warn("dovecot-uidlist damaged, lines skipped", zap.Int("lines", len(ul.Problems)), zap.String("first", ul.Problems[0].Reason))
	}
	if ul.NextUID == 0 {
		ul.NextUID = 1
	}
	if n := b.nextUID(); n > ul.NextUID {
		ul.NextUID = n
	}
	return ul, nil
}

// uidlistGarbageMin: below this many records of expunged messages the
// uidlist is only appended to; above it (and above a quarter of the
// records) the next write rewrites it without them. Dovecot compresses
// its uidlist on a similar share of dead records (UIDLIST_COMPRESS_PERCENTAGE).
const uidlistGarbageMin = 1000

// writeUidlist writes ul with the added records; it releases lk. It
// appends the new lines, as Dovecot does, unless the file needs a
// rewrite (missing, damaged, an older version, or many records of
// expunged messages); a rewrite drops the records of expunged messages
// (their UIDs stay below NextUID).
func (b *box) writeUidlist(lk *format.Lock, ul *format.Uidlist, added []format.UidlistRecord) error {
	if b.ulc.ul != nil && len(ul.Problems) == 0 && len(added) > 0 {
		dead := len(ul.Records) + len(added) - len(b.st.msgs)
		if dead < uidlistGarbageMin || dead*4 < len(ul.Records) {
			err := format.AppendUidlist(lk, added)
			if err == nil {
				lk.Unlock()
				ul.Records = append(ul.Records, added...)
				b.uidlistWritten(ul)
				return nil
			}
			if !errors.Is(err, format.ErrNeedRewrite) {
				return storage.Errorf("sync", b.name, storage.ErrTemporary, err)
			}
		}
	}
	gone := make(map[uint32]bool, len(b.st.expunged))
	for _, e := range b.st.expunged {
		gone[e.uid] = true
	}
	recs := ul.Records[:0:0]
	for _, r := range ul.Records {
		if !gone[r.UID] {
			recs = append(recs, r)
		}
	}
	recs = append(recs, added...)
	sort.Slice(recs, func(i, j int) bool { return recs[i].UID < recs[j].UID })
	ul.Records = recs
	ul.Version = format.UidlistVersion
	ul.Problems = nil
	if err := format.WriteUidlist(lk, ul); err != nil {
		b.ulc = uidlistCache{}
		return storage.Errorf("sync", b.name, storage.ErrTemporary, err)
	}
	b.ulc.hdr = nil // a new file: uidlistWritten reads its header
	b.uidlistWritten(ul)
	return nil
}

// fillSizes sets the sizes and dates of m from its name and the file: a
// stat (the internal date is the mtime, as Dovecot has it) and, only
// when the name carries no W= (Dovecot's virtual size), a read that
// counts line ends. No MIME parsing: structures and header caches are
// made on first use. On entry m.size and m.vsize are the name's S= and
// W= values, -1 when absent.
func (b *box) fillSizes(m *msg, buf []byte) error {
	p := b.msgPath(m)
	if m.vsize >= 0 {
		var st unix.Stat_t
		if err := statRetry(p, &st); err != nil {
			return &fs.PathError{Op: "stat", Path: p, Err: err}
		}
		m.idate = st.Mtim.Sec
		if m.size < 0 {
			m.size = st.Size
		}
		return nil
	}
	// open, fstat, read, close: raw calls, as os.Open would also try to
	// register each file with the poller.
	fd, err := openRetry(p)
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: p, Err: err}
	}
	m.idate = st.Mtim.Sec
	if m.size < 0 {
		m.size = st.Size
	}
	var c crlfCounter
	for left := st.Size; left > 0; {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			break
		}
		c.add(buf[:n])
		left -= int64(n)
	}
	m.vsize = c.n
	return nil
}

func statRetry(p string, st *unix.Stat_t) error {
	for {
		if err := unix.Stat(p, st); err != unix.EINTR {
			return err
		}
	}
}

func openRetry(p string) (int, error) {
	for {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// sizeBuf is the read buffer of fillSizes: most messages fit in one
// read.
const sizeBuf = 32 << 10

var sizeBufs = sync.Pool{New: func() any { b := make([]byte, sizeBuf); return &b }}

// fillSizesAll runs fillSizes for every ms[i] on a few goroutines: a first open of a Maildir another program filled
// has a stat (and without W= a read) to make per message, and those
// wait on the disk, not on a CPU. gone[i] says ms[i]'s file vanished
// since the listing.
func (b *box) fillSizesAll(ms []*msg) (gone []bool, err error) {
	gone = make([]bool, len(ms))
	workers := min(8, (len(ms)+63)/64)
	if workers <= 1 {
		bp := sizeBufs.Get().(*[]byte)
		defer sizeBufs.Put(bp)
		for i, m := range ms {
			if err := b.fillSizes(m, *bp); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
				gone[i] = true
			}
		}
		return gone, nil
	}
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	const chunk = 64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := sizeBufs.Get().(*[]byte)
			defer sizeBufs.Put(bp)
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(ms) {
					return
				}
				for i := lo; i < min(lo+chunk, len(ms)); i++ {
					if err := b.fillSizes(ms[i], *bp); err != nil {
						if errors.Is(err, fs.ErrNotExist) {
							gone[i] = true
							continue
						}
						errMu.Lock()
						if first == nil {
							first = err
						}
						errMu.Unlock()
						next.Store(int64(len(ms))) // stop the others
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return gone, nil
}

func (b *box) msgPath(m *msg) string {
	if m.inNew {
		return filepath.Join(b.dir, "new", m.name)
	}
	return filepath.Join(b.dir, "cur", m.name)
}

// crlfCounter counts a stream's size with every bare LF counted as CRLF
// (IMAP RFC822.SIZE), fed in pieces.
type crlfCounter struct {
	n      int64
	prevCR bool
}

func (c *crlfCounter) add(p []byte) {
	if len(p) == 0 {
		return
	}
	lf := bytes.Count(p, nl)
	crlf := bytes.Count(p, crnl)
	if c.prevCR && p[0] == '\n' {
		crlf++
	}
	c.n += int64(len(p) + lf - crlf)
	c.prevCR = p[len(p)-1] == '\r'
}

var nl, crnl = []byte("\n"), []byte("\r\n")

// crlfSize counts the size of r with every bare LF counted as CRLF.
func crlfSize(r io.Reader) (int64, error) {
	bp := sizeBufs.Get().(*[]byte)
	defer sizeBufs.Put(bp)
	var c crlfCounter
	for {
		k, err := r.Read(*bp)
		c.add((*bp)[:k])
		if err == io.EOF {
			return c.n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// kwMask maps keyword letters to index bits, re-reading dovecot-keywords
// once per scan when a letter is unknown.
func (b *box) kwMask(letters []byte, reloaded bool) (uint32, bool, error) {
	var mask uint32
	didReload := false
	for _, l := range letters {
		i := int(l - 'a')
		if i < 0 || i >= format.MaxKeywords {
			continue
		}
		if (i >= len(b.st.keywords) || b.st.keywords[i] == "") && !reloaded && !didReload {
			kws, err := readKeywords(b.dir)
			if err != nil {
				return 0, false, storage.Errorf("sync", b.name, storage.ErrTemporary, err)
			}
			b.st.keywords = kws
			didReload = true
		}
		if i < len(b.st.keywords) && b.st.keywords[i] != "" {
			mask |= 1 << i
		}
	}
	return mask, didReload, nil
}

// notify wakes every session of this box in this process.
func (b *box) notify() {
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	for mb := range b.subs {
		select {
		case mb.notifyC <- struct{}{}:
		default:
		}
	}
}

func (d *Driver) notifyDir(dir string) {
	d.mu.Lock()
	b := d.boxes[dir]
	d.mu.Unlock()
	if b != nil {
		b.notify()
	}
}
