package testkit

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A transcript (.tr file, STYLE.md) scripts one client session:
//
//	# comment; blank lines are ignored
//	C: a1 CAPABILITY        send "a1 CAPABILITY" and CRLF
//	S: * OK ready           expect exactly this line
//	S~ \* CAPABILITY .*     expect a line matching the regexp (whole line)
//	S... a1 OK done         skip lines until one equals the text
//	S...~ a1 OK .*          skip lines until one matches the regexp
//	!starttls               upgrade the connection to TLS (client side)
//	!eof                    expect the server to close the connection
//
// `${name}` in any text is replaced from TranscriptOptions.Vars before use,
// so one file can run against cote and against a reference server; `$${`
// stands for a literal `${`. The text after `C:`, `S:` and `S...` starts
// after exactly one space, so trailing and inner spaces are significant.
// Server lines must end in CRLF.

// StepKind is one kind of transcript line.
type StepKind int

const (
	StepSend      StepKind = iota // C:
	StepExpect                    // S:
	StepMatch                     // S~
	StepSkipTo                    // S...
	StepSkipMatch                 // S...~
	StepStartTLS                  // !starttls
	StepEOF                       // !eof
)

// Step is one line of a transcript.
type Step struct {
	Line int // 1-based line in the file
	Kind StepKind
	Text string // the text or regexp, before variable substitution
}

// Transcript is a parsed .tr file.
type Transcript struct {
	Name  string
	Steps []Step
}

// maxTranscriptLine bounds one server line the runner will read.
const maxTranscriptLine = 1 << 20

// DefaultReadTimeout bounds every read of a transcript run.
const DefaultReadTimeout = 10 * time.Second

// LoadTranscript reads and parses a .tr file.
func LoadTranscript(path string) (*Transcript, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTranscript(path, src)
}

// ParseTranscript parses the text of a .tr file; errors name name:line.
func ParseTranscript(name string, src []byte) (*Transcript, error) {
	tr := &Transcript{Name: name}
	var errs []error
	for i, raw := range strings.Split(string(src), "\n") {
		line := strings.TrimSuffix(raw, "\r")
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		st := Step{Line: n}
		var ok bool
		switch {
		case trimmed == "!starttls":
			st.Kind, ok = StepStartTLS, true
		case trimmed == "!eof":
			st.Kind, ok = StepEOF, true
		default:
			for _, p := range []struct {
				prefix string
				kind   StepKind
			}{
				// Longest prefixes first: "S...~" before "S..." before "S~".
				{"S...~", StepSkipMatch},
				{"S...", StepSkipTo},
				{"S~", StepMatch},
				{"S:", StepExpect},
				{"C:", StepSend},
			} {
				rest, found := strings.CutPrefix(line, p.prefix)
				if !found {
					continue
				}
				if rest != "" && rest[0] != ' ' {
					break
				}
				st.Kind, st.Text, ok = p.kind, strings.TrimPrefix(rest, " "), true
				break
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: unknown transcript line %q (want C:, S:, S~, S..., S...~, !starttls, !eof or #)", name, n, line))
			continue
		}
		if st.Kind == StepMatch || st.Kind == StepSkipMatch {
			// Checked here so a bad pattern fails before any I/O; variables
			// are substituted with placeholders of the same syntax.
			if _, err := regexp.Compile(varRE.ReplaceAllString(st.Text, "x")); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: bad regexp: %v", name, n, err))
				continue
			}
		}
		tr.Steps = append(tr.Steps, st)
	}
	return tr, errors.Join(errs...)
}

var varRE = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z0-9_.-]*)\}`)

// expand substitutes ${name} from vars; an unknown name is an error.
func expand(s string, vars map[string]string) (string, error) {
	var err error
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		if !ok && err == nil {
			err = fmt.Errorf("unknown variable ${%s}", name)
		}
		return v
	})
	return out, err
}

// TranscriptOptions tune a run.
type TranscriptOptions struct {
	// Vars are substituted for ${name}.
	Vars map[string]string
	// TLS is the client configuration of !starttls; nil means
	// InsecureSkipVerify (the handshake is still done in full).
	TLS *tls.Config
	// ReadTimeout bounds every read; 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
}

// transcriptConn is the connection under a run: the deadline and TLS
// upgrade need a net.Conn; any io.ReadWriter works without them (reads then
// time out through a goroutine).
type transcriptConn struct {
	rw   io.ReadWriter
	conn net.Conn // nil when rw is not a net.Conn
	br   *bufio.Reader
	to   time.Duration
	// history keeps the last exchanged lines for the failure message.
	history []string
}

func (c *transcriptConn) note(dir, line string) {
	const keep = 20
	c.history = append(c.history, dir+" "+line)
	if len(c.history) > keep {
		c.history = c.history[len(c.history)-keep:]
	}
}

type readResult struct {
	line string
	err  error
}

// readLine reads one CRLF-terminated server line within the deadline.
func (c *transcriptConn) readLine() (string, error) {
	read := func() (string, error) {
		var buf []byte
		for {
			chunk, err := c.br.ReadSlice('\n')
			buf = append(buf, chunk...)
			if len(buf) > maxTranscriptLine {
				return "", fmt.Errorf("server line longer than %d bytes", maxTranscriptLine)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				if len(buf) > 0 && errors.Is(err, io.EOF) {
					return "", fmt.Errorf("connection closed after a partial line %q", buf)
				}
				return "", err
			}
			break
		}
		if !bytes.HasSuffix(buf, []byte("\r\n")) {
			return "", fmt.Errorf("server line %q does not end in CRLF", buf)
		}
		return string(buf[:len(buf)-2]), nil
	}
	if c.conn != nil {
		c.conn.SetReadDeadline(time.Now().Add(c.to))
		line, err := read()
		c.conn.SetReadDeadline(time.Time{})
		return line, err
	}
	ch := make(chan readResult, 1)
	go func() {
		l, err := read()
		ch <- readResult{l, err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-time.After(c.to):
		return "", fmt.Errorf("read timed out after %v", c.to)
	}
}

// Run plays the transcript over rw. The error names the file and line of
// the step that failed, what was expected and received, and the last lines
// exchanged.
func (tr *Transcript) Run(rw io.ReadWriter, opts TranscriptOptions) error {
	c := &transcriptConn{rw: rw, br: bufio.NewReaderSize(rw, 64<<10), to: opts.ReadTimeout}
	if c.to == 0 {
		c.to = DefaultReadTimeout
	}
	c.conn, _ = rw.(net.Conn)
	for _, st := range tr.Steps {
		if err := tr.step(c, st, opts); err != nil {
			msg := fmt.Sprintf("%s:%d: %v", tr.Name, st.Line, err)
			if len(c.history) > 0 {
				msg += "\nlast lines exchanged:\n  " + strings.Join(c.history, "\n  ")
			}
			return errors.New(msg)
		}
	}
	return nil
}

func (tr *Transcript) step(c *transcriptConn, st Step, opts TranscriptOptions) error {
	text, err := expand(st.Text, opts.Vars)
	if err != nil {
		return err
	}
	switch st.Kind {
	case StepSend:
		if c.conn != nil {
			c.conn.SetWriteDeadline(time.Now().Add(c.to))
			defer c.conn.SetWriteDeadline(time.Time{})
		}
		c.note("C:", text)
		if _, err := io.WriteString(c.rw, text+"\r\n"); err != nil {
			return fmt.Errorf("send %q: %w", text, err)
		}
	case StepExpect, StepMatch:
		line, err := c.readLine()
		if err != nil {
			return fmt.Errorf("want %s, read: %w", describe(st.Kind, text), err)
		}
		c.note("S:", line)
		if !lineOK(st.Kind, text, line) {
			return fmt.Errorf("want %s\n got %q", describe(st.Kind, text), line)
		}
	case StepSkipTo, StepSkipMatch:
		for {
			line, err := c.readLine()
			if err != nil {
				return fmt.Errorf("skipping to %s, read: %w", describe(st.Kind, text), err)
			}
			c.note("S:", line)
			if lineOK(st.Kind, text, line) {
				break
			}
		}
	case StepStartTLS:
		if c.conn == nil {
			return errors.New("!starttls needs a net.Conn")
		}
		if n := c.br.Buffered(); n > 0 {
			b, _ := c.br.Peek(n)
			return fmt.Errorf("!starttls: server sent %q before the handshake", b)
		}
		cfg := opts.TLS
		if cfg == nil {
			cfg = &tls.Config{InsecureSkipVerify: true}
		}
		tc := tls.Client(c.conn, cfg)
		tc.SetDeadline(time.Now().Add(c.to))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("!starttls: handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		c.note("--", "TLS "+tls.VersionName(tc.ConnectionState().Version))
		c.conn, c.rw = tc, tc
		c.br = bufio.NewReaderSize(tc, 64<<10)
	case StepEOF:
		line, err := c.readLine()
		if err == nil {
			c.note("S:", line)
			return fmt.Errorf("want the server to close, got %q", line)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			return fmt.Errorf("want the server to close: %w", err)
		}
		c.note("--", "closed by the server")
	}
	return nil
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset by peer")
}

func describe(k StepKind, text string) string {
	switch k {
	case StepMatch, StepSkipMatch:
		return fmt.Sprintf("a line matching %q", text)
	}
	return fmt.Sprintf("%q", text)
}

func lineOK(k StepKind, want, got string) bool {
	switch k {
	case StepMatch, StepSkipMatch:
		re, err := regexp.Compile("^(?:" + want + ")$")
		return err == nil && re.MatchString(got)
	}
	return got == want
}

// RunTranscript loads the .tr file at path and plays it over rw, failing
// the test with the file:line of the first step that does not hold.
func RunTranscript(t testing.TB, rw io.ReadWriter, path string, opts TranscriptOptions) {
	t.Helper()
	tr, err := LoadTranscript(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(rw, opts); err != nil {
		t.Fatal(err)
	}
}

// DialTranscript dials addr over TCP (TLS first when tlsConfig is not nil:
// an implicit-TLS port), plays the transcript at path and closes.
func DialTranscript(t testing.TB, addr string, tlsConfig *tls.Config, path string, opts TranscriptOptions) {
	t.Helper()
	d := &net.Dialer{Timeout: DefaultReadTimeout}
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	RunTranscript(t, conn, path, opts)
}
