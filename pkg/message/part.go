package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
)

// Limits of the parser. They keep a hostile message from costing more
// than a real one: Dovecot's message parser uses the same values
// (MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS = 100 and
// MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS = 10000 in
// src/lib-mail/message-parser.h). A multipart or message/rfc822 part past
// either limit is kept as a leaf part whose body is its raw content.
const (
	MaxNesting = 100
	MaxParts   = 10000
)

// Size is a byte range's size as IMAP counts it.
type Size struct {
	Physical int64 // bytes in the stored message
	Virtual  int64 // bytes with every line end counted as CRLF (RFC822.SIZE)
	Lines    int64 // LF count
}

// Part is one node of the MIME tree. The tree only indexes the raw
// message: offsets point into it, header-derived fields hold the raw text
// that ENVELOPE and BODYSTRUCTURE carry.
type Part struct {
	// Offset is where the part's header starts; its body starts at
	// Offset+Header.Physical.
	Offset int64
	Header Size
	Body   Size

	// Type and Subtype as written (case kept); both empty when the part
	// has no usable Content-Type, in which case the RFC 2045 default
	// applies (text/plain, or message/rfc822 inside multipart/digest).
	Type, Subtype string
	Params        []Param

	ID, Description, Encoding, MD5, Location *string
	// Disposition is "" for none.
	Disposition       string
	DispositionParams []Param
	Language          []string

	// Children are the body parts of a multipart, or the one embedded
	// message of a message/rfc822 part.
	Children []*Part
	// Envelope is set on the embedded message of a message/rfc822 part
	// (the child) and on the root.
	Envelope *Envelope

	Flags Flags
}

// Flags describe what the parser made of a part.
type Flags uint8

const (
	// FlagMultipart: the part is a multipart with a boundary; Children are
	// its body parts.
	FlagMultipart Flags = 1 << iota
	// FlagMessage: the part is message/rfc822 (or has no Content-Type
	// inside a multipart/digest);
	// Children[0] is the embedded message.
	FlagMessage
	// FlagText: the part's type is text (line counts are reported).
	FlagText
	// FlagDefaultType: no Content-Type (or an unusable one); the default
	// applies.
	FlagDefaultType
)

// BodyOffset is where the part's body starts.
func (p *Part) BodyOffset() int64 { return p.Offset + p.Header.Physical }

// IsMultipart reports whether the part has body parts.
func (p *Part) IsMultipart() bool { return p.Flags&FlagMultipart != 0 }

// IsMessage reports whether the part holds an embedded message.
func (p *Part) IsMessage() bool { return p.Flags&FlagMessage != 0 && len(p.Children) == 1 }

// MediaType returns type and subtype with the defaults applied, in
// lower case.
func (p *Part) MediaType() (string, string) {
	if p.Flags&FlagDefaultType != 0 {
		if p.IsMessage() {
			return "message", "rfc822"
		}
		return "text", "plain"
	}
	return strings.ToLower(p.Type), strings.ToLower(p.Subtype)
}

// Message is a parsed message: the raw bytes and the part tree computed
// from them.
type Message struct {
	// Raw is the message as stored; the tree indexes it.
	Raw  []byte
	Root *Part
}

// Size is RFC822.SIZE: the message size with CRLF line ends.
func (m *Message) Size() int64 { return m.Root.Header.Virtual + m.Root.Body.Virtual }

// Parse computes the part tree of raw. It never fails and never panics:
// broken structure is read the way Dovecot reads it.
func Parse(raw []byte) *Message {
	p := &parser{data: raw}
	root := p.part(0, nil, 0, false, true)
	return &Message{Raw: raw, Root: root}
}

// ErrTooLarge is returned by ParseReaderAt for a size that does not fit
// in memory on this platform.
var ErrTooLarge = errors.New("message: too large")

// ParseReaderAt reads size bytes from r and parses them. The message is
// held in memory: the sections and BINARY decoding read it again.
func ParseReaderAt(r io.ReaderAt, size int64) (*Message, error) {
	if size < 0 || size > int64(int(^uint(0)>>1)) {
		return nil, ErrTooLarge
	}
	buf := make([]byte, size)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, err
	}
	return Parse(buf), nil
}

type parser struct {
	data  []byte
	parts int
	// Where the last parsed part ended: the boundary line that ended it
	// (len(data) at the end), the boundary's index (-1 for none) and
	// whether it was a close delimiter.
	nextLine int
	hitIdx   int
	hitClose bool
}

// countSize measures data[s:e].
func (p *parser) countSize(s, e int) Size {
	if e <= s {
		return Size{}
	}
	b := p.data[s:e]
	lf := int64(bytes.Count(b, []byte{'\n'}))
	crlf := int64(bytes.Count(b, []byte("\r\n")))
	return Size{Physical: int64(e - s), Virtual: int64(e-s) + lf - crlf, Lines: lf}
}

// boundaryHit checks whether the line at i is a boundary line of one of
// bounds, innermost (last) first as Dovecot's boundary_line_find does. A
// line matches when it starts with "--" and the boundary: what follows is
// ignored (trailing white space is common). It returns the index into
// bounds or -1, and whether the line is a close delimiter ("--b--").
func boundaryHit(data []byte, i int, bounds []string) (int, bool) {
	if len(bounds) == 0 || i+2 > len(data) || data[i] != '-' || data[i+1] != '-' {
		return -1, false
	}
	rest := data[i+2:]
	for k := len(bounds) - 1; k >= 0; k-- {
		b := bounds[k]
		if len(rest) >= len(b) && string(rest[:len(b)]) == b {
			after := rest[len(b):]
			return k, len(after) >= 2 && after[0] == '-' && after[1] == '-'
		}
	}
	return -1, false
}

// findBoundary scans lines from i (a line start) for a boundary line of
// bounds. It returns the line's offset (len(data) if none), the index of
// the boundary (-1 if none) and whether it closes.
func (p *parser) findBoundary(i int, bounds []string) (int, int, bool) {
	if len(bounds) == 0 {
		return len(p.data), -1, false
	}
	for i < len(p.data) {
		if k, closing := boundaryHit(p.data, i, bounds); k >= 0 {
			return i, k, closing
		}
		j := bytes.Index(p.data[i:], []byte("\n--"))
		if j < 0 {
			break
		}
		i += j + 1
	}
	return len(p.data), -1, false
}

// bodyEnd is where a body that is followed by a boundary line at line
// ends: the line end before the boundary belongs to the boundary
// (RFC 2046 §5.1.1), but never reaches back before start.
func (p *parser) bodyEnd(start, line int) int {
	e := line
	if e > start && p.data[e-1] == '\n' {
		e--
		if e > start && p.data[e-1] == '\r' {
			e--
		}
	}
	return e
}

// part parses the part whose header starts at start. bounds are the
// boundaries of the enclosing multiparts (innermost last); the part ends
// at the first of their boundary lines or at the end of the data. depth is
// the nesting level; digest says the parent is multipart/digest. It
// returns the part; p.hit reports which boundary ended it.
func (p *parser) part(start int, bounds []string, depth int, digest, isMessageRoot bool) *Part {
	p.parts++
	part := &Part{Offset: int64(start)}
	fields, hdrEnd := scanHeader(p.data, start, true, bounds)
	part.Header = p.countSize(start, hdrEnd)
	part.applyHeader(fields, digest, isMessageRoot)
	if isMessageRoot {
		part.Envelope = envelopeOf(fields)
	}

	bodyStart := hdrEnd
	nestOK := depth < MaxNesting && p.parts < MaxParts
	var boundary string
	if part.Flags&FlagMultipart != 0 {
		boundary = paramValue(part.Params, "boundary")
	}
	// A multipart without a boundary (or past the limits) keeps its type
	// but gets no body parts: Dovecot then reports one empty text/plain
	// part in its BODYSTRUCTURE.
	parseChildren := part.Flags&FlagMultipart != 0 && boundary != "" && nestOK
	if part.Flags&FlagMessage != 0 && !nestOK {
		part.Flags &^= FlagMessage
	}
	switch {
	case parseChildren:
		inner := append(bounds[:len(bounds):len(bounds)], boundary)
		isDigest := strings.EqualFold(part.Subtype, "digest")
		me := len(inner) - 1
		line, k, closing := p.findBoundary(bodyStart, inner)
		for k == me && !closing {
			if p.parts >= MaxParts {
				// Past the limit the remaining body parts are not
				// split out; skip to the end of this multipart.
				line, k, closing = p.findBoundary(lineEnd(p.data, line), inner)
				continue
			}
			childStart := lineEnd(p.data, line)
			child := p.part(childStart, inner, depth+1, isDigest, false)
			part.Children = append(part.Children, child)
			line, k, closing = p.nextLine, p.hitIdx, p.hitClose
		}
		// The body never ends before its last part does (a boundary
		// line right after a child's boundary line leaves no line end
		// to give back).
		minEnd := bodyStart
		if n := len(part.Children); n > 0 {
			c := part.Children[n-1]
			minEnd = int(c.BodyOffset() + c.Body.Physical)
		}
		if k == me && closing {
			// Epilogue: up to an outer boundary or the end. The close
			// delimiter's own line end stays in the body.
			minEnd = lineEnd(p.data, line)
			line, k, closing = p.findBoundary(minEnd, bounds)
		}
		end := len(p.data)
		if k >= 0 {
			end = p.bodyEnd(minEnd, line)
		}
		part.Body = p.countSize(bodyStart, end)
		p.nextLine, p.hitIdx, p.hitClose = line, k, closing
		return part
	case part.Flags&FlagMessage != 0:
		child := p.part(bodyStart, bounds, depth+1, false, true)
		part.Children = []*Part{child}
		end := len(p.data)
		if p.hitIdx >= 0 {
			end = p.bodyEnd(int(child.BodyOffset()+child.Body.Physical), p.nextLine)
		}
		part.Body = p.countSize(bodyStart, end)
		return part
	}
	line, k, closing := p.findBoundary(bodyStart, bounds)
	end := len(p.data)
	if k >= 0 {
		end = p.bodyEnd(bodyStart, line)
	}
	part.Body = p.countSize(bodyStart, end)
	p.nextLine, p.hitIdx, p.hitClose = line, k, closing
	return part
}

func fieldsBefore(f []Field, off int64) []Field {
	for i := range f {
		if f[i].Start >= off {
			return f[:i]
		}
	}
	return f
}

func paramValue(ps []Param, name string) string {
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

// applyHeader fills the MIME fields from the header. The first
// occurrence of each field wins, as in Dovecot. The header of a message
// (the top one or an embedded one) counts as MIME only when it has
// MIME-Version or Content-Type; otherwise its other Content-* fields are
// ignored, as Dovecot ignores them (RFC 2045 §4).
func (p *Part) applyHeader(fields []Field, digest, isMessageRoot bool) {
	seen := map[string]bool{}
	ctSet := false
	mime := !isMessageRoot
	for _, f := range fields {
		if n := strings.ToLower(f.Name); n == "mime-version" || n == "content-type" {
			mime = true
			break
		}
	}
	for _, f := range fields {
		if !mime {
			break
		}
		name := strings.ToLower(f.Name)
		if !strings.HasPrefix(name, "content-") || seen[name] {
			continue
		}
		seen[name] = true
		v := f.Value
		switch name[len("content-"):] {
		case "type":
			// Any Content-Type counts, even one without a type token:
			// Dovecot then reports "" "" rather than the default.
			p.Type, p.Subtype, p.Params = contentType(v)
			ctSet = true
		case "transfer-encoding":
			if t, ok := firstToken(v); ok {
				p.Encoding = &t
			}
		case "id":
			p.ID = hstr(v)
		case "description":
			p.Description = hstr(v)
		case "md5":
			p.MD5 = hstr(v)
		case "location":
			p.Location = hstr(v)
		case "disposition":
			if d, ps, ok := disposition(v); ok {
				p.Disposition, p.DispositionParams = d, ps
			}
		case "language":
			p.Language = languages(v)
		}
	}
	if !ctSet {
		p.Flags |= FlagDefaultType
		if digest {
			p.Flags |= FlagMessage
		} else {
			p.Flags |= FlagText
		}
		return
	}
	t := strings.ToLower(p.Type)
	s := strings.ToLower(p.Subtype)
	switch {
	case t == "multipart":
		p.Flags |= FlagMultipart
	case t == "message" && s == "rfc822":
		// message/global (RFC 6532) is not parsed as an embedded message
		// by Dovecot 2.3: it stays a leaf part, and so here.
		p.Flags |= FlagMessage
	case t == "text":
		p.Flags |= FlagText
	}
}

// hstr copies a header value for ENVELOPE and BODYSTRUCTURE. NUL bytes
// become U+FFFD, as Dovecot's message_header_strdup does: they cannot
// travel in an IMAP string.
func hstr(s string) *string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return &s
}
