package imap

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"time"
)

// This file holds what the post-login engine writes besides status lines:
// FETCH responses item by item, literals streamed from a reader, numbers,
// flag lists, ESEARCH. Nothing here flushes: output stays corked until the
// engine flushes (see the package comment).

// DefaultWriteBuffer is the buffer NewWriterSize callers use after login:
// a FETCH of many messages fills it, and each full buffer is one write.
const DefaultWriteBuffer = 64 * 1024

// NewWriterSize returns a Writer with a buffer of size bytes.
func NewWriterSize(w io.Writer, size int) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, size)}
}

// Err returns the first write error, which is sticky: once the
// connection failed nothing more is written.
func (w *Writer) Err() error {
	// bufio.Writer keeps its error; a zero-length write reports it
	// without writing anything.
	_, err := w.bw.Write(nil)
	return err
}

// Number writes a decimal number.
func (w *Writer) Number(n uint64) {
	var b [20]byte
	_, _ = w.bw.Write(strconv.AppendUint(b[:0], n, 10))
}

// UntaggedNum writes "* n what", as in "* 5 EXISTS" or "* 3 EXPUNGE".
func (w *Writer) UntaggedNum(n uint32, what string) {
	w.WriteString("* ")
	w.Number(uint64(n))
	w.WriteString(" ")
	w.WriteString(what)
	w.CRLF()
}

// Flags writes a parenthesised flag list "(\Seen $Junk)". Flags are atoms
// by construction (CanonicalFlag), so they are written as they are.
func (w *Writer) Flags(flags []string) {
	w.WriteString("(")
	for i, f := range flags {
		if i > 0 {
			w.WriteString(" ")
		}
		w.WriteString(f)
	}
	w.WriteString(")")
}

// DateTime writes t as a quoted date-time (INTERNALDATE).
func (w *Writer) DateTime(t time.Time) {
	w.WriteString(`"`)
	var b [32]byte
	_, _ = w.bw.Write(t.AppendFormat(b[:0], dateTimeLayout))
	w.WriteString(`"`)
}

// ErrShortLiteral is returned by Literal when the reader ends before size
// bytes: the response is then broken and the connection must close.
var ErrShortLiteral = errors.New("imap: literal source shorter than its size")

// Literal writes "{size}\r\n" and then size bytes from r, streamed
// through the buffer: a large body is never held in memory whole. A
// source that ends early or fails leaves the stream unusable: the error
// is returned and the caller closes the connection.
func (w *Writer) Literal(size int64, r io.Reader) error {
	return w.literal("{", size, r)
}

// Literal8 writes "~{size}\r\n" and the data (RFC 3516 §4.2: BINARY
// content that holds NUL).
func (w *Writer) Literal8(size int64, r io.Reader) error {
	return w.literal("~{", size, r)
}

func (w *Writer) literal(open string, size int64, r io.Reader) error {
	w.WriteString(open)
	w.Number(uint64(size))
	w.WriteString("}\r\n")
	n, err := io.CopyN(w.bw, r, size)
	if err == io.EOF || (err == nil && n < size) {
		return ErrShortLiteral
	}
	return err
}

// LiteralBytes writes b as a literal.
func (w *Writer) LiteralBytes(b []byte) {
	w.WriteString("{")
	w.Number(uint64(len(b)))
	w.WriteString("}\r\n")
	_, _ = w.bw.Write(b)
}

// FetchStart begins "* seq FETCH (". Items follow with FetchItem, and
// FetchEnd closes the response. Only one FETCH response is built at a
// time.
func (w *Writer) FetchStart(seq uint32) {
	w.WriteString("* ")
	w.Number(uint64(seq))
	w.WriteString(" FETCH (")
	w.fetchItems = 0
}

// FetchItem writes the separator and "name ": the caller then writes the
// value (Number, Flags, DateTime, String, Literal, Envelope, ...).
func (w *Writer) FetchItem(name string) {
	if w.fetchItems > 0 {
		w.WriteString(" ")
	}
	w.fetchItems++
	w.WriteString(name)
	w.WriteString(" ")
}

// FetchEnd ends the FETCH response.
func (w *Writer) FetchEnd() {
	w.WriteString(")\r\n")
}

// FetchFlags writes a whole "* seq FETCH (FLAGS (...))" response, with
// "UID n" first when uid is non-zero (RFC 9051 §7.5.2 requires UID in
// responses to UID commands), the untagged answer to STORE and to flag
// changes made by other sessions.
func (w *Writer) FetchFlags(seq, uid uint32, flags []string) {
	w.FetchStart(seq)
	if uid != 0 {
		w.FetchItem("UID")
		w.Number(uint64(uid))
	}
	w.FetchItem("FLAGS")
	w.Flags(flags)
	w.FetchEnd()
}

// ESearch writes "* ESEARCH (TAG "tag") [UID] MIN n MAX n ALL set COUNT n"
// for the options in ret (RFC 4731 §3.1); nums are the matches in
// ascending order. With no match MIN, MAX and ALL are left out and COUNT
// is 0. With SAVE as the only option nothing is written (RFC 5182 §2.1).
func (w *Writer) ESearch(tag string, uid bool, ret SearchReturn, nums []uint32) {
	if !ret.Min && !ret.Max && !ret.All && !ret.Count {
		return
	}
	w.WriteString("* ESEARCH (TAG ")
	w.String(tag)
	w.WriteString(")")
	if uid {
		w.WriteString(" UID")
	}
	if len(nums) > 0 {
		if ret.Min {
			w.WriteString(" MIN ")
			w.Number(uint64(nums[0]))
		}
		if ret.Max {
			w.WriteString(" MAX ")
			w.Number(uint64(nums[len(nums)-1]))
		}
		if ret.All {
			w.WriteString(" ALL ")
			_, _ = w.bw.Write(AppendRanges(nil, RangesOf(nums)))
		}
	}
	if ret.Count {
		w.WriteString(" COUNT ")
		w.Number(uint64(len(nums)))
	}
	w.CRLF()
}
