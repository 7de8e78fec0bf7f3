package pop3

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestStatusLines(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer)
		want string
	}{
		{"ok empty", func(w *Writer) { w.OK("") }, "+OK\r\n"},
		{"ok text", func(w *Writer) { w.OK("Logged in.") }, "+OK Logged in.\r\n"},
		{"ok verbatim percent", func(w *Writer) { ok := w.OK; ok("100%") }, "+OK 100%\r\n"},
		{"ok format", func(w *Writer) { w.OK("%d %d", 2, 320) }, "+OK 2 320\r\n"},
		{"err code", func(w *Writer) { w.Err("AUTH", "Authentication failed.") }, "-ERR [AUTH] Authentication failed.\r\n"},
		{"err no code", func(w *Writer) { w.Err("", "Unknown command.") }, "-ERR Unknown command.\r\n"},
		{"err injection", func(w *Writer) { w.Err("", "x\r\n+OK y") }, "-ERR x  +OK y\r\n"},
		{"cont", func(w *Writer) { w.Cont("") }, "+ \r\n"},
		{"cont data", func(w *Writer) { w.Cont("PDE+") }, "+ PDE+\r\n"},
		{"lines", func(w *Writer) { w.OK("Capability list follows"); w.Line("TOP"); w.Line(".x"); w.End() },
			"+OK Capability list follows\r\nTOP\r\n..x\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w := NewWriter(&b)
			tt.do(w)
			if b.Len() != 0 {
				t.Fatal("wrote before Flush")
			}
			if w.Buffered() != len(tt.want) {
				t.Errorf("Buffered = %d, want %d", w.Buffered(), len(tt.want))
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

var bodyTests = []struct {
	name string
	in   string
	want string
}{
	{"empty", "", "\r\n"}, // one empty line, as Dovecot sends
	{"crlf", "A: b\r\n\r\nbody\r\n", "A: b\r\n\r\nbody\r\n"},
	{"no final newline", "A: b\r\n\r\nbody", "A: b\r\n\r\nbody\r\n"},
	{"bare lf", "A: b\n\nl1\nl2\n", "A: b\r\n\r\nl1\r\nl2\r\n"},
	{"bare cr", "A: b\r\rx\ry", "A: b\r\n\r\nx\r\ny\r\n"},
	{"final cr", "x\r", "x\r\n"},
	{"dots", ".\r\n..\r\n.x\n x.\r\n.", "..\r\n...\r\n..x\r\n x.\r\n..\r\n"},
	{"dot after cr", "a\r.b", "a\r\n..b\r\n"},
}

func TestBody(t *testing.T) {
	for _, tt := range bodyTests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte at a time to cross every chunk boundary.
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				var b bytes.Buffer
				w := NewWriter(&b)
				if err := w.Body(r); err != nil {
					t.Fatal(err)
				}
				_ = w.Flush()
				if got := b.String(); got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestBodyLines(t *testing.T) {
	msg := "A: 1\r\nB: 2\n\r\nl1\r\n.l2\nl3\rl4\r\n"
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"zero", msg, 0, "A: 1\r\nB: 2\r\n\r\n"},
		{"negative", msg, -3, "A: 1\r\nB: 2\r\n\r\n"},
		{"two", msg, 2, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n"},
		{"three bare cr", msg, 3, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n"},
		{"more than there are", msg, 100, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\nl4\r\n"},
		{"no blank line", "A: 1\r\nB: 2", 5, "A: 1\r\nB: 2\r\n"},
		{"no header", "\r\nbody\r\nmore", 1, "\r\nbody\r\n"},
		{"last line unterminated", "A: 1\n\nbody", 1, "A: 1\r\n\r\nbody\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				var b bytes.Buffer
				w := NewWriter(&b)
				if err := w.BodyLines(r, tt.n); err != nil {
					t.Fatal(err)
				}
				_ = w.Flush()
				if got := b.String(); got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestBodyErrors(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(io.Discard)
	if err := w.Body(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error: got %v", err)
	}
	w = NewWriter(failWriter{boom})
	big := strings.NewReader(strings.Repeat("line\r\n", 10000))
	if err := w.Body(big); !errors.Is(err, boom) {
		t.Errorf("write error: got %v", err)
	}
	if big.Len() == 0 {
		t.Error("Body read the whole message after the connection failed")
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// unstuff undoes multi-line framing the way a client does (RFC 1939 §3).
func unstuff(s string) string {
	lines := strings.SplitAfter(s, "\r\n")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimPrefix(l, "."))
	}
	return b.String()
}

func FuzzBody(f *testing.F) {
	for _, tt := range bodyTests {
		f.Add([]byte(tt.in), 1)
	}
	f.Fuzz(func(t *testing.T, in []byte, n int) {
		var b bytes.Buffer
		w := NewWriter(&b)
		if err := w.Body(bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		w.End()
		_ = w.Flush()
		out := b.String()
		if !strings.HasSuffix(out, ".\r\n") {
			t.Fatal("no terminator")
		}
		data := out[:len(out)-3]
		if strings.Contains("\r\n"+data, "\r\n.\r\n") {
			t.Fatalf("early terminator in %q", out)
		}
		if strings.Count(data, "\n") != strings.Count(data, "\r\n") || strings.Count(data, "\r") != strings.Count(data, "\r\n") {
			t.Fatalf("bare CR or LF in %q", out)
		}
		// Content survives apart from line endings.
		norm := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(string(in), "\r\n", "\n"), "\r", "\n"), "\n", "")
		if got := strings.ReplaceAll(unstuff(data), "\r\n", ""); got != norm {
			t.Fatalf("content changed: %q -> %q", in, out)
		}
		// TOP output is a prefix of the whole.
		var tb bytes.Buffer
		tw := NewWriter(&tb)
		if err := tw.BodyLines(bytes.NewReader(in), n%50); err != nil {
			t.Fatal(err)
		}
		_ = tw.Flush()
		if !strings.HasPrefix(data, tb.String()) {
			t.Fatalf("TOP %d %q not a prefix of %q", n%50, tb.String(), data)
		}
	})
}

// BenchmarkBody measures RETR's conversion of a 1 MiB CRLF message with
// some lines to stuff.
func BenchmarkBody(b *testing.B) {
	var msg bytes.Buffer
	msg.WriteString("Subject: bench\r\n\r\n")
	for msg.Len() < 1<<20 {
		msg.WriteString("a line of text of about seventy characters, as mail bodies have it\r\n")
		msg.WriteString(".a stuffed line\r\n")
	}
	w := NewWriter(io.Discard)
	b.SetBytes(int64(msg.Len()))
	b.ResetTimer()
	for b.Loop() {
		if err := w.Body(bytes.NewReader(msg.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
