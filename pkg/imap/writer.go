package imap

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// writeChunk is the writer's buffer: one syscall carries many short
// responses.
const writeChunk = 4096

// maxQuoted is the longest string sent quoted; longer ones go as literals,
// which clients parse without scanning for escapes.
const maxQuoted = 1024

// Writer renders responses into one buffered writer per connection. It
// never flushes by itself (see the package comment); write errors are
// sticky and reported by Flush.
type Writer struct {
	bw *bufio.Writer
	// fetchItems counts the items of the FETCH response being built.
	fetchItems int
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, writeChunk)}
}

// Reset discards buffered output and writes to w from now on.
func (w *Writer) Reset(dst io.Writer) { w.bw.Reset(dst) }

// Flush writes the buffered responses to the connection.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered is the number of bytes not yet flushed.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

// WriteString appends raw protocol text. The caller is responsible for its
// syntax; client data goes through String, AString or NString.
func (w *Writer) WriteString(s string) { _, _ = w.bw.WriteString(s) }

// CRLF ends a response line.
func (w *Writer) CRLF() { _, _ = w.bw.WriteString("\r\n") }

// Untagged writes "* text".
func (w *Writer) Untagged(text string) {
	w.WriteString("* ")
	w.WriteString(cleanText(text))
	w.CRLF()
}

// Tagged writes "tag status [code] text"; tag "" becomes "*" (a reply to a
// command whose tag was not valid), code "" is left out.
func (w *Writer) Tagged(tag, status, code, text string) {
	if tag == "" {
		tag = "*"
	}
	w.WriteString(tag)
	w.WriteString(" ")
	w.WriteString(status)
	w.WriteString(" ")
	if code != "" {
		w.WriteString("[")
		w.WriteString(code)
		w.WriteString("] ")
	}
	w.WriteString(cleanText(text))
	w.CRLF()
}

// Continue writes a continuation request "+ text".
func (w *Writer) Continue(text string) {
	w.WriteString("+ ")
	w.WriteString(cleanText(text))
	w.CRLF()
}

// cleanText keeps resp-text (RFC 9051 §9: TEXT-CHAR, no CR or LF) from
// ending the line early if a caller ever passes client-derived text.
func cleanText(s string) string {
	if !strings.ContainsAny(s, "\r\n\x00") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// quotable reports whether s can be sent as a quoted string: short, 7-bit,
// no CR, LF or NUL. 8-bit text needs a literal unless the client enabled
// UTF8=ACCEPT, which this layer does not know about.
func quotable(s string) bool {
	if len(s) > maxQuoted {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 || c >= 0x80 {
			return false
		}
	}
	return true
}

// String writes s as a quoted string, or as a literal when quoting cannot
// carry it.
func (w *Writer) String(s string) {
	if !quotable(s) {
		w.WriteString("{")
		w.WriteString(strconv.Itoa(len(s)))
		w.WriteString("}\r\n")
		w.WriteString(s)
		return
	}
	_ = w.bw.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			_ = w.bw.WriteByte('\\')
		}
		_ = w.bw.WriteByte(c)
	}
	_ = w.bw.WriteByte('"')
}

// AString writes s as an atom when it is one (and is not NIL), else as
// a string.
func (w *Writer) AString(s string) {
	if s != "" && !strings.EqualFold(s, "NIL") && isPlainAtom(s) {
		w.WriteString(s)
		return
	}
	w.String(s)
}

// NString writes NIL for nil, else the string.
func (w *Writer) NString(s *string) {
	if s == nil {
		w.WriteString("NIL")
		return
	}
	w.String(*s)
}

// isPlainAtom is RFC 9051's ATOM-CHAR set (no wildcards, no "]", no "\").
func isPlainAtom(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
			return false
		}
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
