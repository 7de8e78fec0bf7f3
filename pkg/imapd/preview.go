package imapd

import (
	"html"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/cote-mail/cote/pkg/message"
)

// RFC 8970 PREVIEW: the start of the message's first text part, decoded
// (transfer encoding, charset: decodedLeaf), quoted lines (">") left
// out, HTML reduced to its text, whitespace runs made one space, at most
// previewMax characters. Computed on first FETCH PREVIEW and kept in the
// store's per-message cache, so later fetches read it from there;
// delivery does not fill it (it would parse every message at save time
// for a preview few clients ask for). PREVIEW (LAZY) answers only from
// the cache and NIL otherwise, as Dovecot does: RFC 8970 §3.2 lets a
// client ask for the previews that are cheap at once and fetch the
// others without LAZY later.

// previewCacheField is the store cache field of the preview text.
const previewCacheField = "imap.preview1"

// previewMax is Dovecot's snippet length in characters; RFC 8970 §3.1
// allows up to 256.
const previewMax = 200

// preview returns the PREVIEW text of uid; with lazy, ok is false when
// it is not cached (the answer is NIL).
func (s *Session) preview(uid uint32, lazy bool) (text string, ok bool, err error) {
	if b, ok := s.mbox.Cache(uid, previewCacheField); ok {
		return string(b), true, nil
	}
	if lazy {
		return "", false, nil
	}
	m, err := s.loadMessage(uid)
	if err != nil {
		return "", false, err
	}
	p := previewText(m)
	// A cache write that fails only costs a recomputation next time.
	_ = s.mbox.SetCache(uid, previewCacheField, []byte(p))
	return p, true, nil
}

// previewText computes the preview of m.
func previewText(m *message.Message) string {
	p := firstTextPart(m.Root)
	if p == nil {
		return ""
	}
	text := decodedLeaf(m, p)
	if _, sub := p.MediaType(); strings.EqualFold(sub, "html") {
		text = htmlText(text)
	}
	var b strings.Builder
	n := 0
	space := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), ">") {
			continue // quoted text of a reply
		}
		for _, r := range strings.ToValidUTF8(line, "\uFFFD") {
			// ASCII white space and controls collapse; U+00A0 (an
			// HTML &nbsp;) stays, as in Dovecot's snippets.
			if r < 0x20 || r == ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				space = b.Len() > 0
				continue
			}
			if n >= previewMax {
				return b.String()
			}
			if space {
				if n+1 >= previewMax {
					return b.String()
				}
				b.WriteByte(' ')
				n++
				space = false
			}
			b.WriteRune(r)
			n++
		}
		space = b.Len() > 0
	}
	return b.String()
}

// firstTextPart is the first text/plain or text/html leaf, depth first,
// not looking inside attached messages. Like Dovecot it takes a text
// part with Content-Disposition: attachment too.
func firstTextPart(p *message.Part) *message.Part {
	if p.IsMultipart() {
		for _, c := range p.Children {
			if t := firstTextPart(c); t != nil {
				return t
			}
		}
		return nil
	}
	if p.IsMessage() {
		return nil
	}
	typ, sub := p.MediaType()
	if !strings.EqualFold(typ, "text") || !(strings.EqualFold(sub, "plain") || strings.EqualFold(sub, "html")) {
		return nil
	}
	return p
}

var (
	htmlDropRe = regexp.MustCompile(`(?is)<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->`)
	htmlTagRe  = regexp.MustCompile(`(?s)<[^>]*>`)
)

// htmlText is the text of an HTML body, simply: scripts, styles and
// comments dropped, tags made spaces, entities decoded. Dovecot's
// html2text differs in detail (where a tag gives a space).
func htmlText(s string) string {
	s = htmlDropRe.ReplaceAllString(s, " ")
	s = htmlTagRe.ReplaceAllString(s, " ")
	s = html.UnescapeString(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
