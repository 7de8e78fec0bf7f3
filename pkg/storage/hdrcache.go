package storage

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/cote-mail/cote/pkg/message"
)

// CacheHeaders is the cache field holding raw header fields of a message
// (HeaderCache.MarshalBinary form): every occurrence of each field name
// the record covers, value as written (folded, encoded-words kept), so
// SEARCH SUBJECT, FROM, TO, CC, BCC, HEADER and SENT* answer without
// opening the message file. Drivers write it at save for CachedHeaderNames
// (COPY keeps the source's); a search that has to read a message's header
// stores a record covering the names it asked for too, as Dovecot adds a
// field to dovecot.index.cache the first time a client needs it.
const CacheHeaders = "hdr1"

// CachedHeaderNames are the fields cached at save: those ENVELOPE, the
// SEARCH header keys and SORT/THREAD read, lower-case. A record refers to
// them by index, so the list is part of the record format: it may only
// grow at its end.
var CachedHeaderNames = []string{
	"bcc", "cc", "date", "from", "in-reply-to", "message-id",
	"references", "reply-to", "sender", "subject", "to",
}

// maxHeaderCache bounds a record: a message whose covered fields are
// larger is not cached (its searches read the file), so one message with
// a huge header cannot bloat an index every session of the mailbox loads.
const maxHeaderCache = 64 << 10

// HeaderCache is a decoded CacheHeaders record.
type HeaderCache struct {
	std    uint64   // bit i: CachedHeaderNames[i] is covered
	extra  []string // other covered names, lower-case, sorted, unique
	fields []message.Field
}

// NewHeaderCache keeps the fields of header whose names are among names
// (any case), covering all of names: a covered name without a field is
// known to be absent. ok is false when the record would be too large to
// cache.
func NewHeaderCache(header []message.Field, names []string) (hc *HeaderCache, ok bool) {
	hc = &HeaderCache{}
	for _, n := range names {
		n = strings.ToLower(n)
		if i := slices.Index(CachedHeaderNames, n); i >= 0 {
			hc.std |= 1 << i
		} else if n != "" {
			hc.extra = append(hc.extra, n)
		}
	}
	slices.Sort(hc.extra)
	hc.extra = slices.Compact(hc.extra)
	size := 0
	for _, n := range hc.extra {
		size += len(n)
	}
	for _, f := range header {
		if name, ok := hc.covered(f.Name); ok {
			hc.fields = append(hc.fields, message.Field{Name: name, Value: f.Value})
			size += len(f.Value)
		}
	}
	return hc, size <= maxHeaderCache
}

// HeaderCacheOf reads the header at the start of raw and returns its
// CacheHeaders record for CachedHeaderNames, nil when it is too large.
func HeaderCacheOf(raw []byte) []byte {
	hc, ok := NewHeaderCache(message.Header(raw, 0), CachedHeaderNames)
	if !ok {
		return nil
	}
	data, _ := hc.MarshalBinary()
	return data
}

// Covers reports whether the record holds every field named name (any
// case).
func (hc *HeaderCache) Covers(name string) bool {
	_, ok := hc.covered(name)
	return ok
}

// covered returns the covered name (lower-case) equal to name in any
// case.
func (hc *HeaderCache) covered(name string) (string, bool) {
	for i, n := range CachedHeaderNames {
		if hc.std&(1<<i) != 0 && len(n) == len(name) && strings.EqualFold(n, name) {
			return n, true
		}
	}
	for _, n := range hc.extra {
		if len(n) == len(name) && strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

// Names returns the covered names, lower-case.
func (hc *HeaderCache) Names() []string {
	var out []string
	for i, n := range CachedHeaderNames {
		if hc.std&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return append(out, hc.extra...)
}

// Fields returns the covered fields in header order, each named by its
// covered name in lower case; Start and End are zero (the record does
// not know where they are in the message).
func (hc *HeaderCache) Fields() []message.Field { return hc.fields }

const (
	hcMagic   = "CHd"
	hcVersion = 1
)

var errHeaderCache = errors.New("corrupt header cache record")

// MarshalBinary encodes the record: magic and version, the covered names
// (a bit set of CachedHeaderNames, then the others), each field as the
// index of its name in that order and its value, and a CRC-32 of all
// that.
func (hc *HeaderCache) MarshalBinary() ([]byte, error) {
	b := append([]byte(hcMagic), hcVersion)
	b = binary.AppendUvarint(b, hc.std)
	b = binary.AppendUvarint(b, uint64(len(hc.extra)))
	for _, n := range hc.extra {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	b = binary.AppendUvarint(b, uint64(len(hc.fields)))
	for _, f := range hc.fields {
		ref := slices.Index(CachedHeaderNames, f.Name)
		if ref < 0 {
			ref = len(CachedHeaderNames) + slices.Index(hc.extra, f.Name)
		}
		b = binary.AppendUvarint(b, uint64(ref))
		b = binary.AppendUvarint(b, uint64(len(f.Value)))
		b = append(b, f.Value...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// UnmarshalBinary decodes a record written by MarshalBinary. Anything
// else (a bad checksum, an unknown name bit, names out of order or not
// lower-case, a field whose name is not covered, trailing bytes) is an
// error: a record that does not decode exactly is ignored, never trusted.
func (hc *HeaderCache) UnmarshalBinary(data []byte) error {
	if len(data) < len(hcMagic)+1+4 || string(data[:len(hcMagic)]) != hcMagic || data[len(hcMagic)] != hcVersion {
		return errHeaderCache
	}
	body, sum := data[:len(data)-4], data[len(data)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return errHeaderCache
	}
	// One string holds every name and value: a search decodes a record
	// per message, and one allocation per field was most of its cost.
	d := hcDecoder{b: string(body[len(hcMagic)+1:])}
	out := HeaderCache{std: d.uvarint()}
	if out.std>>len(CachedHeaderNames) != 0 {
		return errHeaderCache
	}
	n := d.count()
	if n > 0 {
		out.extra = make([]string, 0, n)
	}
	for range n {
		name := d.str()
		if d.err != nil || name == "" || strings.ToLower(name) != name || slices.Contains(CachedHeaderNames, name) ||
			(len(out.extra) > 0 && out.extra[len(out.extra)-1] >= name) {
			return errHeaderCache
		}
		out.extra = append(out.extra, name)
	}
	n = d.count()
	out.fields = make([]message.Field, 0, n)
	for range n {
		ref, v := d.uvarint(), d.str()
		var name string
		switch {
		case d.err != nil:
			return errHeaderCache
		case ref < uint64(len(CachedHeaderNames)) && out.std&(1<<ref) != 0:
			name = CachedHeaderNames[ref]
		case ref >= uint64(len(CachedHeaderNames)) && ref-uint64(len(CachedHeaderNames)) < uint64(len(out.extra)):
			name = out.extra[ref-uint64(len(CachedHeaderNames))]
		default:
			return errHeaderCache
		}
		out.fields = append(out.fields, message.Field{Name: name, Value: v})
	}
	if d.err != nil || len(d.b) != 0 {
		return errHeaderCache
	}
	*hc = out
	return nil
}

type hcDecoder struct {
	b   string
	err error
}

func (d *hcDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	k := 0
	for shift := uint(0); ; shift += 7 {
		if k >= len(d.b) || shift > 63 {
			d.err = errHeaderCache
			return 0
		}
		c := d.b[k]
		k++
		if shift == 63 && c > 1 {
			d.err = errHeaderCache
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if k > 1 && d.b[k-1] == 0 {
		// binary.Uvarint accepts a padded encoding; AppendUvarint
		// never writes one, so it is corruption.
		d.err = errHeaderCache
		return 0
	}
	d.b = d.b[k:]
	return v
}

// count reads a count, bounded by the bytes left (each item takes at
// least one), so a corrupt count cannot make the loops run long.
func (d *hcDecoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errHeaderCache
		return 0
	}
	return n
}

func (d *hcDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errHeaderCache
		return ""
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

// CachedHeaders returns the CacheHeaders record of message uid when it
// has one that decodes.
func CachedHeaders(mb Mailbox, uid uint32) (*HeaderCache, bool) {
	data, ok := mb.Cache(uid, CacheHeaders)
	if !ok {
		return nil, false
	}
	hc := new(HeaderCache)
	if hc.UnmarshalBinary(data) != nil {
		return nil, false
	}
	return hc, true
}

// CacheEntry is one cache datum to store (CacheBatcher).
type CacheEntry struct {
	UID   uint32
	Field string
	Data  []byte
}

// CacheBatcher is implemented by mailboxes that store many cache entries
// in one index write (a search filling the cache of every message it
// read); entries of messages expunged meanwhile are dropped.
type CacheBatcher interface {
	SetCacheBatch(entries []CacheEntry) error
}

// SetCaches stores entries in mb, in one write when mb is a
// CacheBatcher.
func SetCaches(mb Mailbox, entries []CacheEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if cb, ok := mb.(CacheBatcher); ok {
		return cb.SetCacheBatch(entries)
	}
	for _, e := range entries {
		if err := mb.SetCache(e.UID, e.Field, e.Data); err != nil {
			return err
		}
	}
	return nil
}
