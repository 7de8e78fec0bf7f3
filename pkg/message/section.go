package message

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Specifier is the text part of a section (RFC 3501 §6.4.5).
type Specifier uint8

// Section specifiers.
const (
	SpecNone            Specifier = iota // BODY[] or BODY[1.2]: the whole part
	SpecHeader                           // HEADER
	SpecHeaderFields                     // HEADER.FIELDS (...)
	SpecHeaderFieldsNot                  // HEADER.FIELDS.NOT (...)
	SpecText                             // TEXT
	SpecMIME                             // MIME (needs a part number)
)

var specNames = [...]string{"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"}

// Section is a parsed BODY[...] or BINARY[...] section.
type Section struct {
	// Path holds the part numbers ("1.2.3" is [1 2 3]); empty means the
	// whole message.
	Path      []int
	Specifier Specifier
	// Fields are the header field names of HEADER.FIELDS(.NOT), as
	// written by the client.
	Fields []string
}

// Limits of ParseSection, far beyond any real client, that keep a hostile
// FETCH cheap.
const (
	// MaxSectionDepth: part numbers nest no deeper than the MIME tree
	// (MaxNesting) plus the one "1" a leaf accepts.
	MaxSectionDepth = MaxNesting + 1
	// maxPartNumber: no tree has more parts than MaxParts.
	maxPartNumber = MaxParts
)

// ErrSection is returned for a section the IMAP grammar does not allow;
// the protocol answers BAD.
var ErrSection = errors.New("message: invalid section")

// ParseSection parses the text between the brackets of BODY[...] or
// BINARY[...]: "", "1.2", "HEADER", "1.HEADER.FIELDS (From To)",
// "2.MIME", "TEXT".
func ParseSection(s string) (Section, error) {
	var sec Section
	rest := s
	for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > maxPartNumber || len(sec.Path) >= MaxSectionDepth {
			return Section{}, ErrSection
		}
		sec.Path = append(sec.Path, n)
		rest = rest[i:]
		if rest == "" {
			return sec, nil
		}
		if rest[0] != '.' {
			return Section{}, ErrSection
		}
		rest = rest[1:]
		if rest == "" {
			return Section{}, ErrSection
		}
	}
	if rest == "" {
		return sec, nil
	}
	name, args, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(name) {
	case "HEADER":
		sec.Specifier = SpecHeader
	case "TEXT":
		sec.Specifier = SpecText
	case "MIME":
		if len(sec.Path) == 0 {
			return Section{}, ErrSection
		}
		sec.Specifier = SpecMIME
	case "HEADER.FIELDS":
		sec.Specifier = SpecHeaderFields
	case "HEADER.FIELDS.NOT":
		sec.Specifier = SpecHeaderFieldsNot
	default:
		return Section{}, ErrSection
	}
	if sec.Specifier != SpecHeaderFields && sec.Specifier != SpecHeaderFieldsNot {
		if strings.Contains(rest, " ") {
			return Section{}, ErrSection
		}
		return sec, nil
	}
	fields, err := parseFieldList(args)
	if err != nil {
		return Section{}, err
	}
	sec.Fields = fields
	return sec, nil
}

// parseFieldList parses "(name name ...)": astrings (RFC 9051 §9
// header-list), at least one.
func parseFieldList(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, ErrSection
	}
	s = s[1 : len(s)-1]
	var out []string
	for len(s) > 0 {
		switch {
		case s[0] == ' ':
			s = s[1:]
			continue
		case s[0] == '"':
			v, n, ok := quotedString(s)
			if !ok {
				return nil, ErrSection
			}
			out = append(out, v)
			s = s[n:]
		default:
			i := 0
			for i < len(s) && s[i] != ' ' {
				c := s[i]
				if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
					return nil, ErrSection
				}
				i++
			}
			out = append(out, s[:i])
			s = s[i:]
		}
		if len(s) > 0 && s[0] != ' ' {
			return nil, ErrSection
		}
	}
	if len(out) == 0 {
		return nil, ErrSection
	}
	return out, nil
}

// quotedString reads an IMAP quoted string (RFC 9051 §9: no CR, LF or
// 8-bit, "\" escapes only '"' and "\") at the start of s, returning its
// value and length.
func quotedString(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\':
			i++
			if i >= len(s) || (s[i] != '"' && s[i] != '\\') {
				return "", 0, false
			}
			b.WriteByte(s[i])
		case c == '\r' || c == '\n' || c == 0 || c >= 0x80:
			return "", 0, false
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// fieldAtom reports whether a field name can be written as an atom.
func fieldAtom(f string) bool {
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// String renders the section as Dovecot echoes it in a FETCH response:
// specifiers and field names upper-cased.
func (s Section) String() string {
	var b strings.Builder
	for i, n := range s.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if s.Specifier != SpecNone {
		if len(s.Path) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(specNames[s.Specifier])
	}
	if len(s.Fields) > 0 {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			if fieldAtom(f) {
				b.WriteString(strings.ToUpper(f))
				continue
			}
			b.WriteByte('"')
			for j := 0; j < len(f); j++ {
				if f[j] == '"' || f[j] == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(f[j])
			}
			b.WriteByte('"')
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Locate finds the part a section path names, the way Dovecot walks
// it: in a multipart a number picks a body part (0 is taken as 1), in a
// message/rfc822 part it applies to the embedded message, and a leaf
// accepts one "1" for itself. ok is false for a part that does not exist.
func (m *Message) Locate(path []int) (p *Part, ok bool) {
	p = m.Root
	used := false
	for i, n := range path {
		if i == 0 && !p.IsMultipart() {
			if n != 1 {
				return nil, false
			}
			// "1" of a single-part message is its body; a top-level
			// message/rfc822 is then entered by the next number.
			used = !p.IsMessage()
			continue
		}
		if p.IsMessage() && !used {
			p = p.Children[0]
			if !p.IsMultipart() {
				if n != 1 {
					return nil, false
				}
				used = true
				continue
			}
		}
		switch {
		case p.IsMultipart():
			if n < 1 {
				n = 1
			}
			if n > len(p.Children) {
				return nil, false
			}
			p = p.Children[n-1]
			used = false
		case used || n != 1:
			return nil, false
		default:
			used = true
		}
	}
	return p, true
}

// Fetch returns the content of BODY[section], with every line end as
// CRLF and NUL as 0x80. A section that does not exist is empty, as Dovecot answers it.
func (m *Message) Fetch(s Section) []byte {
	p, ok := m.Locate(s.Path)
	if !ok {
		return nil
	}
	if len(s.Path) > 0 {
		switch s.Specifier {
		case SpecNone:
			return text(m.body(p))
		case SpecMIME:
			return text(m.header(p))
		}
		// HEADER, TEXT and HEADER.FIELDS apply to an embedded message.
		if !p.IsMessage() {
			return nil
		}
		p = p.Children[0]
	}
	switch s.Specifier {
	case SpecNone:
		return text(m.Raw)
	case SpecHeader:
		return text(m.header(p))
	case SpecText:
		return text(m.body(p))
	case SpecHeaderFields, SpecHeaderFieldsNot:
		return text(m.headerFields(p, s.Fields, s.Specifier == SpecHeaderFieldsNot))
	}
	return nil
}

// text prepares content for BODY[]: CRLF line ends, and NUL bytes as
// 0x80, because a NUL cannot travel in an IMAP literal (RFC 9051 §4.3);
// Dovecot substitutes the same byte, keeping sizes unchanged.
func text(b []byte) []byte {
	b = crlf(b)
	if bytes.IndexByte(b, 0) < 0 {
		return b
	}
	out := bytes.Clone(b)
	for i, c := range out {
		if c == 0 {
			out[i] = 0x80
		}
	}
	return out
}

func (m *Message) header(p *Part) []byte {
	return m.Raw[p.Offset : p.Offset+p.Header.Physical]
}

func (m *Message) body(p *Part) []byte {
	o := p.BodyOffset()
	return m.Raw[o : o+p.Body.Physical]
}

// headerFields keeps (or, with not, drops) the named fields, each with
// its folded lines, and ends the result with a blank line.
func (m *Message) headerFields(p *Part, names []string, not bool) []byte {
	end := p.Offset + p.Header.Physical
	hdr := m.Raw[p.Offset:end]
	terminated := bytes.HasSuffix(hdr, []byte("\n\n")) || bytes.HasSuffix(hdr, []byte("\n\r\n")) ||
		string(hdr) == "\n" || string(hdr) == "\r\n"
	var out []byte
	for _, f := range m.PartHeader(p) {
		if f.End > end {
			f.End = end
		}
		match := false
		for _, n := range names {
			if strings.EqualFold(n, f.Name) {
				match = true
				break
			}
		}
		if match != not {
			out = append(out, m.Raw[f.Start:f.End]...)
			if !bytes.HasSuffix(out, []byte{'\n'}) {
				out = append(out, '\r', '\n')
			}
		}
	}
	// A header cut off by the end of the message (no blank line) and
	// with nothing kept gives nothing, as in Dovecot.
	if len(out) == 0 && !terminated {
		return nil
	}
	return append(out, '\r', '\n')
}

// crlf returns b with every bare LF turned into CRLF.
func crlf(b []byte) []byte {
	n := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// Partial applies a <offset.count> partial (RFC 9051 §6.4.5) to fetched
// content: the bytes from offset, at most count of them; empty past the
// end. A negative count means no limit.
func Partial(b []byte, offset, count int64) []byte {
	if offset < 0 || offset >= int64(len(b)) {
		return nil
	}
	b = b[offset:]
	if count >= 0 && count < int64(len(b)) {
		b = b[:count]
	}
	return b
}
