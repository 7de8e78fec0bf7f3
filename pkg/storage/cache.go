package storage

import (
	"github.com/cote-mail/cote/pkg/message"
)

// CacheStructure is the cache field (Mailbox.Cache) that holds a
// message's MIME part tree in message.Part.MarshalBinary form: offsets,
// sizes, line counts, the MIME fields and the ENVELOPE, so FETCH BODY,
// BODYSTRUCTURE, ENVELOPE and sections never parse MIME again. Drivers
// write it when they save a message (delivery, APPEND, COPY keeps the
// source's); LoadMessage repairs a missing or corrupt entry.
const CacheStructure = "mime"

// MaxParseAtSave is the largest message a driver parses while saving it
// (the message is held in memory for that); a larger one is parsed on its
// first LoadMessage, which must read it whole anyway.
const MaxParseAtSave = 32 << 20

// CachePreview is the cache field that holds a message's RFC 8970
// PREVIEW text (message.Preview), UTF-8. Drivers write it next to
// CacheStructure for a message they parse at save (COPY keeps the
// source's); when the preview needs a charset the saving process cannot
// decode, the IMAP engine computes and stores it on the first FETCH
// PREVIEW instead.
const CachePreview = "imap.preview1"

// StructureOf parses raw and returns its tree in cache form.
func StructureOf(raw []byte) []byte {
	data, _ := message.Parse(raw).Root.MarshalBinary()
	return data
}

// ParseAtSave parses raw once and returns what a driver caches for it at
// save: the tree in CacheStructure form and the CachePreview text. decode
// converts the text part's charset (the processes that save mail, imap,
// lmtp and deliver, pass pkg/message/charset's); preview is nil when the
// part needs a conversion decode cannot make, or decode is nil (the IMAP
// engine fills it on first use).
func ParseAtSave(raw []byte, decode message.CharsetDecoder) (tree, preview []byte) {
	m := message.Parse(raw)
	tree, _ = m.Root.MarshalBinary()
	if p, ok := message.Preview(m, decode); ok {
		preview = []byte(p)
	}
	return tree, preview
}

// LoadMessage reads message uid of mb with its part tree: from the cache
// when the cached tree decodes and fits the message, else parsed, and the
// cache repaired (a repair that fails costs a parse next time, nothing
// else, so its error is not returned). The message's bytes come from
// ReadBody: release must be called once m.Raw and its slices are no longer
// used (the tree and the strings it holds stay valid).
func LoadMessage(mb Mailbox, uid uint32) (m *message.Message, release func(), err error) {
	b, err := mb.Open(uid)
	if err != nil {
		return nil, nil, err
	}
	raw, release, err := ReadBody(b)
	b.Close()
	if err != nil {
		return nil, nil, Errorf("fetch", mb.Name(), ErrTemporary, err)
	}
	if data, ok := mb.Cache(uid, CacheStructure); ok {
		var root message.Part
		if root.UnmarshalBinary(data) == nil {
			if m, err := message.New(raw, &root); err == nil {
				return m, release, nil
			}
		}
	}
	m = message.Parse(raw)
	if data, err := m.Root.MarshalBinary(); err == nil {
		mb.SetCache(uid, CacheStructure, data)
	}
	return m, release, nil
}
