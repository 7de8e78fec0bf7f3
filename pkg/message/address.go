package message

import "strings"

// Address is one entry of an address list as the IMAP ENVELOPE carries
// it (RFC 9051 §7.5.2): a mailbox, or a group marker. A group start has
// GroupStart set and the group's name in Mailbox; a group end has GroupEnd
// set and nothing else.
type Address struct {
	Name    string // display name ("" is NIL); raw, encoded words kept
	Route   string // obsolete source route "@a,@b" ("" is NIL)
	Mailbox string
	Domain  string

	GroupStart, GroupEnd bool
}

// Names Dovecot fills into an address it could not parse fully, so a
// client still sees every recipient (MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING).
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
	syntaxError    = "SYNTAX_ERROR"
)

// ParseAddressList parses an address-list header value tolerantly: an
// address it cannot make sense of is reported with MISSING_MAILBOX or
// MISSING_DOMAIN, the rest of the list still parses, and nothing is an
// error. The result is nil when the value holds no address at all.
func ParseAddressList(v string) []Address {
	l := &lexer{s: v}
	var out []Address
	for {
		l.skipCFWS()
		if l.eof() {
			break
		}
		switch l.peek() {
		case ',', ';':
			l.pos++
			continue
		}
		before := l.pos
		out = parseAddress(l, out, true)
		if l.pos == before {
			l.pos++ // never loop on a byte nobody consumes
		}
	}
	return out
}

// phrase reads a display name: words (atoms, quoted strings) and dots,
// joined by single spaces as Dovecot's rfc822_parse_phrase does.
func phrase(l *lexer) (string, bool) {
	var b strings.Builder
	any := false
	for {
		l.skipCFWS()
		if l.eof() {
			break
		}
		c := l.peek()
		var w string
		switch {
		case c == '"':
			w = l.quoted()
		case c == '.':
			l.pos++
			w = "."
		case isAtext(c):
			w, _ = l.atom()
		default:
			return b.String(), any
		}
		if any {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		any = true
	}
	return b.String(), any
}

// parseAddress parses one mailbox or group and appends it to out.
func parseAddress(l *lexer, out []Address, allowGroup bool) []Address {
	start := l.pos
	name, hasPhrase := phrase(l)
	l.skipCFWS()
	switch {
	case l.peek() == '<':
		l.pos++
		a := angleAddr(l)
		if hasPhrase {
			a.Name = name
		}
		return append(out, a)
	case l.peek() == ':' && allowGroup && hasPhrase:
		l.pos++
		out = append(out, Address{GroupStart: true, Mailbox: name})
		for {
			l.skipCFWS()
			if l.eof() {
				break
			}
			c := l.peek()
			if c == ';' {
				l.pos++
				break
			}
			if c == ',' {
				l.pos++
				continue
			}
			before := l.pos
			out = parseAddress(l, out, false)
			if l.pos == before {
				l.pos++
			}
		}
		return append(out, Address{GroupEnd: true})
	}
	// addr-spec, with a trailing comment as the display name.
	l.pos = start
	l.hasComment = false
	quotedLocal := l.peek() == '"'
	a, sawAt := addrSpec(l)
	l.skipCFWS()
	switch {
	case l.hasComment:
		a.Name = l.lastComment
	case !sawAt:
		// A word without "@domain": one bare atom is a mailbox, but
		// more words, or a quoted string, are a display name without
		// an address (Dovecot's parse_addr_spec).
		more, ok := phrase(l)
		switch {
		case ok:
			a.Name = a.Mailbox + " " + more
			a.Mailbox = missingMailbox
		case quotedLocal:
			a.Name = a.Mailbox
			a.Mailbox = missingMailbox
		}
	}
	skipToComma(l)
	return append(out, a)
}

// angleAddr parses after '<': an optional route, an addr-spec, '>'.
func angleAddr(l *lexer) Address {
	var a Address
	l.skipCFWS()
	if l.peek() == '@' {
		// obs-route: "@a,@b:"
		var b strings.Builder
		for l.peek() == '@' || l.peek() == ',' {
			c := l.peek()
			l.pos++
			b.WriteByte(c)
			if c == '@' {
				d, _ := l.dotAtom(false)
				b.WriteString(d)
			}
			l.skipCFWS()
		}
		if l.peek() == ':' {
			l.pos++
		}
		a.Route = strings.TrimRight(b.String(), ",")
	}
	s, _ := addrSpec(l)
	a.Mailbox, a.Domain = s.Mailbox, s.Domain
	l.skipCFWS()
	if i := strings.IndexByte(l.s[l.pos:], '>'); i >= 0 {
		l.pos += i + 1
	} else {
		l.pos = len(l.s)
	}
	return a
}

// addrSpec parses local-part "@" domain, filling what is missing; sawAt
// reports whether the "@" was there.
func addrSpec(l *lexer) (a Address, sawAt bool) {
	local, ok := l.dotAtom(true)
	if ok {
		a.Mailbox = local
	} else {
		a.Mailbox = missingMailbox
	}
	l.skipCFWS()
	if l.peek() != '@' {
		a.Domain = missingDomain
		return a, false
	}
	l.pos++
	l.skipCFWS()
	if l.peek() == '[' {
		a.Domain = l.domainLiteral()
		return a, true
	}
	d, ok := l.dotAtom(false)
	if !ok {
		// "user@" with nothing usable after the "@".
		d = syntaxError
	}
	a.Domain = d
	return a, true
}

// skipToComma drops whatever follows an address up to the next list
// separator, so garbage after one address does not eat the next.
func skipToComma(l *lexer) {
	for !l.eof() {
		l.skipCFWS()
		if l.eof() {
			return
		}
		switch l.peek() {
		case ',', ';':
			return
		case '"':
			l.quoted()
		default:
			l.pos++
		}
	}
}
