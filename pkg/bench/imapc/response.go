package imapc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits of the reader. A benchmark client still bounds what it reads: a
// broken server must produce an error, not exhaust the load generator.
const (
	// MaxLine bounds one line segment (the text between literals). Servers
	// send long FETCH lines for large ranges; 1 MiB leaves ample room.
	MaxLine = 1 << 20
	// MaxLiteral bounds one literal; cote's and Dovecot's default message
	// size limits are far below it.
	MaxLiteral = 64 << 20
	// maxLiterals bounds the literals in one response (a FETCH of a few
	// BODY sections carries one literal each).
	maxLiterals = 64
)

// ProtocolError is a response that breaks the IMAP response syntax or the
// conversation (an unknown tag, a tagged BYE). The connection should not be
// used further.
type ProtocolError struct {
	Msg  string
	Line []byte // the offending line segment, possibly truncated
}

func (e *ProtocolError) Error() string {
	if len(e.Line) == 0 {
		return "imap protocol error: " + e.Msg
	}
	return fmt.Sprintf("imap protocol error: %s: %q", e.Msg, e.Line)
}

func protoErr(msg string, line []byte) error {
	if len(line) > 120 {
		line = line[:120]
	}
	return &ProtocolError{Msg: msg, Line: append([]byte(nil), line...)}
}

// Response is one server response: a continuation request (Tag "+"), an
// untagged response (Tag "*") or a tagged completion.
type Response struct {
	// Tag is "+", "*" or the command tag.
	Tag string
	// Num is the number of a numeric untagged response ("* 3 EXISTS");
	// HasNum tells whether there was one.
	Num    uint32
	HasNum bool
	// Kind is the upper-cased response keyword: OK, NO, BAD, BYE, PREAUTH
	// for status responses (tagged ones are always OK, NO or BAD), else the
	// data keyword (EXISTS, FETCH, LIST, SEARCH, CAPABILITY...). Empty for
	// a continuation request.
	Kind string
	// Code is the upper-cased name of a status response's code
	// ("[EXPUNGEISSUED]" gives "EXPUNGEISSUED"); CodeArg is the rest of
	// the bracket.
	Code    string
	CodeArg string
	// Text is everything after the keyword (and the code) on all line
	// segments, with each literal left out but its {n} marker kept.
	Text []byte
	// Literals are the literals of the response, in order.
	Literals [][]byte
}

// IsStatus reports whether the response is a status response (OK, NO, BAD,
// BYE, PREAUTH).
func (r *Response) IsStatus() bool {
	switch r.Kind {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return true
	}
	return false
}

// Fields returns the space-separated atoms of Text (SEARCH results,
// CAPABILITY names). Parenthesized or quoted data is not split sensibly;
// callers use it only where the grammar has plain atoms.
func (r *Response) Fields() [][]byte {
	return bytes.Fields(r.Text)
}

// Reader reads responses from a server.
type Reader struct {
	br *bufio.Reader
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// readLine returns one CRLF-terminated line without the CRLF. The returned
// slice is freshly allocated.
func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(line)+len(frag) > MaxLine+2 {
			return nil, protoErr("line too long", append(line, frag...))
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, protoErr("line not ended by CRLF", line)
	}
	return line[:len(line)-2], nil
}

// literalSize returns the size of the literal announced at the end of line
// ("{12}" or the binary form "~{12}", RFC 3516), or -1 when there is none.
func literalSize(line []byte) (int64, error) {
	if len(line) == 0 || line[len(line)-1] != '}' {
		return -1, nil
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return -1, nil
	}
	digits := line[open+1 : len(line)-1]
	if len(digits) == 0 {
		return -1, nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			// "{abc}" at the end of a text is plain text, not a literal.
			return -1, nil
		}
	}
	if len(digits) > 10 {
		return 0, protoErr("literal size too large", line)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n > MaxLiteral {
		return 0, protoErr("literal size too large", line)
	}
	return n, nil
}

// ReadResponse reads one complete response, literals included.
func (r *Reader) ReadResponse() (*Response, error) {
	first, err := r.readLine()
	if err != nil {
		return nil, err
	}
	resp, err := parseFirst(first)
	if err != nil {
		return nil, err
	}
	if resp.Tag == "+" {
		// A continuation request's text is free text; it carries no literal.
		return resp, nil
	}
	seg := first
	for {
		n, err := literalSize(seg)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return resp, nil
		}
		if len(resp.Literals) == maxLiterals {
			return nil, protoErr("too many literals in one response", seg)
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(r.br, lit); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		resp.Literals = append(resp.Literals, lit)
		seg, err = r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		resp.Text = append(resp.Text, seg...)
	}
}

// parseFirst parses the first line segment of a response.
func parseFirst(line []byte) (*Response, error) {
	if len(line) == 0 {
		return nil, protoErr("empty line", line)
	}
	if line[0] == '+' {
		if len(line) > 1 && line[1] != ' ' {
			return nil, protoErr("malformed continuation request", line)
		}
		text := []byte(nil)
		if len(line) > 2 {
			text = append(text, line[2:]...)
		}
		return &Response{Tag: "+", Text: text}, nil
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, protoErr("response without keyword", line)
	}
	resp := &Response{Tag: string(line[:sp])}
	rest := line[sp+1:]
	if resp.Tag != "*" {
		for _, c := range line[:sp] {
			if !isTagChar(c) {
				return nil, protoErr("invalid tag", line)
			}
		}
	}
	word, rest := token(rest)
	if resp.Tag == "*" && len(word) > 0 && isDigits(word) {
		n, err := strconv.ParseUint(string(word), 10, 32)
		if err != nil {
			return nil, protoErr("number out of range", line)
		}
		resp.Num, resp.HasNum = uint32(n), true
		word, rest = token(rest)
	}
	if len(word) == 0 {
		return nil, protoErr("response without keyword", line)
	}
	for _, c := range word {
		if !isAtomChar(c) {
			return nil, protoErr("invalid response keyword", line)
		}
	}
	resp.Kind = string(bytes.ToUpper(word))
	if resp.Tag != "*" {
		switch resp.Kind {
		case "OK", "NO", "BAD":
		default:
			return nil, protoErr("tagged response is not OK, NO or BAD", line)
		}
	}
	if resp.IsStatus() && len(rest) > 0 && rest[0] == '[' {
		end := bytes.IndexByte(rest, ']')
		if end < 0 {
			return nil, protoErr("unterminated response code", line)
		}
		code := rest[1:end]
		name, arg := token(code)
		if len(name) == 0 {
			return nil, protoErr("empty response code", line)
		}
		resp.Code = string(bytes.ToUpper(name))
		resp.CodeArg = string(arg)
		rest = bytes.TrimPrefix(rest[end+1:], []byte(" "))
	}
	if len(rest) > 0 {
		resp.Text = append([]byte(nil), rest...)
	}
	return resp, nil
}

// token splits b at the first space.
func token(b []byte) (word, rest []byte) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return b, nil
	}
	return b[:sp], b[sp+1:]
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// isAtomChar follows RFC 9051's ATOM-CHAR: any CHAR except atom-specials.
func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isTagChar follows RFC 9051's tag: ASTRING-CHAR except "+".
func isTagChar(c byte) bool {
	return c == ']' || (isAtomChar(c) && c != '+')
}
