package imapd

import (
	"slices"
	"strings"

	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

// Header keys of SEARCH (SUBJECT, FROM, TO, CC, BCC, HEADER, SENT*)
// answer from the message's storage.CacheHeaders record when it covers
// the field asked for, so a search opens no message file. Messages saved
// by cote have a record from their save; for the others (files another
// program put there, an index rebuilt) the first search that reads a
// header stores a record covering the fields it asked for, as Dovecot's
// index-search adds a header to dovecot.index.cache on first use: the
// next search reads no file. Matching is the same either way: the record
// holds the raw field values the file has.

// searchHeaderCache is what one message's evaluation knows of its cached
// header fields.
type searchHeaderCache struct {
	fill   *headerFill
	looked bool
	rec    *storage.HeaderCache // nil: none, or corrupt (ignored)
}

// fieldsFor returns header fields holding every field named name (other
// fields may be there too; callers match the name): the cached record's
// when it covers name, else the header read from the message, whose
// record is then queued for the cache. name "" (TEXT) wants them all.
func (sm *searchMsg) fieldsFor(name string) []message.Field {
	if name == "" || sm.hdr != nil {
		return sm.header()
	}
	c := &sm.hc
	if !c.looked {
		c.looked = true
		c.rec, _ = storage.CachedHeaders(sm.s.mbox, sm.m.UID)
	}
	if c.rec != nil && c.rec.Covers(name) {
		return c.rec.Fields()
	}
	h := sm.header()
	if h != nil && c.fill != nil {
		c.fill.add(sm.m.UID, h, c.rec)
	}
	return h
}

// headerFill collects the CacheHeaders records a search makes and stores
// them in batches (storage.SetCaches: one index write per batch).
type headerFill struct {
	s       *Session
	names   []string // what a record covers at least
	pending []storage.CacheEntry
	size    int
}

// fillBatch is how many bytes of records a search holds before storing
// them.
const fillBatch = 1 << 20

// newHeaderFill returns the filler of a search program: its records cover
// storage.CachedHeaderNames and every field the program names.
func (s *Session) newHeaderFill(prog *searchKey) *headerFill {
	names := slices.Clone(storage.CachedHeaderNames)
	var walk func(k *searchKey)
	walk = func(k *searchKey) {
		switch k.op {
		case "HEADER":
			if k.str != "" {
				names = append(names, strings.ToLower(k.str))
			}
		}
		for _, kid := range k.kids {
			walk(kid)
		}
	}
	walk(prog)
	return &headerFill{s: s, names: names}
}

// add queues the record of message uid made from its header h, covering
// also what its old record covered.
func (f *headerFill) add(uid uint32, h []message.Field, old *storage.HeaderCache) {
	names := f.names
	if old != nil {
		names = append(old.Names(), names...)
	}
	hc, ok := storage.NewHeaderCache(h, names)
	if !ok {
		return
	}
	data, err := hc.MarshalBinary()
	if err != nil {
		return
	}
	f.pending = append(f.pending, storage.CacheEntry{UID: uid, Field: storage.CacheHeaders, Data: data})
	f.size += len(data)
	if f.size >= fillBatch {
		f.flush()
	}
}

// flush stores the queued records. A failure costs a file read on the
// next search, nothing else, so it is only logged.
func (f *headerFill) flush() {
	if f == nil || len(f.pending) == 0 {
		return
	}
	if err := storage.SetCaches(f.s.mbox, f.pending); err != nil {
		f.s.log.Debug("caching header fields failed", zapErr(err))
	}
	f.pending, f.size = nil, 0
}

// sortFieldsCached returns the cached header fields of message uid when
// they cover every field SORT and THREAD read (sortHeaderNames).
func sortFieldsCached(mb storage.Mailbox, uid uint32) ([]message.Field, bool) {
	hc, ok := storage.CachedHeaders(mb, uid)
	if !ok {
		return nil, false
	}
	for _, n := range sortHeaderNames {
		if !hc.Covers(n) {
			return nil, false
		}
	}
	return hc.Fields(), true
}
