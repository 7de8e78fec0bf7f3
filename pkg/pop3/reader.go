package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// MaxLine is the longest command line accepted, CRLF included. RFC 2449
// §4 limits a command line to 255 octets including the terminating CRLF,
// and RFC 5034 §4 has a client leave out an initial response that would
// make AUTH longer (it answers the empty "+ " challenge instead), so no
// conforming client needs more. Keeping the server at exactly the
// protocol's limit means a pre-login client never makes the process hold
// more than one short line.
const MaxLine = 255

// readBuffer is the size of the Reader's buffer: larger than MaxLine so a
// whole line (and usually a pipelined batch of them) is seen at once.
const readBuffer = 4096

// ErrLineTooLong reports a line longer than MaxLine. The line has been
// consumed; the next read starts at the following line.
var ErrLineTooLong = errors.New("pop3: command line too long")

// Command is one parsed command line.
type Command struct {
	// Name is the keyword, upper-cased ("USER"); "" for an empty line.
	Name string
	// Args are the space separated words after the keyword; runs of
	// spaces count as one separator, so Args has no empty strings.
	Args []string
	// Raw is the line without its line terminator.
	Raw string
}

// Rest returns the text after the keyword and the one space that follows
// it, verbatim. PASS uses it: RFC 1939 §7 allows a server to treat spaces
// in the password as part of it, and Dovecot does.
func (c Command) Rest() string {
	i := strings.IndexByte(c.Raw, ' ')
	if i < 0 {
		return ""
	}
	return c.Raw[i+1:]
}

// Reader reads command lines from a client.
type Reader struct {
	br *bufio.Reader
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBuffer)}
}

// Buffered is the number of bytes received but not yet read: the session
// flushes its responses only when no complete command is waiting, and
// STLS discards what the client pipelined after it (RFC 2595 §3.1 and the
// plaintext command injection of CVE-2011-0411).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// BufferedBytes returns a copy of the bytes received but not yet read:
// what the client pipelined after a login command travels to the
// post-login process in the handoff record.
func (r *Reader) BufferedBytes() []byte {
	b, _ := r.br.Peek(r.br.Buffered())
	return append([]byte(nil), b...)
}

// Reset discards everything buffered and reads from src from now on:
// after STLS nothing received in plaintext survives the handshake.
func (r *Reader) Reset(src io.Reader) { r.br.Reset(src) }

// HasLine reports whether a whole line is already buffered, so reading it
// will not block.
func (r *Reader) HasLine() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// ReadLine reads one line (an AUTH continuation) and returns it without
// its terminator. A line ends at LF; a CR right before it is dropped. A
// line longer than MaxLine octets is consumed and reported as
// ErrLineTooLong. End of input inside a line is io.ErrUnexpectedEOF,
// before any byte io.EOF.
func (r *Reader) ReadLine() (string, error) {
	b, err := r.br.ReadSlice('\n')
	if err == nil {
		if len(b) > MaxLine {
			return "", ErrLineTooLong
		}
		b = b[:len(b)-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
		return string(b), nil
	}
	if err == bufio.ErrBufferFull {
		// Discard to the end of the line so the next read is in step.
		for err == bufio.ErrBufferFull {
			_, err = r.br.ReadSlice('\n')
		}
		if err == nil {
			return "", ErrLineTooLong
		}
	}
	if err == io.EOF {
		if len(b) == 0 {
			return "", io.EOF
		}
		return "", io.ErrUnexpectedEOF
	}
	return "", err
}

// ReadCommand reads and splits one command line. Errors are those of
// ReadLine.
func (r *Reader) ReadCommand() (Command, error) {
	line, err := r.ReadLine()
	if err != nil {
		return Command{}, err
	}
	return ParseCommand(line), nil
}

// ParseCommand splits a line (without terminator) into a Command.
func ParseCommand(line string) Command {
	c := Command{Raw: line}
	name, rest, _ := strings.Cut(line, " ")
	c.Name = strings.ToUpper(name)
	for _, f := range strings.Split(rest, " ") {
		if f != "" {
			c.Args = append(c.Args, f)
		}
	}
	return c
}
