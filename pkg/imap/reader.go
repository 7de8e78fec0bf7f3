package imap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what one command may cost. Zero fields take the defaults.
type Limits struct {
	// MaxLine caps one line segment (the text between two literals or
	// line ends), CRLF excluded.
	MaxLine int
	// MaxLiteral caps one literal.
	MaxLiteral int64
	// MaxCommand caps a whole command: line segments plus literals.
	MaxCommand int64
	// MaxDepth caps the nesting of parenthesized lists.
	MaxDepth int
	// MaxLiterals caps the literals of one command: each costs a
	// round trip and an allocation, and MULTIAPPEND (RFC 3502) is the
	// only command that needs many.
	MaxLiterals int
	// MaxNonSync, when positive, is LITERAL- (RFC 7888 §5): a
	// non-synchronizing literal larger than this is refused with a
	// tagged "BAD [TOOBIG]" and the connection closed, since its data is
	// already on the way. Zero means LITERAL+: non-synchronizing
	// literals are allowed up to MaxLiteral.
	MaxNonSync int64
}

// Defaults of Limits.
const (
	// DefaultMaxLine is Dovecot's imap_max_line_length (64 KiB): long
	// UID sets from clients such as Thunderbird fit, anything larger is
	// not a command a real client sends.
	DefaultMaxLine = 64 * 1024
	// DefaultMaxLiteral suits pre-login commands (a user name or a
	// password); the post-login engine passes APPENDLIMIT instead.
	DefaultMaxLiteral = 64 * 1024
	// DefaultMaxCommand bounds the memory one command can pin.
	DefaultMaxCommand = 256 * 1024
	// DefaultMaxDepth is far deeper than any real command (FETCH's
	// BODY.PEEK[HEADER.FIELDS (...)] nests once; SEARCH nests a few times)
	// and keeps the recursive list parser's stack small.
	DefaultMaxDepth = 32
	// DefaultMaxLiterals allows a MULTIAPPEND of a few hundred messages
	// and keeps a command of empty literals from costing more.
	DefaultMaxLiterals = 1000
	// LiteralMinusMax is the largest non-synchronizing literal a
	// LITERAL- server accepts (RFC 7888 §5).
	LiteralMinusMax = 4096
)

// readChunk is the bufio size; lines longer than that are assembled in a
// per-command buffer that grows only as far as MaxLine.
const readChunk = 4096

// Kind is the syntactic kind of an argument.
type Kind uint8

// Argument kinds.
const (
	Atom   Kind = iota + 1 // an atom, including flags (\Seen), sequence sets and fetch items with [sections]
	String                 // a quoted string or a literal
	NIL                    // the atom NIL (any case)
	List                   // a parenthesized list
)

// Arg is one parsed argument.
type Arg struct {
	Kind    Kind
	Value   string // atom text or string contents; "NIL" as written for NIL
	Literal bool   // a String that arrived as a literal
	Binary  bool   // a literal8 "~{n}" (RFC 3516 §4.4), which may hold NUL
	// Streamed is a literal the Reader's Stream hook consumed: Value is
	// empty and Size is the literal's length.
	Streamed bool
	Size     int64
	List     []Arg // the items of a List
}

// AString returns the value of an astring (RFC 9051 §9: atom or string).
// NIL is an atom there, so a user called "NIL" can log in.
func (a Arg) AString() (string, bool) {
	switch a.Kind {
	case Atom, String, NIL:
		return a.Value, true
	}
	return "", false
}

// NString returns the value of an nstring: a string or NIL.
func (a Arg) NString() (s string, isNil, ok bool) {
	switch a.Kind {
	case String:
		return a.Value, false, true
	case NIL:
		return "", true, true
	}
	return "", false, false
}

// Command is one complete client command.
type Command struct {
	Tag  string
	Name string // upper-cased
	Args []Arg
}

// SyntaxError is a malformed command. It is not fatal: the reader has
// consumed the command, and the caller answers "Tag BAD Msg", or "* BAD Msg"
// when Tag is empty (no valid tag was read).
type SyntaxError struct {
	Tag  string
	Name string // the command name when it was read
	Msg  string
}

func (e *SyntaxError) Error() string { return "imap: syntax error: " + e.Msg }

// LiteralError is a synchronizing literal that was not accepted: too large,
// or refused by the Continue hook (Err). It is not fatal: the client sends
// nothing more for the command, and the caller answers it with a tagged
// response.
type LiteralError struct {
	Tag, Name string
	Size      int64
	Err       error
}

func (e *LiteralError) Error() string {
	return fmt.Sprintf("imap: literal of %d bytes refused: %v", e.Size, e.Err)
}

func (e *LiteralError) Unwrap() error { return e.Err }

// ErrLiteralTooLarge is the Err of a LiteralError over MaxLiteral.
var ErrLiteralTooLarge = errors.New("literal too large")

// ErrTooManyLiterals is the Err of a LiteralError past MaxLiterals; the
// engine answers "NO [LIMIT]".
var ErrTooManyLiterals = errors.New("too many literals")

// FatalError ends the connection: the stream cannot be resynchronized (a
// line over MaxLine, a non-synchronizing literal over the cap). The caller
// sends "* BYE Msg" and closes; when Tag is set it sends
// "Tag BAD [Code] Msg" instead (RFC 7888 §5 for a LITERAL- violation:
// the command is answered, then the connection closes).
type FatalError struct {
	Tag  string
	Code string
	Msg  string
}

func (e *FatalError) Error() string { return "imap: " + e.Msg }

// Fatal errors.
var (
	// ErrLineTooLong: the wording is Dovecot's for a full input buffer.
	ErrLineTooLong    = &FatalError{Msg: "Input buffer full, aborting"}
	ErrCommandTooLong = &FatalError{Msg: "Command too long, aborting"}
	ErrLiteralFatal   = &FatalError{Msg: "Literal too large, aborting"}
)

// Reader reads client commands from one connection.
type Reader struct {
	br  *inBuf
	lim Limits
	// Continue is called for every synchronizing literal within the
	// limits, before its data is read; it must send the continuation
	// request ("+ OK") and flush, or return an error to refuse the
	// literal. A nil Continue refuses every synchronizing literal.
	Continue func(tag, name string, size int64) error
	// Stream, when set, is asked about every literal at the top level
	// of a command before anything is sent or read for it; args are the
	// command's arguments parsed so far. A nil consume keeps the literal
	// in memory (Arg.Value, within MaxLiteral and MaxCommand). A non-nil
	// consume gets the literal's data as a reader of exactly size bytes
	// (after Continue for a synchronizing one) and the Arg is marked
	// Streamed: such a literal is not bounded by MaxLiteral or
	// MaxCommand, since it is never held, and the hook applies its own
	// cap. It is how APPEND writes a message into the store straight
	// from the socket. An error refuses the literal: a *LiteralError
	// with that Err, after the rest of the command is skipped. A
	// consume error is returned the same way, once the literal's
	// remaining data and the rest of the command are read.
	Stream func(tag, name string, args []Arg, size int64, binary bool) (consume func(io.Reader) error, err error)
	// UTF8 is set by the engine once the client enabled UTF8=ACCEPT (RFC
	// 6855) or IMAP4rev2: the literal of APPEND's "UTF8 (~{n})" data
	// extension (RFC 6855 §4), the first item of a top-level list that
	// follows the atom UTF8, is then offered to Stream too, with args
	// ending in that atom. Unset, it is an ordinary literal held within
	// MaxLiteral, and the engine refuses the command.
	UTF8 bool

	buf []byte // assembly buffer for a line longer than readChunk
}

// NewReader returns a Reader over r with the given limits.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{br: newInBuf(r), lim: lim.withDefaults()}
}

func (lim Limits) withDefaults() Limits {
	if lim.MaxLine <= 0 {
		lim.MaxLine = DefaultMaxLine
	}
	if lim.MaxLiteral <= 0 {
		lim.MaxLiteral = DefaultMaxLiteral
	}
	if lim.MaxCommand <= 0 {
		lim.MaxCommand = DefaultMaxCommand
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	if lim.MaxLiterals <= 0 {
		lim.MaxLiterals = DefaultMaxLiterals
	}
	return lim
}

// SetLimits changes the limits from the next command on (the post-login
// engine raises MaxLiteral to APPENDLIMIT).
func (r *Reader) SetLimits(lim Limits) { r.lim = lim.withDefaults() }

// Limits returns the limits in effect, defaults filled in.
func (r *Reader) Limits() Limits { return r.lim }

// Reset discards buffered input and reads from r from now on (after a
// STARTTLS handshake the plaintext buffer must not survive).
func (r *Reader) Reset(src io.Reader) { r.br.Reset(src) }

// Buffered is the number of bytes read from the connection but not consumed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// BufferedBytes returns a copy of the input read but not consumed: the
// pipelined commands a login process passes on in the handoff.
func (r *Reader) BufferedBytes() []byte {
	b, _ := r.br.Peek(r.br.Buffered())
	return append([]byte(nil), b...)
}

// Pipelined reports whether a complete line is already buffered, i.e. the
// client pipelined another command: the caller then delays its flush.
func (r *Reader) Pipelined() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	// Blank lines are skipped by ReadCommand, so they are no command: a
	// client that ends its input with an empty line must still get its
	// answers flushed.
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		if line := bytes.TrimSuffix(b[:i], []byte{'\r'}); len(line) > 0 {
			return true
		}
		b = b[i+1:]
	}
}

// readLine returns the next line without its line ending (CRLF, or a bare
// LF, which real clients send and Dovecot accepts). The slice is valid
// until the next read.
func (r *Reader) readLine() ([]byte, error) {
	if cap(r.buf) > readChunk {
		// A long line grew the assembly buffer (up to MaxLine): let it
		// go rather than keep it for the life of the session, which
		// mostly waits here for its next short command (or in IDLE).
		r.buf = nil
	}
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == nil {
			line := chunk
			if len(r.buf) > 0 {
				r.buf = append(r.buf, chunk...)
				line = r.buf
			}
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if len(line) > r.lim.MaxLine {
				return nil, ErrLineTooLong
			}
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && (len(chunk) > 0 || len(r.buf) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		// +2 leaves room for the CRLF that is not yet read.
		if len(r.buf)+len(chunk) > r.lim.MaxLine+2 {
			return nil, ErrLineTooLong
		}
		r.buf = append(r.buf, chunk...)
	}
}

// ReadCommand reads one command. Empty lines are skipped. It returns a
// *SyntaxError or *LiteralError for a bad command (not fatal), a
// *FatalError when the connection must close, or the I/O error.
func (r *Reader) ReadCommand() (*Command, error) {
	var line []byte
	for {
		l, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if len(l) > 0 {
			line = l
			break
		}
	}
	p := &parser{r: r, line: line, total: int64(len(line))}
	cmd, err := p.command()
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			// Skip what is left of the command so the next read starts
			// at the next command.
			if ferr := p.skipRest(); ferr != nil {
				return nil, ferr
			}
		}
		return nil, err
	}
	return cmd, nil
}

type parser struct {
	r     *Reader
	line  []byte
	pos   int
	total int64
	tag   string
	name  string
	// literals counts the command's literals against MaxLiterals.
	literals int
	// args are the top-level arguments parsed so far (for Stream).
	args *[]Arg
}

func (p *parser) syntax(format string, args ...any) error {
	return &SyntaxError{Tag: p.tag, Name: p.name, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eol() bool { return p.pos >= len(p.line) }

// validTagChar follows RFC 9051 §9 (tag = 1*<any ASTRING-CHAR except "+">)
// and refuses "/" as Dovecot does, so an HTTP request line ("GET / ...")
// is never echoed back as a tag.
func validTagChar(c byte) bool {
	switch c {
	case '+', '(', ')', '{', '/', ' ', '%', '*', '"', '\\':
		return false
	}
	return c > ' ' && c < 0x7f
}

// maxTag bounds an echoed tag.
const maxTag = 100

func (p *parser) command() (*Command, error) {
	start := p.pos
	for !p.eol() && p.line[p.pos] != ' ' {
		p.pos++
	}
	tag := p.line[start:p.pos]
	if len(tag) == 0 {
		return nil, p.syntax("Missing tag")
	}
	if len(tag) > maxTag {
		return nil, p.syntax("Tag too long")
	}
	for _, c := range tag {
		if !validTagChar(c) {
			return nil, p.syntax("Invalid tag")
		}
	}
	p.tag = string(tag)
	if p.eol() || p.pos+1 >= len(p.line) {
		return nil, p.syntax("Missing command name")
	}
	p.pos++ // SP
	start = p.pos
	for !p.eol() && p.line[p.pos] != ' ' {
		c := p.line[p.pos]
		if !isAtomChar(c) {
			return nil, p.syntax("Invalid command name")
		}
		p.pos++
	}
	if p.pos == start {
		return nil, p.syntax("Missing command name")
	}
	p.name = strings.ToUpper(string(p.line[start:p.pos]))
	cmd := &Command{Tag: p.tag, Name: p.name}
	p.args = &cmd.Args
	for !p.eol() {
		if p.line[p.pos] != ' ' {
			return nil, p.syntax("Expected space between arguments")
		}
		p.pos++
		if p.eol() {
			// A trailing space: some clients send one; nothing follows.
			break
		}
		a, err := p.arg(0)
		if err != nil {
			return nil, err
		}
		cmd.Args = append(cmd.Args, a)
	}
	return cmd, nil
}

// isAtomChar is ATOM-CHAR of RFC 9051 §9 plus the list wildcards and "]",
// which sequence sets, LIST patterns and fetch sections use in atom position,
// and "\" for flags.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '"':
		return false
	}
	return c > ' ' && c < 0x7f
}

func (p *parser) arg(depth int) (Arg, error) {
	switch c := p.line[p.pos]; c {
	case '(':
		return p.list(depth + 1)
	case '"':
		return p.quoted()
	case '{':
		return p.literal(false, depth == 0)
	case '~':
		// literal8 (RFC 3516 §4.4); "~" alone or before anything but
		// "{" is an atom character.
		if p.pos+1 < len(p.line) && p.line[p.pos+1] == '{' {
			p.pos++
			return p.literal(true, depth == 0)
		}
		return p.atom()
	case ')':
		return Arg{}, p.syntax("Unexpected ')'")
	default:
		return p.atom()
	}
}

func (p *parser) list(depth int) (Arg, error) {
	if depth > p.r.lim.MaxDepth {
		return Arg{}, p.syntax("Too deeply nested lists")
	}
	p.pos++ // (
	a := Arg{Kind: List, List: []Arg{}}
	utf8Data := depth == 1 && p.r.UTF8 && p.afterUTF8Atom()
	for {
		if p.eol() {
			return Arg{}, p.syntax("Missing ')'")
		}
		if p.line[p.pos] == ')' {
			p.pos++
			return a, nil
		}
		if len(a.List) > 0 {
			if p.line[p.pos] != ' ' {
				return Arg{}, p.syntax("Expected space in list")
			}
			p.pos++
			if p.eol() {
				return Arg{}, p.syntax("Missing ')'")
			}
		}
		var item Arg
		var err error
		if utf8Data && len(a.List) == 0 && p.literalAt() {
			// APPEND's UTF8 (literal8) data: streamed like a
			// top-level message literal.
			binary := p.line[p.pos] == '~'
			if binary {
				p.pos++
			}
			item, err = p.literal(binary, true)
		} else {
			item, err = p.arg(depth)
		}
		if err != nil {
			return Arg{}, err
		}
		a.List = append(a.List, item)
	}
}

// afterUTF8Atom reports whether the last top-level argument is the atom
// UTF8 (RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")").
func (p *parser) afterUTF8Atom() bool {
	args := *p.args
	if len(args) == 0 {
		return false
	}
	last := args[len(args)-1]
	return last.Kind == Atom && strings.EqualFold(last.Value, "UTF8")
}

// literalAt reports whether a literal or literal8 header starts at p.pos.
func (p *parser) literalAt() bool {
	c := p.line[p.pos]
	return c == '{' || (c == '~' && p.pos+1 < len(p.line) && p.line[p.pos+1] == '{')
}

func (p *parser) quoted() (Arg, error) {
	p.pos++ // "
	var sb strings.Builder
	for {
		if p.eol() {
			return Arg{}, p.syntax("Missing '\"'")
		}
		c := p.line[p.pos]
		p.pos++
		switch c {
		case '"':
			return Arg{Kind: String, Value: sb.String()}, nil
		case '\\':
			if p.eol() {
				return Arg{}, p.syntax("Missing '\"'")
			}
			e := p.line[p.pos]
			if e != '"' && e != '\\' {
				return Arg{}, p.syntax("Invalid escape in quoted string")
			}
			sb.WriteByte(e)
			p.pos++
		case 0:
			return Arg{}, p.syntax("NUL in quoted string")
		default:
			sb.WriteByte(c)
		}
	}
}

func (p *parser) atom() (Arg, error) {
	start := p.pos
	for !p.eol() {
		c := p.line[p.pos]
		if c == '[' {
			// A fetch section such as BODY[HEADER.FIELDS (From To)]
			// carries spaces and parentheses up to its "]".
			end := bytes.IndexByte(p.line[p.pos:], ']')
			if end < 0 {
				return Arg{}, p.syntax("Missing ']'")
			}
			for _, b := range p.line[p.pos : p.pos+end] {
				if b < ' ' || b >= 0x7f {
					return Arg{}, p.syntax("Invalid character in section")
				}
			}
			p.pos += end + 1
			continue
		}
		if c == ' ' || c == ')' || c == '(' {
			break
		}
		if !isAtomChar(c) {
			return Arg{}, p.syntax("Invalid character in atom")
		}
		p.pos++
	}
	if p.pos == start {
		return Arg{}, p.syntax("Empty atom")
	}
	v := string(p.line[start:p.pos])
	if strings.EqualFold(v, "NIL") {
		return Arg{Kind: NIL, Value: v}, nil
	}
	return Arg{Kind: Atom, Value: v}, nil
}

// parseLiteralHeader reads "{n}" or "{n+}" at p.pos, which must end the
// line. It returns the size and whether the literal is synchronizing.
func (p *parser) parseLiteralHeader() (int64, bool, error) {
	rest := p.line[p.pos:]
	if len(rest) < 3 || rest[len(rest)-1] != '}' {
		return 0, false, p.syntax("Invalid literal")
	}
	body := rest[1 : len(rest)-1]
	sync := true
	if len(body) > 0 && body[len(body)-1] == '+' {
		sync = false
		body = body[:len(body)-1]
	}
	// RFC 9051 §9: number = 1*DIGIT, fits in 32 bits.
	if len(body) == 0 || len(body) > 10 {
		return 0, false, p.syntax("Invalid literal size")
	}
	for _, c := range body {
		if c < '0' || c > '9' {
			return 0, false, p.syntax("Invalid literal size")
		}
	}
	n, err := strconv.ParseInt(string(body), 10, 64)
	if err != nil || n > 1<<32-1 {
		return 0, false, p.syntax("Invalid literal size")
	}
	p.pos = len(p.line)
	return n, sync, nil
}

// literal reads a literal whose header starts at p.pos; streamable ones
// (top-level, or APPEND's UTF8 data) are offered to the Stream hook.
func (p *parser) literal(binary, streamable bool) (Arg, error) {
	n, sync, err := p.parseLiteralHeader()
	if err != nil {
		return Arg{}, err
	}
	p.literals++
	if p.literals > p.r.lim.MaxLiterals {
		if sync {
			return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: ErrTooManyLiterals}
		}
		return Arg{}, &FatalError{Tag: p.tag, Code: "LIMIT", Msg: "Too many literals"}
	}
	if !sync && p.r.lim.MaxNonSync > 0 && n > p.r.lim.MaxNonSync {
		return Arg{}, &FatalError{Tag: p.tag, Code: "TOOBIG", Msg: "Non-synchronizing literal too large"}
	}
	if streamable && p.r.Stream != nil {
		consume, err := p.r.Stream(p.tag, p.name, *p.args, n, binary)
		if err != nil {
			return Arg{}, p.refuseLiteral(n, sync, err)
		}
		if consume != nil {
			return p.streamLiteral(n, sync, binary, consume)
		}
	}
	if sync {
		if n > p.r.lim.MaxLiteral || p.total+n > p.r.lim.MaxCommand {
			return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: ErrLiteralTooLarge}
		}
		if p.r.Continue == nil {
			return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: errors.New("synchronizing literals are not accepted here")}
		}
		if err := p.r.Continue(p.tag, p.name, n); err != nil {
			return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: err}
		}
	} else if n > p.r.lim.MaxLiteral || p.total+n > p.r.lim.MaxCommand {
		// The client sends the data without waiting: it cannot be
		// told no, and skipping up to 4 GiB is not worth it.
		return Arg{}, ErrLiteralFatal
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(p.r.br, data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Arg{}, err
	}
	p.total += n
	if err := p.nextSegment(); err != nil {
		return Arg{}, err
	}
	return Arg{Kind: String, Value: string(data), Literal: true, Binary: binary}, nil
}

// refuseLiteral answers a literal the Stream hook refused with err. A
// synchronizing one was not sent; a non-synchronizing one is on the way
// and is discarded with the rest of the command, unless it is larger than
// MaxLiteral: then the connection is not worth keeping (as for an
// oversized one in literal).
func (p *parser) refuseLiteral(n int64, sync bool, err error) error {
	lerr := &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: err}
	if sync {
		return lerr
	}
	if n > p.r.lim.MaxLiteral {
		return &FatalError{Tag: p.tag, Code: "TOOBIG", Msg: "Literal refused, aborting"}
	}
	if _, derr := p.r.br.Discard(int(n)); derr != nil {
		return derr
	}
	if ferr := p.nextSegment(); ferr != nil {
		return ferr
	}
	if ferr := p.skipRest(); ferr != nil {
		return ferr
	}
	return lerr
}

// streamLiteral hands a literal's data to consume without holding it.
// Whatever consume leaves unread is discarded so the stream stays in
// step; a read failure of the connection is returned as such, a failure
// of consume as a *LiteralError once the command is consumed.
func (p *parser) streamLiteral(n int64, sync, binary bool, consume func(io.Reader) error) (Arg, error) {
	if sync {
		if p.r.Continue == nil {
			return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: errors.New("synchronizing literals are not accepted here")}
		}
		if err := p.r.Continue(p.tag, p.name, n); err != nil {
			return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: err}
		}
	}
	src := &literalReader{r: p.r.br, left: n}
	cerr := consume(src)
	if src.err == nil && src.left > 0 {
		_, _ = io.Copy(io.Discard, src)
	}
	if src.err != nil {
		return Arg{}, src.err
	}
	if err := p.nextSegment(); err != nil {
		return Arg{}, err
	}
	if cerr != nil {
		if err := p.skipRest(); err != nil {
			return Arg{}, err
		}
		return Arg{}, &LiteralError{Tag: p.tag, Name: p.name, Size: n, Err: cerr}
	}
	return Arg{Kind: String, Literal: true, Binary: binary, Streamed: true, Size: n}, nil
}

// literalReader reads exactly left bytes of a literal and keeps the
// connection's read error apart from the consumer's own failures: an
// early EOF is io.ErrUnexpectedEOF, since the literal is incomplete.
type literalReader struct {
	r    io.Reader
	left int64
	err  error
}

func (l *literalReader) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if l.left > 0 {
			l.err = err
			return n, err
		}
	}
	return n, nil
}

// nextSegment reads the line segment that follows a literal.
func (p *parser) nextSegment() error {
	line, err := p.r.readLine()
	if err != nil {
		return err
	}
	p.total += int64(len(line))
	if p.total > p.r.lim.MaxCommand {
		return ErrCommandTooLong
	}
	p.line, p.pos = line, 0
	return nil
}

// skipRest consumes the rest of a command after a syntax error. A segment
// that ends in a non-synchronizing literal is followed by the literal's
// data and another segment, which are skipped too; a synchronizing one is
// not, since the client waits for a continuation it will not get.
func (p *parser) skipRest() error {
	for {
		rest := p.line[p.pos:]
		i := bytes.LastIndexByte(rest, '{')
		if i < 0 || !bytes.HasSuffix(rest, []byte("+}")) {
			return nil
		}
		n, err := strconv.ParseInt(string(rest[i+1:len(rest)-2]), 10, 64)
		if err != nil || n < 0 {
			return nil
		}
		if n > p.r.lim.MaxLiteral || p.total+n > p.r.lim.MaxCommand {
			return ErrLiteralFatal
		}
		if _, err := p.r.br.Discard(int(n)); err != nil {
			return err
		}
		p.total += n
		if err := p.nextSegment(); err != nil {
			return err
		}
	}
}
