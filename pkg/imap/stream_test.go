package imap

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestStream: the Stream hook takes top-level literals out of the
// command and hands them to a consumer; refusals and consumer failures
// leave the reader at the next command.
func TestStream(t *testing.T) {
	errRefused := errors.New("refused")
	errSave := errors.New("save failed")
	tests := []struct {
		name string
		in   string
		// refuse refuses the literal with this index (0-based, among
		// the streamed ones); fail makes its consumer fail after
		// reading partial bytes.
		refuse, fail int
		partial      int
		want         []Arg  // on success
		got          string // what the consumers read, joined by "|"
		conts        int    // continuation requests sent
		lit          error  // LiteralError Err
		fatal        string // FatalError Code
		eof          bool   // io.ErrUnexpectedEOF
		next         bool   // "z NOOP" parses afterwards
		utf8         bool   // Reader.UTF8 (ENABLE UTF8=ACCEPT)
	}{
		{name: "non-sync", in: "a APPEND INBOX {5+}\r\nhello\r\nz NOOP\r\n", refuse: -1, fail: -1,
			want: []Arg{atom("INBOX"), {Kind: String, Literal: true, Streamed: true, Size: 5}}, got: "hello", next: true},
		{name: "sync", in: "a APPEND INBOX (\\Seen) {5}\r\nhello\r\nz NOOP\r\n", refuse: -1, fail: -1,
			want: []Arg{atom("INBOX"), list(atom(`\Seen`)), {Kind: String, Literal: true, Streamed: true, Size: 5}}, got: "hello", conts: 1, next: true},
		{name: "several and literal8", in: "a APPEND INBOX {2}\r\nab ~{3+}\r\nc\x00d\r\nz NOOP\r\n", refuse: -1, fail: -1,
			want: []Arg{atom("INBOX"), {Kind: String, Literal: true, Streamed: true, Size: 2}, {Kind: String, Literal: true, Binary: true, Streamed: true, Size: 3}},
			got:  "ab|c\x00d", conts: 1, next: true},
		{name: "over MaxLiteral", in: "a APPEND INBOX {70000+}\r\n" + strings.Repeat("x", 70000) + "\r\nz NOOP\r\n", refuse: -1, fail: -1,
			want: []Arg{atom("INBOX"), {Kind: String, Literal: true, Streamed: true, Size: 70000}}, got: strings.Repeat("x", 70000), next: true},
		{name: "nested literal stays in memory", in: "a APPEND INBOX ({1+}\r\nx)\r\nz NOOP\r\n", refuse: -1, fail: -1,
			want: []Arg{atom("INBOX"), list(lit("x"))}, next: true},
		{name: "UTF8 data", in: "a APPEND INBOX UTF8 (~{5+}\r\nh\xc3\xa9lo)\r\nz NOOP\r\n", refuse: -1, fail: -1, utf8: true,
			want: []Arg{atom("INBOX"), atom("UTF8"), list(Arg{Kind: String, Literal: true, Binary: true, Streamed: true, Size: 5})}, got: "h\xc3\xa9lo", next: true},
		{name: "UTF8 data sync over MaxLiteral", in: "a APPEND INBOX (\\Seen) utf8 (~{70000}\r\n" + strings.Repeat("x", 70000) + ")\r\nz NOOP\r\n", refuse: -1, fail: -1, utf8: true,
			want: []Arg{atom("INBOX"), list(atom(`\Seen`)), atom("utf8"), list(Arg{Kind: String, Literal: true, Binary: true, Streamed: true, Size: 70000})},
			got:  strings.Repeat("x", 70000), conts: 1, next: true},
		{name: "UTF8 data not enabled", in: "a APPEND INBOX UTF8 (~{2+}\r\nhi)\r\nz NOOP\r\n", refuse: -1, fail: -1,
			want: []Arg{atom("INBOX"), atom("UTF8"), list(Arg{Kind: String, Value: "hi", Literal: true, Binary: true})}, next: true},
		{name: "UTF8 second item stays in memory", in: "a APPEND INBOX UTF8 (~{2+}\r\nhi {1+}\r\nx)\r\nz NOOP\r\n", refuse: -1, fail: -1, utf8: true,
			want: []Arg{atom("INBOX"), atom("UTF8"), list(Arg{Kind: String, Literal: true, Binary: true, Streamed: true, Size: 2}, lit("x"))}, got: "hi", next: true},
		{name: "refused sync", in: "a APPEND INBOX {5}\r\nz NOOP\r\n", refuse: 0, fail: -1, lit: errRefused, next: true},
		{name: "refused non-sync", in: "a APPEND INBOX {5+}\r\nhello {1+}\r\nx\r\nz NOOP\r\n", refuse: 0, fail: -1, lit: errRefused, next: true},
		{name: "refused second", in: "a APPEND INBOX {1}\r\na {5}\r\nz NOOP\r\n", refuse: 1, fail: -1, got: "a", conts: 1, lit: errRefused, next: true},
		{name: "refused non-sync over MaxLiteral", in: "a APPEND INBOX {70000+}\r\n", refuse: 0, fail: -1, fatal: "TOOBIG"},
		{name: "consumer fails", in: "a APPEND INBOX {5+}\r\nhello {3+}\r\nabc\r\nz NOOP\r\n", refuse: -1, fail: 0, partial: 2, got: "he", lit: errSave, next: true},
		{name: "consumer reads part", in: "a APPEND INBOX {5+}\r\nhello\r\nz NOOP\r\n", refuse: -1, fail: -1, partial: 2,
			want: []Arg{atom("INBOX"), {Kind: String, Literal: true, Streamed: true, Size: 5}}, got: "he", next: true},
		{name: "connection lost", in: "a APPEND INBOX {5+}\r\nhel", refuse: -1, fail: -1, got: "hel", eof: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), Limits{})
			r.UTF8 = tc.utf8
			conts := 0
			r.Continue = func(tag, name string, size int64) error { conts++; return nil }
			var got []string
			n := 0
			r.Stream = func(tag, name string, args []Arg, size int64, binary bool) (func(io.Reader) error, error) {
				if len(args) == 0 {
					return nil, nil
				}
				i := n
				n++
				if i == tc.refuse {
					return nil, errRefused
				}
				return func(src io.Reader) error {
					var b []byte
					var err error
					if tc.partial > 0 {
						b = make([]byte, tc.partial)
						_, err = io.ReadFull(src, b)
					} else {
						b, err = io.ReadAll(src)
					}
					got = append(got, string(b))
					if err != nil {
						return err
					}
					if i == tc.fail {
						return errSave
					}
					return nil
				}, nil
			}
			cmd, err := r.ReadCommand()
			var le *LiteralError
			var fe *FatalError
			switch {
			case tc.lit != nil:
				if !errors.As(err, &le) || !errors.Is(le.Err, tc.lit) {
					t.Fatalf("err = %v, want a LiteralError of %v", err, tc.lit)
				}
			case tc.fatal != "":
				if !errors.As(err, &fe) || fe.Code != tc.fatal {
					t.Fatalf("err = %v, want a FatalError %s", err, tc.fatal)
				}
			case tc.eof:
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(cmd.Args, tc.want) {
					t.Errorf("args %+v, want %+v", cmd.Args, tc.want)
				}
			}
			if g := strings.Join(got, "|"); g != tc.got {
				t.Errorf("consumers read %q, want %q", g, tc.got)
			}
			if conts != tc.conts {
				t.Errorf("%d continuation requests, want %d", conts, tc.conts)
			}
			if tc.next {
				cmd, err := r.ReadCommand()
				if err != nil || cmd.Name != "NOOP" {
					t.Errorf("next command %+v, %v, want NOOP", cmd, err)
				}
			}
		})
	}
}

// repeatReader yields n bytes of a pattern without holding them.
type repeatReader struct {
	pat []byte
	n   int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(b) && k < r.n {
		k += copy(b[k:min(len(b), r.n)], r.pat)
	}
	r.n -= k
	return k, nil
}

// TestStreamMemory: a 20 MiB streamed literal costs the reader a small,
// fixed amount of memory, not its size.
func TestStreamMemory(t *testing.T) {
	const size = 20 << 20
	src := io.MultiReader(strings.NewReader("a APPEND INBOX {20971520+}\r\n"),
		&repeatReader{pat: bytes.Repeat([]byte("abcdefgh"), 512), n: size},
		strings.NewReader("\r\n"))
	r := NewReader(src, Limits{})
	var read int64
	r.Stream = func(tag, name string, args []Arg, n int64, binary bool) (func(io.Reader) error, error) {
		return func(src io.Reader) error {
			var err error
			read, err = io.Copy(io.Discard, src)
			return err
		}, nil
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cmd, err := r.ReadCommand()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if read != size || cmd.Args[1].Size != size {
		t.Errorf("read %d, Size %d, want %d", read, cmd.Args[1].Size, size)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("allocated %d bytes to stream a %d-byte literal", grown, size)
	}
}

// FuzzStream reads commands with a Stream hook that refuses, fails or
// reads part of every third literal: whatever the input, the reader ends
// each command in step (the literal sizes it reports add up to what the
// consumers were offered) and never panics.
func FuzzStream(f *testing.F) {
	for _, s := range []string{
		"a APPEND INBOX {5+}\r\nhello\r\nb NOOP\r\n",
		"a APPEND INBOX (\\Seen) {3}\r\nabc {2+}\r\nde ~{1+}\r\nf\r\n",
		"a APPEND {5+}\r\nINBOX {0}\r\n\r\n",
		"a APPEND INBOX {1+}\r\nx {9999+}\r\nabc",
		"a APPEND INBOX ({2+}\r\nab) {1}\r\nc\r\n",
		"a APPEND INBOX UTF8 (~{5+}\r\nh\xc3\xa9lo) UTF8 (~{1}\r\nx)\r\n",
		"a APPEND INBOX UTF8 ({3+}\r\nabc ~{1+}\r\nx) utf8 (~{999+}\r\nab",
	} {
		f.Add([]byte(s))
	}
	errRefused := errors.New("refused")
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), Limits{MaxLine: 512, MaxLiteral: 256, MaxCommand: 2048, MaxLiterals: 8})
		r.Continue = func(string, string, int64) error { return nil }
		// Both ways of reading APPEND's UTF8 data item (RFC 6855).
		r.UTF8 = len(in)%2 == 0
		n := 0
		r.Stream = func(tag, name string, args []Arg, size int64, binary bool) (func(io.Reader) error, error) {
			if len(args) == 0 {
				return nil, nil
			}
			n++
			switch n % 4 {
			case 1:
				return nil, errRefused
			case 2:
				return func(src io.Reader) error {
					_, err := io.CopyN(io.Discard, src, size/2)
					return err
				}, nil
			}
			return func(src io.Reader) error {
				got, err := io.Copy(io.Discard, src)
				if err == nil && got != size {
					t.Fatalf("consumer read %d bytes of a %d-byte literal", got, size)
				}
				return err
			}, nil
		}
		for i := 0; i < 100; i++ {
			c, err := r.ReadCommand()
			if err != nil {
				var se *SyntaxError
				var le *LiteralError
				if errors.As(err, &se) || errors.As(err, &le) {
					continue
				}
				return
			}
			for _, a := range c.Args {
				if a.Streamed && (a.Value != "" || a.Size < 0) {
					t.Fatalf("streamed arg %+v", a)
				}
			}
		}
	})
}
