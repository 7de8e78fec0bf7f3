package imap

import (
	"strconv"
	"strings"

	"github.com/cote-mail/cote/pkg/message"
)

// This file renders pkg/message's structures as IMAP syntax exactly as
// Dovecot 2.3 does (src/lib-imap/imap-envelope.c, imap-bodystructure.c,
// imap-quote.c), byte for byte: clients cache ENVELOPE and BODYSTRUCTURE,
// so a server that replaces Dovecot must not change them. Dovecot's
// string rules differ from Writer.String's, hence the helpers below.

// appendQuotedOrLiteral is Dovecot's imap_append_nstring for a non-nil
// string: a quoted string unless it holds CR, LF, an 8-bit byte or more
// than four characters that need escaping, in which case a literal.
func appendQuotedOrLiteral(dst []byte, s string) []byte {
	escapes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			escapes++
			if escapes <= 4 {
				continue
			}
			return appendLiteral(dst, s)
		case c == '\r' || c == '\n' || c >= 0x80 || c == 0:
			return appendLiteral(dst, s)
		}
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

func appendLiteral(dst []byte, s string) []byte {
	dst = append(dst, '{')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, "}\r\n"...)
	return append(dst, s...)
}

// appendNStringNoLF is Dovecot's imap_append_nstring_nolf: CR and LF
// (header folding) are dropped, the white space after them kept.
func appendNStringNoLF(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "NIL"...)
	}
	v := *s
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", "", "\n", "").Replace(v)
	}
	return appendQuotedOrLiteral(dst, v)
}

// appendForHumans is Dovecot's imap_append_string_for_humans, used for
// the subject and display names: white space runs become one space,
// leading and trailing white space goes, NUL becomes 0x80. A string that
// needed any of that, or holds quote, backslash or 8-bit bytes, is sent as
// a literal; one that was only white space is "".
func appendForHumans(dst []byte, s string) []byte {
	modify := false
	remove := 0
	lastLWSP, wsPrefix := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLWSP(c) {
			wsPrefix = false
		}
		switch c {
		case 0:
			lastLWSP = false
			modify = true
		case '\t', '\r', '\n':
			// Always rewritten to a space.
			modify = true
			if lastLWSP {
				remove++
			}
			lastLWSP = true
		case ' ':
			if lastLWSP {
				modify = true
				remove++
			}
			lastLWSP = true
		case '"', '\\':
			modify = true
			lastLWSP = false
		default:
			if c >= 0x80 {
				modify = true
			}
			lastLWSP = false
		}
	}
	if lastLWSP && len(s) > 0 && !wsPrefix {
		modify = true
		remove++
	}
	if !modify {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	if len(s) == remove {
		return append(dst, `""`...)
	}
	var b []byte
	lastLWSP = true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b = append(b, 0x80)
			lastLWSP = false
		case ' ', '\t', '\r', '\n':
			if !lastLWSP {
				b = append(b, ' ')
			}
			lastLWSP = true
		default:
			b = append(b, c)
			lastLWSP = false
		}
	}
	if lastLWSP && len(b) > 0 {
		b = b[:len(b)-1]
	}
	return appendLiteral(dst, string(b))
}

func isLWSP(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// AppendEnvelope appends the ENVELOPE list of e (RFC 9051 §7.5.2).
func AppendEnvelope(dst []byte, e *message.Envelope) []byte {
	if e == nil {
		e = &message.Envelope{}
	}
	dst = append(dst, '(')
	dst = appendNStringNoLF(dst, e.Date)
	dst = append(dst, ' ')
	if e.Subject == nil {
		dst = append(dst, "NIL"...)
	} else {
		dst = appendForHumans(dst, *e.Subject)
	}
	for _, l := range [][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		dst = append(dst, ' ')
		dst = appendAddresses(dst, l)
	}
	dst = append(dst, ' ')
	dst = appendNStringNoLF(dst, e.InReplyTo)
	dst = append(dst, ' ')
	dst = appendNStringNoLF(dst, e.MessageID)
	return append(dst, ')')
}

func appendAddresses(dst []byte, l []message.Address) []byte {
	if len(l) == 0 {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	for _, a := range l {
		switch {
		case a.GroupEnd:
			dst = append(dst, "(NIL NIL NIL NIL)"...)
			continue
		case a.GroupStart:
			dst = append(dst, "(NIL NIL "...)
			dst = appendQuotedOrLiteral(dst, a.Mailbox)
			dst = append(dst, " NIL)"...)
			continue
		}
		dst = append(dst, '(')
		if a.Name == "" {
			dst = append(dst, "NIL"...)
		} else {
			dst = appendForHumans(dst, a.Name)
		}
		dst = append(dst, ' ')
		if a.Route == "" {
			dst = append(dst, "NIL"...)
		} else {
			dst = appendQuotedOrLiteral(dst, a.Route)
		}
		dst = append(dst, ' ')
		dst = appendQuotedOrLiteral(dst, a.Mailbox)
		dst = append(dst, ' ')
		dst = appendQuotedOrLiteral(dst, a.Domain)
		dst = append(dst, ')')
	}
	return append(dst, ')')
}

// Dovecot writes a multipart without body parts as holding one empty
// text/plain part (EMPTY_BODY and EMPTY_BODYSTRUCTURE in
// imap-bodystructure.c): RFC 2046 requires at least one.
const (
	emptyBody          = `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)`
	emptyBodyStructure = `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`
)

// AppendBodyStructure appends the BODYSTRUCTURE (extended true) or BODY
// (extended false) of the part p, usually a message's Root (RFC 9051
// §7.5.2).
func AppendBodyStructure(dst []byte, p *message.Part, extended bool) []byte {
	dst = append(dst, '(')
	if p.IsMultipart() {
		dst = appendMultipart(dst, p, extended)
	} else {
		dst = appendSinglePart(dst, p, extended)
	}
	return append(dst, ')')
}

func appendMultipart(dst []byte, p *message.Part, extended bool) []byte {
	if len(p.Children) == 0 {
		if extended {
			dst = append(dst, emptyBodyStructure...)
		} else {
			dst = append(dst, emptyBody...)
		}
	}
	for _, c := range p.Children {
		dst = AppendBodyStructure(dst, c, extended)
	}
	dst = append(dst, ' ')
	dst = appendQuotedOrLiteral(dst, p.Subtype)
	if !extended {
		return dst
	}
	dst = append(dst, ' ')
	dst = appendParams(dst, p.Params, false)
	return appendCommonExt(dst, p)
}

func appendSinglePart(dst []byte, p *message.Part, extended bool) []byte {
	text := false
	switch {
	case p.IsMessage():
		dst = append(dst, `"message" "rfc822"`...)
	case p.Flags&message.FlagDefaultType != 0:
		text = true
		dst = append(dst, `"text" "plain"`...)
	default:
		text = strings.EqualFold(p.Type, "text")
		dst = appendQuotedOrLiteral(dst, p.Type)
		dst = append(dst, ' ')
		dst = appendQuotedOrLiteral(dst, p.Subtype)
	}
	dst = append(dst, ' ')
	dst = appendParams(dst, p.Params, text)
	dst = append(dst, ' ')
	dst = appendNStringNoLF(dst, p.ID)
	dst = append(dst, ' ')
	dst = appendNStringNoLF(dst, p.Description)
	dst = append(dst, ' ')
	if p.Encoding != nil {
		dst = appendQuotedOrLiteral(dst, *p.Encoding)
	} else {
		dst = append(dst, `"7bit"`...)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, p.Body.Virtual, 10)
	switch {
	case text:
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Body.Lines, 10)
	case p.IsMessage():
		child := p.Children[0]
		dst = append(dst, ' ')
		dst = AppendEnvelope(dst, child.Envelope)
		dst = append(dst, ' ')
		dst = AppendBodyStructure(dst, child, extended)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Body.Lines, 10)
	}
	if !extended {
		return dst
	}
	dst = append(dst, ' ')
	dst = appendNStringNoLF(dst, p.MD5)
	return appendCommonExt(dst, p)
}

// appendParams writes a parameter list, NIL when empty; text parts get
// charset=us-ascii when they name no charset (RFC 2045 §5.2).
func appendParams(dst []byte, ps []message.Param, defaultCharset bool) []byte {
	if len(ps) == 0 && !defaultCharset {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	seenCharset := false
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ' ')
		}
		if strings.EqualFold(p.Name, "charset") {
			seenCharset = true
		}
		dst = appendQuotedOrLiteral(dst, p.Name)
		dst = append(dst, ' ')
		dst = appendQuotedOrLiteral(dst, p.Value)
	}
	if defaultCharset && !seenCharset {
		if len(ps) > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, `"charset" "us-ascii"`...)
	}
	return append(dst, ')')
}

// appendCommonExt writes disposition, language and location.
func appendCommonExt(dst []byte, p *message.Part) []byte {
	dst = append(dst, ' ')
	if p.Disposition == "" {
		dst = append(dst, "NIL"...)
	} else {
		dst = append(dst, '(')
		dst = appendQuotedOrLiteral(dst, p.Disposition)
		dst = append(dst, ' ')
		dst = appendParams(dst, p.DispositionParams, false)
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	if len(p.Language) == 0 {
		dst = append(dst, "NIL"...)
	} else {
		dst = append(dst, '(')
		for i, l := range p.Language {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendQuotedOrLiteral(dst, l)
		}
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	return appendNStringNoLF(dst, p.Location)
}

// Envelope writes the ENVELOPE of e.
func (w *Writer) Envelope(e *message.Envelope) {
	_, _ = w.bw.Write(AppendEnvelope(nil, e))
}

// BodyStructure writes BODYSTRUCTURE (extended) or BODY of p.
func (w *Writer) BodyStructure(p *message.Part, extended bool) {
	_, _ = w.bw.Write(AppendBodyStructure(nil, p, extended))
}
