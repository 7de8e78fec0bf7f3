package message

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// Field is one header field as it appears in the message.
type Field struct {
	// Name is the field name with trailing white space removed
	// ("Subject : x" has the name "Subject").
	Name string
	// Value is everything after the colon with the leading white space
	// removed and the final line end dropped; folded lines keep their
	// line ends, so the value is the raw text (encoded words are not
	// decoded).
	Value string
	// Start and End delimit the whole field in the message, final line
	// end included.
	Start, End int64
}

// lineEnd returns the index just past the line that starts at i (past
// its LF, or len(data) when the line has none).
func lineEnd(data []byte, i int) int {
	j := bytes.IndexByte(data[i:], '\n')
	if j < 0 {
		return len(data)
	}
	return i + j + 1
}

// isBlankLine reports whether data[i:e] is an empty line ("\n" or "\r\n").
func isBlankLine(data []byte, i, e int) bool {
	n := e - i
	return (n == 1 && data[i] == '\n') || (n == 2 && data[i] == '\r' && data[i+1] == '\n')
}

// scanHeader reads the header block that starts at start. It returns the
// fields and the offset just past the blank line that ends the header (or
// len(data) when the header runs to the end of the message). A line
// without a colon is a field whose name is the whole line and whose value
// is empty, as Dovecot's header parser treats it; the header goes on.
// When collect is false no fields are collected (only the end is found).
// A boundary line of bounds also ends the header (before that line), as
// Dovecot's parser checks boundaries on header lines too; without this a
// part with no blank line would make every header scan run to the end of
// the message.
func scanHeader(data []byte, start int, collect bool, bounds []string) (fields []Field, end int) {
	i := start
	for i < len(data) {
		if k, _ := boundaryHit(data, i, bounds); k >= 0 {
			return fields, i
		}
		e := lineEnd(data, i)
		if isBlankLine(data, i, e) {
			return fields, e
		}
		// Gather continuation lines (starting with SP or HTAB).
		fe := e
		for fe < len(data) && (data[fe] == ' ' || data[fe] == '\t') {
			fe = lineEnd(data, fe)
		}
		if collect {
			fields = append(fields, makeField(data, i, fe))
		}
		i = fe
	}
	return fields, len(data)
}

func makeField(data []byte, start, end int) Field {
	raw := data[start:end]
	// Drop the final line end.
	v := raw
	if n := len(v); n > 0 && v[n-1] == '\n' {
		v = v[:n-1]
		if n := len(v); n > 0 && v[n-1] == '\r' {
			v = v[:n-1]
		}
	}
	f := Field{Start: int64(start), End: int64(end)}
	colon := bytes.IndexByte(v, ':')
	if colon < 0 {
		f.Name = string(bytes.TrimRight(v, " \t\r\n"))
		return f
	}
	f.Name = string(bytes.TrimRight(v[:colon], " \t"))
	val := v[colon+1:]
	for len(val) > 0 && (val[0] == ' ' || val[0] == '\t') {
		val = val[1:]
	}
	f.Value = string(val)
	return f
}

// Header returns the fields of the header that starts at offset start of
// raw.
func Header(raw []byte, start int64) []Field {
	if start < 0 || start > int64(len(raw)) {
		return nil
	}
	f, _ := scanHeader(raw, int(start), true, nil)
	return f
}

// PartHeader returns the fields of p's header in the message.
func (m *Message) PartHeader(p *Part) []Field {
	end := p.BodyOffset()
	f, _ := scanHeader(m.Raw[:end], int(p.Offset), true, nil)
	return f
}

// Param is one MIME parameter (RFC 2045 §5.1) as Dovecot reports it:
// the name as written, RFC 2231 continuations joined (under the lowercased
// name), an extended value ("name*") kept in its charset'language'%XX form.
type Param struct {
	Name, Value string
}

// parseParams reads ";"-separated parameters from l, joining RFC 2231
// continuations the way Dovecot's rfc2231_parse does: plain parameters
// first in their order, then each continued parameter once, sorted by
// name; a parameter that has any extended ("*") segment becomes "name*"
// with the segments concatenated.
func parseParams(l *lexer) []Param {
	type seg struct {
		name     string
		idx      int
		extended bool
		value    string
	}
	var plain []Param
	var segs []seg
	for {
		l.skipCFWS()
		if l.eof() {
			break
		}
		if l.peek() != ';' {
			// Garbage between parameters: skip to the next ';'.
			if i := strings.IndexByte(l.s[l.pos:], ';'); i >= 0 {
				l.pos += i
			} else {
				break
			}
		}
		l.pos++ // ';'
		l.skipCFWS()
		// An empty or malformed parameter ends the list: Dovecot's
		// parser gives up on the rest (";;" keeps what came before).
		name, ok := l.token()
		if !ok {
			break
		}
		// RFC 2231 names contain '*', which is a token character.
		l.skipCFWS()
		if l.peek() != '=' {
			break
		}
		l.pos++
		l.skipCFWS()
		var value string
		if l.peek() == '"' {
			value = l.quoted()
		} else if v, ok := l.token(); ok {
			value = v
		} else {
			break
		}
		star := strings.IndexByte(name, '*')
		if star < 0 {
			plain = append(plain, Param{Name: name, Value: value})
			continue
		}
		name = strings.ToLower(name)
		base, rest := name[:star], name[star+1:]
		s := seg{name: base, idx: 0}
		switch {
		case rest == "":
			s.extended = true
		default:
			ext := strings.HasSuffix(rest, "*")
			num := strings.TrimSuffix(rest, "*")
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || n > 1000 {
				plain = append(plain, Param{Name: name, Value: value})
				continue
			}
			s.idx, s.extended = n, ext
		}
		s.value = value
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return plain
	}
	sort.SliceStable(segs, func(i, j int) bool {
		if segs[i].name != segs[j].name {
			return segs[i].name < segs[j].name
		}
		return segs[i].idx < segs[j].idx
	})
	out := plain
	for i := 0; i < len(segs); {
		j := i
		var b strings.Builder
		ext := false
		next := 0
		for j < len(segs) && segs[j].name == segs[i].name {
			// A gap in the numbering ends the value (RFC 2231 §3).
			if segs[j].idx == next {
				b.WriteString(segs[j].value)
				ext = ext || segs[j].extended
				next++
			}
			j++
		}
		name := segs[i].name
		if ext {
			name += "*"
		}
		out = append(out, Param{Name: name, Value: b.String()})
		i = j
	}
	return out
}

// contentType parses a Content-Type value into type, subtype and
// params. Without a type token the result is empty and the parameters are
// not read, as in Dovecot.
func contentType(v string) (typ, sub string, params []Param) {
	l := &lexer{s: v}
	l.skipCFWS()
	typ, ok := l.token()
	if !ok {
		return "", "", nil
	}
	l.skipCFWS()
	if l.peek() == '/' {
		l.pos++
		l.skipCFWS()
		sub, _ = l.token()
	}
	return typ, sub, parseParams(l)
}

// disposition parses Content-Disposition.
func disposition(v string) (string, []Param, bool) {
	l := &lexer{s: v}
	l.skipCFWS()
	d, ok := l.token()
	if !ok {
		return "", nil, false
	}
	return d, parseParams(l), true
}

// languages parses Content-Language (RFC 3282): a comma list of tags.
func languages(v string) []string {
	l := &lexer{s: v}
	var out []string
	for {
		l.skipCFWS()
		if l.eof() {
			break
		}
		if t, ok := l.token(); ok {
			out = append(out, t)
			continue
		}
		l.pos++ // ',' or anything unexpected
	}
	return out
}

// firstToken returns the first MIME token of v (Content-Transfer-Encoding).
func firstToken(v string) (string, bool) {
	l := &lexer{s: v}
	l.skipCFWS()
	return l.token()
}
