package message

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"unicode/utf8"
)

// CharsetDecoder converts s from the named charset to UTF-8; an unknown
// charset is an error. pkg/message/charset.Decode is one: this package takes
// it as a parameter because the charset tables must not be linked into
// every binary that links this package.
type CharsetDecoder func(charset, s string) (string, error)

// PreviewMax is the longest preview in characters: Dovecot's snippet
// length (RFC 8970 §3.1 allows up to 256).
const PreviewMax = 200

// Preview is the RFC 8970 PREVIEW text of m as Dovecot 2.3 computes it:
// the start of the first text/plain or text/html part, decoded
// (DecodedText), quoted lines (">") left out, HTML reduced to its text,
// white space runs made one space, at most PreviewMax characters. ok is
// false only when that part's charset needs decode and decode is nil: the
// caller then has no answer (a store saving the message leaves the
// preview to be computed later by a process that links the charsets).
func Preview(m *Message, decode CharsetDecoder) (text string, ok bool) {
	p := firstTextPart(m.Root)
	if p == nil {
		return "", true
	}
	text, ok = DecodedText(m, p, decode)
	if !ok {
		return "", false
	}
	if _, sub := p.MediaType(); sub == "html" {
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
			if n >= PreviewMax {
				return b.String(), true
			}
			if space {
				if n+1 >= PreviewMax {
					return b.String(), true
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
	return b.String(), true
}

// DecodedText is the text of leaf part p as IMAP SEARCH BODY and PREVIEW
// see it: the transfer encoding undone, then the charset named by
// Content-Type converted to UTF-8 by decode. Content that cannot be
// decoded is taken as stored, and a charset decode does not know leaves
// the bytes as they are, as Dovecot's message decoder does. ok is false
// when a text part names a charset other than US-ASCII or UTF-8 and
// decode is nil.
func DecodedText(m *Message, p *Part, decode CharsetDecoder) (text string, ok bool) {
	o := p.BodyOffset()
	body := m.Raw[o : o+p.Body.Physical]
fields:
	for _, f := range m.PartHeader(p) {
		if !strings.EqualFold(f.Name, "Content-Transfer-Encoding") {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(f.Value)) {
		case "base64":
			clean := make([]byte, 0, len(body))
			for _, c := range body {
				if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
					clean = append(clean, c)
				}
			}
			if i := bytes.IndexByte(clean, '='); i >= 0 {
				// Data after the padding is ignored.
				clean = bytes.TrimRight(clean[:i], "=")
			}
			if d, err := base64.RawStdEncoding.DecodeString(string(clean)); err == nil {
				body = d
			}
		case "quoted-printable":
			if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil {
				body = d
			}
		}
		break fields
	}
	cs := ""
	for _, prm := range p.Params {
		if strings.EqualFold(prm.Name, "charset") {
			cs = strings.TrimSpace(prm.Value)
		}
	}
	typ, _ := p.MediaType()
	switch strings.ToLower(cs) {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
	default:
		if typ == "text" {
			if decode == nil {
				return "", false
			}
			if d, err := decode(cs, string(body)); err == nil {
				return d, true
			}
		}
	}
	return string(body), true
}

// firstTextPart is the first text/plain or text/html leaf, depth first,
// not looking inside attached messages. Like Dovecot it takes a text
// part with Content-Disposition: attachment too.
func firstTextPart(p *Part) *Part {
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
	if typ, sub := p.MediaType(); typ != "text" || (sub != "plain" && sub != "html") {
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
