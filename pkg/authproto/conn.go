package authproto

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// Conn frames one protocol connection: a bounded line reader (never more than
// MaxLineLength bytes per line) and a writer that sends each line with one
// Write under a lock, so concurrent senders never interleave.
type Conn struct {
	r  *bufio.Reader
	w  io.Writer
	mu sync.Mutex // guards writes to w
}

// NewConn wraps rw.
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{r: bufio.NewReaderSize(rw, MaxLineLength), w: rw}
}

// ReadLine reads and parses one line. io.EOF means a clean close between
// lines; a partial last line is io.ErrUnexpectedEOF.
func (c *Conn) ReadLine() ([]string, error) {
	line, err := c.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, ErrLineTooLong
	case errors.Is(err, io.EOF):
		if len(line) == 0 {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	return ParseLine(line)
}

// WriteLine formats and sends one line.
func (c *Conn) WriteLine(args ...string) error {
	return c.Write(FormatLine(args...))
}

// Write sends one or more already formatted lines in one Write.
func (c *Conn) Write(line []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.w.Write(line)
	return err
}
