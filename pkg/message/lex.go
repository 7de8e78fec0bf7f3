package message

import "strings"

// lexer walks an RFC 5322 structured header value the way Dovecot's
// rfc822-parser does: comments and folding white space are skipped
// between tokens, 8-bit bytes count as atom text (RFC 6532), and nothing
// is ever an error that stops the walk — a caller that finds an
// unexpected byte skips it and goes on.
type lexer struct {
	s           string
	pos         int
	lastComment string
	hasComment  bool
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isAtext is RFC 5322's atext plus 8-bit bytes.
func isAtext(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if c <= ' ' || c == 0x7f {
		return false
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '.', '[', ']':
		return false
	}
	return true
}

// isTokenChar is RFC 2045's token: any CHAR except SPACE, CTLs and
// tspecials.
func isTokenChar(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if c <= ' ' || c == 0x7f {
		return false
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=':
		return false
	}
	return true
}

func (l *lexer) eof() bool { return l.pos >= len(l.s) }

func (l *lexer) peek() byte {
	if l.pos >= len(l.s) {
		return 0
	}
	return l.s[l.pos]
}

// skipCFWS skips white space and (nested) comments, remembering the text
// of the last comment: Dovecot uses it as the display name of an address
// written "user@host (Name)".
func (l *lexer) skipCFWS() {
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		if isWSP(c) {
			l.pos++
			continue
		}
		if c != '(' {
			return
		}
		l.pos++
		depth := 1
		var b strings.Builder
		for l.pos < len(l.s) && depth > 0 {
			c := l.s[l.pos]
			l.pos++
			switch c {
			case '\\':
				if l.pos < len(l.s) {
					b.WriteByte(l.s[l.pos])
					l.pos++
				}
				continue
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					continue
				}
			case '\r', '\n':
				continue
			}
			b.WriteByte(c)
		}
		l.lastComment = b.String()
		l.hasComment = true
	}
}

// atom reads 1*atext (no dots).
func (l *lexer) atom() (string, bool) {
	start := l.pos
	for l.pos < len(l.s) && isAtext(l.s[l.pos]) {
		l.pos++
	}
	return l.s[start:l.pos], l.pos > start
}

// token reads an RFC 2045 token.
func (l *lexer) token() (string, bool) {
	start := l.pos
	for l.pos < len(l.s) && isTokenChar(l.s[l.pos]) {
		l.pos++
	}
	return l.s[start:l.pos], l.pos > start
}

// quoted reads a quoted string at '"', unescaping it and dropping CR and
// LF (folding inside the quotes). An unterminated string runs to the end.
func (l *lexer) quoted() string {
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		l.pos++
		switch c {
		case '"':
			return b.String()
		case '\\':
			if l.pos < len(l.s) {
				b.WriteByte(l.s[l.pos])
				l.pos++
			}
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// word reads an atom or a quoted string.
func (l *lexer) word() (string, bool) {
	if l.peek() == '"' {
		return l.quoted(), true
	}
	return l.atom()
}

// dotAtom reads words separated by dots, as the local part and domain
// of obsolete and modern addresses allow ("a . b" is "a.b"). Quoted
// strings are unquoted, as Dovecot reports them (`"a b"@x` is the
// mailbox "a b").
func (l *lexer) dotAtom(allowQuoted bool) (string, bool) {
	var b strings.Builder
	any := false
	for {
		l.skipCFWS()
		if l.peek() == '"' && allowQuoted {
			b.WriteString(l.quoted())
			any = true
		} else if a, ok := l.atom(); ok {
			b.WriteString(a)
			any = true
		} else {
			break
		}
		save := l.pos
		l.skipCFWS()
		if l.peek() != '.' {
			l.pos = save
			break
		}
		l.pos++
		b.WriteByte('.')
	}
	return b.String(), any
}

// domainLiteral reads "[...]" at '[' and returns it with the brackets.
func (l *lexer) domainLiteral() string {
	start := l.pos
	l.pos++
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		l.pos++
		if c == '\\' && l.pos < len(l.s) {
			l.pos++
			continue
		}
		if c == ']' {
			break
		}
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(l.s[start:l.pos])
}
