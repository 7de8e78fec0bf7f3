package maildir

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// mailbox is one session's handle: the view (UIDs by sequence) changes
// only in Sync.
type mailbox struct {
	s    *Store
	b    *box
	name string
	ro   bool
	// saveOnly handles (Store.OpenSave) never claim \Recent.
	saveOnly bool
	view     []uint32 // sorted UIDs the session knows
	seen     uint64   // highest modseq reported to the session
	recent   map[uint32]bool
	kwCount  int
	own      map[uint32]uint64 // modseqs of changes this handle made
	notifyC  chan struct{}
	closed   bool
}

// openMode is how a handle is opened: selected read-write (claims
// \Recent), examined, or only to save into.
type openMode int

const (
	openSelect openMode = iota
	openExamine
	openSave
)

func (s *Store) open(name string, mode openMode, watch bool) (*mailbox, error) {
	readOnly := mode == openExamine
	dir, err := s.dirOf(name)
	if err != nil {
		return nil, s.badName("select", name, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cur")); err != nil || !fi.IsDir() {
		if _, err2 := os.Stat(dir); err2 != nil {
			return nil, storage.Errorf("select", name, storage.ErrNotFound, err2)
		}
		// A Maildir without cur/ (a bad copy): recreate what is missing.
		if err := makeMaildir(dir, !storage.IsInbox(name)); err != nil {
			return nil, storage.Errorf("select", name, kindOfOS(err), err)
		}
	}
	b, _ := s.d.acquire(dir, name, s.log)
	mb := &mailbox{s: s, b: b, name: name, ro: readOnly, saveOnly: mode == openSave, notifyC: make(chan struct{}, 1), own: map[uint32]uint64{}}
	b.mu.Lock()
	// A save-only handle reads no directory: a commit takes its UIDs
	// from dovecot-uidlist, and the files others added are indexed by
	// the next session that syncs, so a delivery into a big new/ costs
	// no readdir of it.
	if err := b.openLocked(mode != openSave); err != nil {
		b.mu.Unlock()
		s.d.release(b)
		return nil, err
	}
	defer b.mu.Unlock()
	if mode == openSelect && b.st.firstRecent < b.nextUID() {
		// This session claims the messages that arrived since the last
		// read-write select as \Recent (RFC 3501 §2.3.2).
		mb.recent = map[uint32]bool{}
		for uid := range b.st.msgs {
			if uid >= b.st.firstRecent {
				mb.recent[uid] = true
			}
		}
		b.st.firstRecent = b.nextUID()
		if err := b.appendLog(encState(b.st)); err != nil {
			b.unlock()
			b.mu.Unlock()
			s.d.release(b)
			b.mu.Lock() // for the deferred unlock
			return nil, err
		}
	}
	b.unlock()
	mb.view = b.st.sortedUIDs()
	mb.seen = b.st.highest
	mb.kwCount = len(b.st.keywords)
	if watch {
		b.subsMu.Lock()
		b.subs[mb] = struct{}{}
		b.subsMu.Unlock()
		s.d.watch.add(b.dir)
	}
	return mb, nil
}

// nextUID is one above the highest UID the index knows, expunged ones
// included.
func (b *box) nextUID() uint32 { return b.st.maxUID + 1 }

func (mb *mailbox) Name() string            { return mb.name }
func (mb *mailbox) ReadOnly() bool          { return mb.ro }
func (mb *mailbox) Notify() <-chan struct{} { return mb.notifyC }

func (mb *mailbox) UIDValidity() uint32 {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	return mb.b.st.uidValidity
}

func (mb *mailbox) Status() (storage.Status, error) {
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(true); err != nil {
		return storage.Status{}, err
	}
	b.unlock()
	return b.status()
}

// status is Status from b.st as it is; the caller holds b.mu.
func (b *box) status() (storage.Status, error) {
	st := storage.Status{UIDValidity: b.st.uidValidity, UIDNext: b.uidNext(), HighestModSeq: b.st.highest}
	for uid, m := range b.st.msgs {
		st.Messages++
		if m.flags&storage.FlagSeen == 0 {
			st.Unseen++
		}
		if m.flags&storage.FlagDeleted != 0 {
			st.Deleted++
		}
		if uid >= b.st.firstRecent {
			st.Recent++
		}
		st.Size += m.vsize
	}
	id, err := b.mailboxID()
	if err != nil {
		return storage.Status{}, err
	}
	st.MailboxID = id
	return st, nil
}

// MailboxID implements storage.MailboxIDer (RFC 8474 MAILBOXID).
func (mb *mailbox) MailboxID() (string, error) {
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	// The id is the uidlist's, not the index's: no index refresh when
	// the uidlist has one.
	if g, ok := b.uidlistGUID(); ok {
		return hex.EncodeToString(g[:]), nil
	}
	if err := b.openLocked(true); err != nil {
		return "", err
	}
	b.unlock()
	return b.mailboxID()
}

// uidNext is UIDNEXT: the uidlist's next UID when it is ahead (Dovecot
// reserved UIDs for messages since expunged).
func (b *box) uidNext() uint32 {
	n := b.nextUID()
	if un, err := b.uidlistNext(); err == nil && un > n {
		n = un
	}
	return n
}

// Keywords implements storage.Mailbox; the caller is taken to announce
// what it returns, so KeywordsChanged and Changes.NewKeywords compare
// with it.
func (mb *mailbox) Keywords() []string {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	mb.kwCount = len(mb.b.st.keywords)
	var out []string
	for _, k := range mb.b.st.keywords {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (mb *mailbox) CanCreateKeywords() bool {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	n := 0
	for _, k := range mb.b.st.keywords {
		if k != "" {
			n++
		}
	}
	return n < format.MaxKeywords
}

func (mb *mailbox) Count() uint32 { return uint32(len(mb.view)) }

func (mb *mailbox) UIDAt(seq uint32) uint32 {
	if seq == 0 || int(seq) > len(mb.view) {
		return 0
	}
	return mb.view[seq-1]
}

func (mb *mailbox) Seq(uid uint32) uint32 {
	i := sort.Search(len(mb.view), func(i int) bool { return mb.view[i] >= uid })
	if i < len(mb.view) && mb.view[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

func (mb *mailbox) UIDs() []uint32 { return append([]uint32(nil), mb.view...) }

func (mb *mailbox) UIDNext() uint32 {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	return mb.b.uidNext()
}

func (mb *mailbox) HighestModSeq() uint64 { return mb.seen }

func (mb *mailbox) Recent(uid uint32) bool { return mb.recent[uid] }

// Sync implements storage.Mailbox.
func (mb *mailbox) Sync() (storage.Changes, error) {
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(true); err != nil {
		return storage.Changes{}, err
	}
	// The index lock is kept while the changes are worked out (in
	// memory): a \Recent claim below is then recorded under it, without
	// locking and refreshing a second time.
	locked := true
	defer func() {
		if locked {
			b.unlock()
		}
	}()
	var ch storage.Changes
	keep := mb.view[:0:0]
	for i := len(mb.view) - 1; i >= 0; i-- {
		if b.st.msgs[mb.view[i]] == nil {
			ch.Expunged = append(ch.Expunged, uint32(i+1))
			ch.ExpungedUIDs = append(ch.ExpungedUIDs, mb.view[i])
		}
	}
	for _, uid := range mb.view {
		if m := b.st.msgs[uid]; m != nil {
			keep = append(keep, uid)
			if m.modseq > mb.seen && mb.own[uid] != m.modseq {
				ch.FlagsChanged = append(ch.FlagsChanged, uid)
			}
		}
	}
	last := uint32(0)
	if len(mb.view) > 0 {
		last = mb.view[len(mb.view)-1]
	}
	var added []uint32
	for uid := range b.st.msgs {
		if uid > last {
			added = append(added, uid)
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i] < added[j] })
	if len(added) > 0 && !mb.ro && !mb.saveOnly && b.st.firstRecent <= added[len(added)-1] {
		if mb.recent == nil {
			mb.recent = map[uint32]bool{}
		}
		for _, uid := range added {
			if uid >= b.st.firstRecent {
				mb.recent[uid] = true
			}
		}
		b.st.firstRecent = added[len(added)-1] + 1
		b.appendLog(encState(b.st))
	}
	b.unlock()
	locked = false
	mb.view = append(keep, added...)
	if len(added) > 0 || len(ch.Expunged) > 0 {
		ch.Exists = uint32(len(mb.view))
		for _, uid := range mb.view {
			if mb.recent[uid] {
				ch.Recent++
			}
		}
	}
	if len(ch.ExpungedUIDs) > 0 {
		for _, uid := range ch.ExpungedUIDs {
			delete(mb.recent, uid)
			delete(mb.own, uid)
		}
	}
	mb.seen = b.st.highest
	// Keyword slots are only ever added (dovecot-keywords keeps them), so
	// a count differing from the one Keywords last returned means new
	// ones, whoever created them, this handle included.
	ch.NewKeywords = len(b.st.keywords) != mb.kwCount
	return ch, nil
}

// KeywordsChanged implements storage.Mailbox.
func (mb *mailbox) KeywordsChanged() bool {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	return len(mb.b.st.keywords) != mb.kwCount
}

// toMessage returns m as storage.Message; the caller holds b.mu.
func (b *box) toMessage(m *msg) storage.Message {
	if m.eid == "" {
		m.eid = emailID(guidOf(m))
	}
	out := storage.Message{
		UID: m.uid, Flags: m.flags, ModSeq: m.modseq, Size: m.vsize, PhysicalSize: m.size,
		InternalDate: time.Unix(m.idate, 0), SaveDate: time.Unix(m.sdate, 0), EmailID: m.eid,
	}
	if m.kw == 0 {
		return out
	}
	for i := 0; i < len(b.st.keywords); i++ {
		if m.kw&(1<<i) != 0 && b.st.keywords[i] != "" {
			out.Keywords = append(out.Keywords, b.st.keywords[i])
		}
	}
	sort.Strings(out.Keywords)
	return out
}

func (mb *mailbox) lookup(uid uint32) (*msg, error) {
	m := mb.b.st.msgs[uid]
	if m == nil {
		if mb.Seq(uid) != 0 {
			return nil, storage.Errorf("fetch", mb.name, storage.ErrExpunged, nil)
		}
		return nil, storage.Errorf("fetch", mb.name, storage.ErrNotFound, nil)
	}
	return m, nil
}

func (mb *mailbox) Message(uid uint32) (storage.Message, error) {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	m, err := mb.lookup(uid)
	if err != nil {
		return storage.Message{}, err
	}
	return mb.b.toMessage(m), nil
}

func (mb *mailbox) Messages(uids []uint32, fn func(storage.Message) error) error {
	if uids == nil {
		uids = mb.view
	}
	const batch = 1024 // release the lock now and then for other sessions
	// One buffer for every batch: fn gets each Message by value.
	out := make([]storage.Message, 0, min(batch, len(uids)))
	for len(uids) > 0 {
		n := min(batch, len(uids))
		out = out[:0]
		mb.b.mu.Lock()
		for _, uid := range uids[:n] {
			if m := mb.b.st.msgs[uid]; m != nil {
				out = append(out, mb.b.toMessage(m))
			}
		}
		mb.b.mu.Unlock()
		for _, m := range out {
			if err := fn(m); err != nil {
				return err
			}
		}
		uids = uids[n:]
	}
	return nil
}

// body is an opened message file.
type body struct {
	*os.File
	size int64
}

func (b *body) Size() int64 { return b.size }

func (mb *mailbox) Open(uid uint32) (storage.Body, error) {
	b := mb.b
	for attempt := 0; ; attempt++ {
		b.mu.Lock()
		m, err := mb.lookup(uid)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		p := b.msgPath(m)
		b.mu.Unlock()
		f, err := os.Open(p)
		if err == nil {
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, storage.Errorf("fetch", mb.name, storage.ErrTemporary, err)
			}
			return &body{File: f, size: fi.Size()}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt > 0 {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, storage.Errorf("fetch", mb.name, storage.ErrExpunged, err)
			}
			return nil, storage.Errorf("fetch", mb.name, kindOfOS(err), err)
		}
		// Renamed (a flag change by another program) or deleted: rescan
		// and look again.
		b.mu.Lock()
		if err := b.openLocked(false); err != nil {
			b.mu.Unlock()
			return nil, err
		}
		err = b.scan(true)
		b.unlock()
		b.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

func (mb *mailbox) Cache(uid uint32, field string) ([]byte, bool) {
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	if m := mb.b.st.msgs[uid]; m != nil {
		d, ok := m.cache.get(field)
		return d, ok
	}
	return nil, false
}

func (mb *mailbox) SetCache(uid uint32, field string, data []byte) error {
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(false); err != nil {
		return err
	}
	defer b.unlock()
	if b.st.msgs[uid] == nil {
		return nil
	}
	return b.appendLog(encCache(uid, field, data))
}

func (mb *mailbox) Close() error {
	if mb.closed {
		return nil
	}
	mb.closed = true
	mb.b.subsMu.Lock()
	delete(mb.b.subs, mb)
	empty := len(mb.b.subs) == 0
	mb.b.subsMu.Unlock()
	if empty {
		mb.s.d.watch.remove(mb.b.dir)
	}
	mb.s.d.release(mb.b)
	return nil
}

// emailID derives the RFC 8474 EMAILID from the message GUID (guidOf:
// the Maildir base name before its first ',', or the G extension a copy
// carries in dovecot-uidlist), so copies keep the EMAILID of their source
// and a rebuild of the index finds the same one.
func emailID(base string) string {
	for i := 0; i < len(base); i++ {
		if base[i] == ',' {
			base = base[:i]
			break
		}
	}
	const alpha = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	// FNV-1a 64: short, and only characters RFC 8474 §5.1 allows.
	h := uint64(14695981039346656037)
	for i := 0; i < len(base); i++ {
		h ^= uint64(base[i])
		h *= 1099511628211
	}
	out := []byte{'M'}
	for i := 0; i < 11; i++ {
		out = append(out, alpha[h%62])
		h /= 62
	}
	return string(out)
}
