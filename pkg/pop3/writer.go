package pop3

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// writeBuffer is the Writer's buffer: one syscall carries many short
// responses, and a RETR streams in chunks of this size.
const writeBuffer = 4096

// Writer renders responses into one buffered writer per connection. It is
// corked: nothing leaves before Flush, except when the buffer fills during
// a long multi-line response. Write errors are sticky and reported by
// Flush (and by Body and BodyLines, which stop reading early on them).
type Writer struct {
	bw *bufio.Writer
	// buf is the read buffer of Body and BodyLines, allocated once per
	// connection: a download of many messages reuses it.
	buf []byte
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, writeBuffer)}
}

// Reset discards unflushed output and writes to dst from now on (the TLS
// connection after STLS).
func (w *Writer) Reset(dst io.Writer) { w.bw.Reset(dst) }

// Flush writes the buffered responses to the connection.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered is the number of bytes not yet flushed.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

// OK writes "+OK text", or "+OK" alone when format is empty. With no
// arguments format is written verbatim (no % processing), so a fixed text
// never needs escaping. go vet checks OK as a printf wrapper: pass text
// that is not a constant as OK("%s", text).
func (w *Writer) OK(format string, a ...any) {
	text := format
	if len(a) > 0 {
		text = fmt.Sprintf(format, a...)
	}
	if text == "" {
		w.raw("+OK\r\n")
		return
	}
	w.raw("+OK ")
	w.raw(cleanText(text))
	w.raw("\r\n")
}

// Err writes "-ERR [code] text" (RFC 2449 §8 response codes), without the
// brackets when code is "".
func (w *Writer) Err(code, text string) {
	w.raw("-ERR")
	if code != "" {
		w.raw(" [")
		w.raw(cleanText(code))
		w.raw("]")
	}
	if text != "" {
		w.raw(" ")
		w.raw(cleanText(text))
	}
	w.raw("\r\n")
}

// Cont writes a SASL continuation "+ b64" (RFC 5034 §4); an empty
// challenge is "+ " with the space, as RFC 5034 writes it.
func (w *Writer) Cont(b64 string) {
	w.raw("+ ")
	w.raw(cleanText(b64))
	w.raw("\r\n")
}

// Line writes one line of a multi-line response (CAPA, LIST, UIDL) and
// its CRLF. The line is dot-stuffed like message data, so even a line
// built from client input cannot end the response early.
func (w *Writer) Line(s string) {
	s = cleanText(s)
	if strings.HasPrefix(s, ".") {
		w.raw(".")
	}
	w.raw(s)
	w.raw("\r\n")
}

// End writes the terminator of a multi-line response.
func (w *Writer) End() { w.raw(".\r\n") }

// Body writes a message as multi-line data (RFC 1939 §3): lines starting
// with "." are stuffed, bare LF and bare CR become CRLF, and the data ends
// with CRLF (one is added when the message does not end in a line
// break). It does not write the terminator: the caller ends with End. It
// returns the first read or write error.
func (w *Writer) Body(r io.Reader) error {
	d := dataWriter{bw: w.bw, lineStart: true, limit: -1}
	return d.copy(r, w.readBuf())
}

// BodyLines writes the start of a message for TOP (RFC 1939 §7): the
// header, the blank line that ends it, then at most n lines of the body,
// with the same stuffing and line ending repair as Body. A message with
// no blank line is all header and is sent whole. n < 0 counts as 0.
func (w *Writer) BodyLines(r io.Reader, n int) error {
	if n < 0 {
		n = 0
	}
	d := dataWriter{bw: w.bw, lineStart: true, inHeader: true, limit: n}
	return d.copy(r, w.readBuf())
}

func (w *Writer) readBuf() []byte {
	if w.buf == nil {
		w.buf = make([]byte, 32*1024)
	}
	return w.buf
}

func (w *Writer) raw(s string) { _, _ = w.bw.WriteString(s) }

// cleanText keeps CR and LF out of a status line so text chosen by the
// client (a user name echoed back) cannot forge a second response.
func cleanText(s string) string {
	if strings.IndexAny(s, "\r\n") < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// dataWriter converts a message into multi-line data as it streams
// through: the state survives chunk boundaries (a CR at the end of one
// read whose LF, if any, comes with the next).
type dataWriter struct {
	bw *bufio.Writer
	// lineStart: nothing of the current line has been written yet.
	lineStart bool
	// pendingCR: the last byte seen was a CR; the line ends whether or
	// not an LF follows, and a following LF belongs to it.
	pendingCR bool
	// inHeader: TOP is still copying the header; limit counts the body
	// lines still to send (-1: no limit, Body).
	inHeader bool
	limit    int
	done     bool
	err      error
}

func (d *dataWriter) copy(r io.Reader, buf []byte) error {
	if d.limit == 0 && !d.inHeader {
		d.done = true
	}
	empty := true
	for !d.done && d.err == nil {
		n, rerr := r.Read(buf)
		if n > 0 {
			empty = false
		}
		d.write(buf[:n])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if d.err != nil {
		return d.err
	}
	if !d.done {
		// An empty message is sent as one empty line, as Dovecot's pop3
		// does: some clients take a bare "." for a protocol error.
		if d.pendingCR || !d.lineStart || (empty && d.limit < 0) {
			d.endLine()
		}
	}
	return d.err
}

func (d *dataWriter) write(b []byte) {
	for len(b) > 0 && !d.done && d.err == nil {
		if d.pendingCR {
			d.pendingCR = false
			if b[0] == '\n' {
				b = b[1:]
			}
			d.endLine()
			continue
		}
		// The first CR or LF: two IndexByte scans (vectorised) beat
		// IndexAny's byte loop.
		j := bytes.IndexByte(b, '\n')
		head := b
		if j >= 0 {
			head = b[:j]
		}
		if k := bytes.IndexByte(head, '\r'); k >= 0 {
			j = k
		}
		run := b
		if j >= 0 {
			run = b[:j]
		}
		if len(run) > 0 {
			if d.lineStart && run[0] == '.' {
				d.put(dot)
			}
			d.lineStart = false
			d.put(run)
		}
		if j < 0 {
			return
		}
		c := b[j]
		b = b[j+1:]
		if c == '\n' {
			d.endLine()
		} else {
			d.pendingCR = true
		}
	}
}

var (
	crlf = []byte("\r\n")
	dot  = []byte(".")
)

// endLine writes CRLF and counts the line for TOP.
func (d *dataWriter) endLine() {
	empty := d.lineStart
	d.put(crlf)
	d.lineStart = true
	switch {
	case d.limit < 0:
	case d.inHeader:
		if empty {
			d.inHeader = false
			d.done = d.limit == 0
		}
	default:
		d.limit--
		d.done = d.limit == 0
	}
}

func (d *dataWriter) put(b []byte) {
	if d.err == nil {
		_, d.err = d.bw.Write(b)
	}
}
