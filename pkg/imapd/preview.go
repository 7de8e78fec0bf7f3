package imapd

import (
	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/storage"
)

// RFC 8970 PREVIEW: message.Preview's text, kept in the store's
// per-message cache (storage.CachePreview). The maildir driver fills it
// when it saves a message it parses (up to storage.MaxParseAtSave; the
// imap, lmtp and deliver processes give it pkg/message/charset's decoder, so
// every charset is converted at save); otherwise (a larger message, one
// saved by Dovecot or an older cote) the first FETCH PREVIEW computes and
// stores it, so later fetches read it from there. PREVIEW
// (LAZY) answers only from the cache and NIL otherwise, as Dovecot does:
// RFC 8970 §3.2 lets a client ask for the previews that are cheap at once
// and fetch the others without LAZY later.

// preview returns the PREVIEW text of uid; with lazy, ok is false when
// it is not cached (the answer is NIL).
func (s *Session) preview(uid uint32, lazy bool) (text string, ok bool, err error) {
	if b, ok := s.mbox.Cache(uid, storage.CachePreview); ok {
		return string(b), true, nil
	}
	if lazy {
		return "", false, nil
	}
	m, release, err := s.loadMessage(uid)
	if err != nil {
		return "", false, err
	}
	p := previewText(m)
	release()
	// A cache write that fails only costs a recomputation next time.
	_ = s.mbox.SetCache(uid, storage.CachePreview, []byte(p))
	return p, true, nil
}

// previewText computes the preview of m, converting charsets as SEARCH
// does.
func previewText(m *message.Message) string {
	p, _ := message.Preview(m, charset.Decode) // with a decoder it always answers
	return p
}
