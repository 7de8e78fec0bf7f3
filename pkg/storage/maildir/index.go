package maildir

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// Index files beside a mailbox's new/ and cur/. Dovecot ignores files it
// does not know in a Maildir, so both servers can share the directory.
const (
	indexName   = "cote-index"      // snapshot: every record, checksummed
	logName     = "cote-index.log"  // records appended since the snapshot
	lockName    = "cote-index.lock" // OFD lock serialising index writers
	modseqName  = "cote-modseq"     // HIGHESTMODSEQ floor (reservation), fsynced
	indexMagic  = "COTEIDX\x00"     // snapshot and log header
	indexVer    = 1                 // bump when the record encoding changes
	headerLen   = 8 + 4 + 8         // magic, version, generation
	maxRecord   = 64 << 20          // a record larger than this is corruption
	compactLogs = 4 << 20           // compact once the log grows past this
)

// Record types.
const (
	recMessage  = 'M' // full message record (insert or update)
	recExpunge  = 'X' // uid, modseq
	recCache    = 'C' // uid, field, data
	recKeywords = 'K' // the keyword table (dovecot-keywords order)
	recState    = 'S' // uidvalidity, first recent uid
	recDirs     = 'D' // what the index knows of new/ and cur/ (dirState)
)

// msg is the index record of one message.
type msg struct {
	uid      uint32
	base     string // Maildir base name: the key across flag renames
	name     string // current file name
	inNew    bool   // in new/ (else cur/)
	flags    storage.Flags
	passed   bool   // Maildir P flag, kept through renames
	kw       uint32 // bit i: keyword index i of the dovecot-keywords table
	modseq   uint64
	size     int64 // physical
	vsize    int64 // CRLF size, RFC822.SIZE
	idate    int64 // unix seconds
	sdate    int64 // unix seconds
	cache    cacheFields
	expunged bool // removed from new/ and cur/; kept until the view drops it
	// guid is the message GUID when it is not the base name: a copy
	// keeps its source's (dovecot-uidlist extension G, as Dovecot's
	// maildir copy records it); the EMAILID derives from it.
	guid string
	// eid caches emailID(guidOf(m)), filled by toMessage under b.mu:
	// FETCH 1:* would otherwise hash every GUID again.
	eid string
}

// state is the index of one mailbox in memory.
type state struct {
	uidValidity uint32
	firstRecent uint32
	keywords    []string // index i = dovecot-keywords index i
	msgs        map[uint32]*msg
	byBase      map[string]*msg
	expunged    []expungedUID // in modseq order
	highest     uint64
	maxUID      uint32      // highest UID ever applied, expunged ones included
	dirs        [2]dirState // new/, cur/: when the index last matched them
	// usedBytes and usedCount are the physical sizes and number of the
	// messages in msgs, kept as records are applied: the counted usage
	// the quota reads without listing the Maildir.
	usedBytes, usedCount int64
	usedVBytes           int64 // RFC822.SIZE sum, for quota_vsizes
}

// dirState says up to when the index matched a Maildir subdirectory, so
// a sync can skip reading it (sync.go). It is shared through the index:
// a cote process that changed the directory itself under the index lock
// records it, and the other processes need not rescan.
type dirState struct {
	mtime int64 // ns: the directory's mtime when it matched
	check int64 // ns: when that was established
	own   bool  // matched through cote's own change, not a listing
}

type expungedUID struct {
	uid    uint32
	modseq uint64
}

func newState() *state {
	return &state{msgs: map[uint32]*msg{}, byBase: map[string]*msg{}}
}

func (s *state) sortedUIDs() []uint32 {
	out := make([]uint32, 0, len(s.msgs))
	for uid := range s.msgs {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out
}

// apply applies one decoded record.
func (s *state) apply(typ byte, p []byte) error {
	d := decoder{b: p}
	switch typ {
	case recMessage:
		m := &msg{}
		m.uid = d.u32()
		base := d.take(int(d.u32()))
		m.name = d.str()
		// The base is almost always a prefix of the name: share its
		// bytes (one allocation less per message on every index load).
		if len(base) <= len(m.name) && string(base) == m.name[:len(base)] {
			m.base = m.name[:len(base)]
		} else {
			m.base = string(base)
		}
		fl := d.u32()
		m.inNew = fl&1 != 0
		m.passed = fl&2 != 0
		m.flags = storage.Flags(fl >> 8)
		m.kw = d.u32()
		m.modseq = d.u64()
		m.size = int64(d.u64())
		m.vsize = int64(d.u64())
		m.idate = int64(d.u64())
		m.sdate = int64(d.u64())
		if len(d.b) > 0 {
			// Optional trailing field, absent in records of messages
			// whose GUID is their base name.
			m.guid = d.str()
		}
		if d.err != nil {
			return d.err
		}
		if old := s.msgs[m.uid]; old != nil {
			m.cache = old.cache
			if old.base != m.base {
				delete(s.byBase, old.base)
			}
			s.usedBytes -= old.size
			s.usedVBytes -= old.vsize
			s.usedCount--
		}
		s.usedBytes += m.size
		s.usedVBytes += m.vsize
		s.usedCount++
		s.msgs[m.uid] = m
		s.byBase[m.base] = m
		s.bump(m.modseq)
		s.seeUID(m.uid)
	case recExpunge:
		uid, ms := d.u32(), d.u64()
		if d.err != nil {
			return d.err
		}
		if m := s.msgs[uid]; m != nil {
			s.usedBytes -= m.size
			s.usedVBytes -= m.vsize
			s.usedCount--
			delete(s.msgs, uid)
			if s.byBase[m.base] == m {
				delete(s.byBase, m.base)
			}
		}
		s.expunged = append(s.expunged, expungedUID{uid, ms})
		s.bump(ms)
		s.seeUID(uid)
	case recCache:
		uid, field, data := d.u32(), d.field(), d.bytes()
		if d.err != nil {
			return d.err
		}
		if m := s.msgs[uid]; m != nil {
			m.cache.set(field, data)
		}
	case recKeywords:
		n := d.u32()
		if n > format.MaxKeywords {
			return errors.New("keyword table too long")
		}
		kws := make([]string, n)
		for i := range kws {
			kws[i] = d.str()
		}
		if d.err != nil {
			return d.err
		}
		s.keywords = kws
	case recDirs:
		for i := range s.dirs {
			mt, ck, own := d.u64(), d.u64(), d.u32()
			s.dirs[i] = dirState{mtime: int64(mt), check: int64(ck), own: own != 0}
		}
		if d.err != nil {
			return d.err
		}
	case recState:
		s.uidValidity, s.firstRecent = d.u32(), d.u32()
		if d.err != nil {
			return d.err
		}
	default:
		return fmt.Errorf("unknown index record type %q", typ)
	}
	return nil
}

func (s *state) seeUID(uid uint32) {
	if uid > s.maxUID {
		s.maxUID = uid
	}
}

func (s *state) bump(ms uint64) {
	if ms > s.highest {
		s.highest = ms
	}
}

func encMessage(m *msg) []byte { return appendMessage(nil, m) }

// msgRecLen is the length of m's framed record (appendMessage).
func msgRecLen(m *msg) int {
	n := 8 + 1 + 4 + 4 + len(m.base) + 4 + len(m.name) + 4 + 4 + 5*8
	if m.guid != "" {
		n += 4 + len(m.guid)
	}
	return n
}

// appendMessage appends m's framed record to dst: a snapshot or a scan
// of 100,000 messages encodes them into one reused buffer, not one
// allocation each.
func appendMessage(dst []byte, m *msg) []byte {
	e := encoder{b: dst}
	start := e.open(recMessage)
	e.u32(m.uid)
	e.str(m.base)
	e.str(m.name)
	fl := uint32(m.flags) << 8
	if m.inNew {
		fl |= 1
	}
	if m.passed {
		fl |= 2
	}
	e.u32(fl)
	e.u32(m.kw)
	e.u64(m.modseq)
	e.u64(uint64(m.size))
	e.u64(uint64(m.vsize))
	e.u64(uint64(m.idate))
	e.u64(uint64(m.sdate))
	if m.guid != "" {
		e.str(m.guid)
	}
	return e.close(start)
}

func encExpunge(uid uint32, ms uint64) []byte { return appendExpunge(nil, uid, ms) }

func appendExpunge(dst []byte, uid uint32, ms uint64) []byte {
	e := encoder{b: dst}
	start := e.open(recExpunge)
	e.u32(uid)
	e.u64(ms)
	return e.close(start)
}

func encCache(uid uint32, field string, data []byte) []byte {
	return appendCache(nil, uid, field, data)
}

func appendCache(dst []byte, uid uint32, field string, data []byte) []byte {
	e := encoder{b: dst}
	start := e.open(recCache)
	e.u32(uid)
	e.str(field)
	e.bytes(data)
	return e.close(start)
}

func encKeywords(kws []string) []byte {
	var e encoder
	e.u32(uint32(len(kws)))
	for _, k := range kws {
		e.str(k)
	}
	return frame(recKeywords, e.b)
}

func encDirs(dirs [2]dirState) []byte {
	var e encoder
	for _, ds := range dirs {
		e.u64(uint64(ds.mtime))
		e.u64(uint64(ds.check))
		own := uint32(0)
		if ds.own {
			own = 1
		}
		e.u32(own)
	}
	return frame(recDirs, e.b)
}

func encState(s *state) []byte {
	var e encoder
	e.u32(s.uidValidity)
	e.u32(s.firstRecent)
	return frame(recState, e.b)
}

// frame wraps a payload: length (type + payload), CRC-32C of both, type,
// payload. A torn append fails the CRC and ends the log there.
func frame(typ byte, p []byte) []byte {
	out := make([]byte, 8, 9+len(p))
	out = append(out, typ)
	out = append(out, p...)
	binary.LittleEndian.PutUint32(out[0:], uint32(1+len(p)))
	binary.LittleEndian.PutUint32(out[4:], crc32.Checksum(out[8:], castagnoli))
	return out
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// open starts a framed record of type typ at the end of e.b (the frame()
// layout, length and CRC filled in by close) and returns its offset.
func (e *encoder) open(typ byte) int {
	start := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	return start
}

// close completes the record opened at start.
func (e *encoder) close(start int) []byte {
	rec := e.b[start:]
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-8))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], castagnoli))
	return e.b
}

// snapshot encodes the whole state as records, streamed to w through one
// reused record buffer: the snapshot of a large mailbox is never whole
// in memory.
func (s *state) snapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(encState(s))
	bw.Write(encKeywords(s.keywords))
	bw.Write(encDirs(s.dirs))
	var buf []byte
	for _, e := range s.expunged {
		buf = appendExpunge(buf[:0], e.uid, e.modseq)
		bw.Write(buf)
	}
	for _, uid := range s.sortedUIDs() {
		m := s.msgs[uid]
		buf = appendMessage(buf[:0], m)
		bw.Write(buf)
		for _, e := range m.cache { // sorted by field
			buf = appendCache(buf[:0], uid, e.field, e.data)
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// header is the first bytes of the snapshot and the log.
func header(gen uint64) []byte {
	b := make([]byte, headerLen)
	copy(b, indexMagic)
	binary.LittleEndian.PutUint32(b[8:], indexVer)
	binary.LittleEndian.PutUint64(b[12:], gen)
	return b
}

func parseHeader(b []byte) (gen uint64, err error) {
	if len(b) < headerLen || string(b[:8]) != indexMagic {
		return 0, errors.New("bad index header")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != indexVer {
		return 0, fmt.Errorf("index version %d, want %d", v, indexVer)
	}
	return binary.LittleEndian.Uint64(b[12:]), nil
}

// readRecords applies the records of b (after the header) to s and
// returns how many bytes were valid. A torn or corrupt record ends the
// scan: strict says whether that is an error (a snapshot must be whole;
// a log may end in a torn append).
func readRecords(s *state, b []byte, strict bool) (int, error) {
	off := 0
	for off < len(b) {
		if len(b)-off < 8 {
			break
		}
		n := int(binary.LittleEndian.Uint32(b[off:]))
		sum := binary.LittleEndian.Uint32(b[off+4:])
		if n < 1 || n > maxRecord || len(b)-off-8 < n {
			break
		}
		rec := b[off+8 : off+8+n]
		if crc32.Checksum(rec, castagnoli) != sum {
			break
		}
		if err := s.apply(rec[0], rec[1:]); err != nil {
			return off, err
		}
		off += 8 + n
	}
	if strict && off != len(b) {
		return off, fmt.Errorf("index corrupt at offset %d", off+headerLen)
	}
	return off, nil
}

// errCorrupt marks a snapshot that cannot be used (the index is then
// rebuilt), as opposed to an I/O error.
type errCorrupt struct{ err error }

func (e errCorrupt) Error() string { return e.err.Error() }

// loadSnapshot decodes the snapshot f record by record through one
// buffered reader and one reused record buffer: a large mailbox's
// snapshot is never whole in memory beside the state decoded from it.
func loadSnapshot(f io.Reader) (*state, uint64, error) {
	br := bufio.NewReaderSize(f, 1<<16)
	var fh [headerLen]byte
	if _, err := io.ReadFull(br, fh[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, 0, errCorrupt{errors.New("bad index header")}
		}
		return nil, 0, err
	}
	gen, err := parseHeader(fh[:])
	if err != nil {
		return nil, 0, errCorrupt{err}
	}
	st := newState()
	var rec []byte
	off := headerLen
	for {
		if _, err := io.ReadFull(br, fh[:8]); err != nil {
			if err == io.EOF {
				return st, gen, nil
			}
			if err == io.ErrUnexpectedEOF {
				return nil, 0, errCorrupt{fmt.Errorf("index corrupt at offset %d", off)}
			}
			return nil, 0, err
		}
		n := int(binary.LittleEndian.Uint32(fh[0:]))
		sum := binary.LittleEndian.Uint32(fh[4:])
		if n < 1 || n > maxRecord {
			return nil, 0, errCorrupt{fmt.Errorf("index corrupt at offset %d", off)}
		}
		if cap(rec) < n {
			rec = make([]byte, n)
		}
		rec = rec[:n]
		if _, err := io.ReadFull(br, rec); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, 0, errCorrupt{fmt.Errorf("index corrupt at offset %d", off)}
			}
			return nil, 0, err
		}
		if crc32.Checksum(rec, castagnoli) != sum {
			return nil, 0, errCorrupt{fmt.Errorf("index corrupt at offset %d", off)}
		}
		// apply copies what it keeps (strings, cache data) out of rec.
		if err := st.apply(rec[0], rec[1:]); err != nil {
			return nil, 0, errCorrupt{err}
		}
		off += 8 + n
	}
}

// writeSnapshot writes the snapshot of s with generation gen atomically:
// streamed through a buffer to a temporary file, fsynced, renamed.
func writeSnapshot(dir string, s *state, gen uint64) error {
	f, err := os.CreateTemp(dir, indexName+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(header(gen)); err != nil {
		f.Close()
		return err
	}
	if err := s.snapshot(f); err != nil {
		f.Close()
		return err
	}
	// The snapshot is an accelerator (a lost one costs a rebuild, never
	// mail), but a rename that reaches the disk before the data would
	// leave an empty snapshot in place of a good one, and with it a
	// rebuild of the whole mailbox on the next open.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, indexName))
}

type encoder struct{ b []byte }

func (e *encoder) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) str(v string)   { e.u32(uint32(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bytes(v []byte) { e.u32(uint32(len(v))); e.b = append(e.b, v...) }

type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("index record truncated")

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}
func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
func (d *decoder) str() string {
	n := d.u32()
	return string(d.take(int(n)))
}
func (d *decoder) bytes() []byte {
	n := d.u32()
	v := d.take(int(n))
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// cacheFields are a message's cache entries, sorted by field. A message
// has a few at most (the MIME tree, the preview, the header record,
// SORT's fields), so a slice costs tens of bytes per message where a map
// cost hundreds: a 100,000-message mailbox's index is held in memory.
type cacheFields []cacheEntry

type cacheEntry struct {
	field string
	data  []byte
}

func (c cacheFields) get(field string) ([]byte, bool) {
	for _, e := range c {
		if e.field == field {
			return e.data, true
		}
	}
	return nil, false
}

// set adds or replaces field's entry, keeping the order.
func (c *cacheFields) set(field string, data []byte) {
	i, found := slices.BinarySearchFunc(*c, field, func(e cacheEntry, f string) int { return strings.Compare(e.field, f) })
	if found {
		(*c)[i].data = data
		return
	}
	*c = slices.Insert(*c, i, cacheEntry{field, data})
}

// field reads a cache field name; the names the engines use are
// returned as constants, not allocated once per entry.
func (d *decoder) field() string {
	n := d.u32()
	b := d.take(int(n))
	switch string(b) {
	case storage.CacheStructure:
		return storage.CacheStructure
	case storage.CachePreview:
		return storage.CachePreview
	case storage.CacheHeaders:
		return storage.CacheHeaders
	case "imap.sorthdr1":
		return "imap.sorthdr1"
	}
	return string(b)
}
