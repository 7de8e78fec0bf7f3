package imap

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func atom(s string) Arg { return Arg{Kind: Atom, Value: s} }
func str(s string) Arg  { return Arg{Kind: String, Value: s} }
func lit(s string) Arg  { return Arg{Kind: String, Value: s, Literal: true} }
func list(a ...Arg) Arg {
	if a == nil {
		a = []Arg{}
	}
	return Arg{Kind: List, List: a}
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Command
	}{
		{"noop", "a1 NOOP\r\n", &Command{Tag: "a1", Name: "NOOP"}},
		{"lower-case name", "a1 capability\r\n", &Command{Tag: "a1", Name: "CAPABILITY"}},
		{"bare LF", "a1 NOOP\n", &Command{Tag: "a1", Name: "NOOP"}},
		{"empty lines skipped", "\r\n\r\na NOOP\r\n", &Command{Tag: "a", Name: "NOOP"}},
		{"trailing space", "a NOOP \r\n", &Command{Tag: "a", Name: "NOOP"}},
		{"tag with ]", "a] NOOP\r\n", &Command{Tag: "a]", Name: "NOOP"}},
		{"login atoms", "a LOGIN user pass\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: []Arg{atom("user"), atom("pass")}}},
		{"quoted escapes", `a LOGIN "us er" "p\"a\\ss"` + "\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: []Arg{str("us er"), str(`p"a\ss`)}}},
		{"empty quoted", `a LOGIN "" ""` + "\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: []Arg{str(""), str("")}}},
		{"utf-8 quoted", "a LOGIN \"j\u00f6rg\" x\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: []Arg{str("j\u00f6rg"), atom("x")}}},
		{"NIL", "a ID NIL\r\n",
			&Command{Tag: "a", Name: "ID", Args: []Arg{{Kind: NIL, Value: "NIL"}}}},
		{"nil lower", "a ID nil\r\n",
			&Command{Tag: "a", Name: "ID", Args: []Arg{{Kind: NIL, Value: "nil"}}}},
		{"list", `a ID ("name" "x" "version" NIL)` + "\r\n",
			&Command{Tag: "a", Name: "ID", Args: []Arg{list(str("name"), str("x"), str("version"), Arg{Kind: NIL, Value: "NIL"})}}},
		{"empty list", "a ID ()\r\n",
			&Command{Tag: "a", Name: "ID", Args: []Arg{list()}}},
		{"nested list", "a X (a (b c) ())\r\n",
			&Command{Tag: "a", Name: "X", Args: []Arg{list(atom("a"), list(atom("b"), atom("c")), list())}}},
		{"sequence set and flags", `a STORE 1:*,5 +FLAGS (\Seen \Deleted)` + "\r\n",
			&Command{Tag: "a", Name: "STORE", Args: []Arg{atom("1:*,5"), atom("+FLAGS"), list(atom(`\Seen`), atom(`\Deleted`))}}},
		{"fetch section", "a FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: []Arg{atom("1"), list(atom("UID"), atom("BODY.PEEK[HEADER.FIELDS (From To)]<0.100>"))}}},
		{"literal plus", "a LOGIN {4+}\r\nuser {4+}\r\npass\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: []Arg{lit("user"), lit("pass")}}},
		{"literal with CRLF inside", "a X {4+}\r\na\r\nb\r\n",
			&Command{Tag: "a", Name: "X", Args: []Arg{lit("a\r\nb")}}},
		{"empty literal", "a X {0+}\r\n\r\n",
			&Command{Tag: "a", Name: "X", Args: []Arg{lit("")}}},
		{"literal in list", "a X (a {1+}\r\nb c)\r\n",
			&Command{Tag: "a", Name: "X", Args: []Arg{list(atom("a"), lit("b"), atom("c"))}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), Limits{})
			got, err := r.ReadCommand()
			if err != nil {
				t.Fatalf("ReadCommand: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if _, err := r.ReadCommand(); err != io.EOF {
				t.Errorf("after the command: %v, want EOF", err)
			}
		})
	}
}

func TestSyncLiteral(t *testing.T) {
	var cont []string
	in := "a LOGIN {4}\r\nuser {4}\r\npass\r\nb NOOP\r\n"
	r := NewReader(strings.NewReader(in), Limits{})
	r.Continue = func(tag, name string, n int64) error {
		cont = append(cont, tag+" "+name)
		return nil
	}
	got, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	want := &Command{Tag: "a", Name: "LOGIN", Args: []Arg{lit("user"), lit("pass")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v want %+v", got, want)
	}
	if len(cont) != 2 {
		t.Errorf("Continue called %d times, want 2", len(cont))
	}
	if c, err := r.ReadCommand(); err != nil || c.Name != "NOOP" {
		t.Errorf("next command: %v %v", c, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		lim     Limits
		refuse  bool // Continue refuses
		wantTag string
		kind    string // "syntax", "literal", "fatal"
		next    bool   // a following "z NOOP" must still parse
	}{
		{"missing name", "a\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"invalid tag", "a*b NOOP\r\nz NOOP\r\n", Limits{}, false, "", "syntax", true},
		{"plus tag", "+ NOOP\r\nz NOOP\r\n", Limits{}, false, "", "syntax", true},
		{"slash in tag", "/a NOOP\r\nz NOOP\r\n", Limits{}, false, "", "syntax", true},
		{"unterminated quote", "a LOGIN \"x\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"bad escape", "a LOGIN \"\\x\"\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"unbalanced list", "a ID (\"a\"\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"stray paren", "a X )\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"double space", "a X  b\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"literal not at end", "a X {3} y\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"literal size junk", "a X {3a}\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"literal size huge", "a X {99999999999}\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"too deep", "a X " + strings.Repeat("(", 40) + strings.Repeat(")", 40) + "\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"sync literal too large", "a X {100}\r\nz NOOP\r\n", Limits{MaxLiteral: 10}, false, "a", "literal", true},
		{"sync literal refused", "a X {5}\r\nz NOOP\r\n", Limits{}, true, "a", "literal", true},
		{"error then non-sync literal skipped", "a X \"\\q\" {5+}\r\nhello\r\nz NOOP\r\n", Limits{}, false, "a", "syntax", true},
		{"non-sync literal too large", "a X {100+}\r\n" + strings.Repeat("x", 100) + "\r\n", Limits{MaxLiteral: 10}, false, "", "fatal", false},
		{"line too long", "a X " + strings.Repeat("x", 200) + "\r\n", Limits{MaxLine: 100}, false, "", "fatal", false},
		{"line too long without LF", strings.Repeat("x", 10000), Limits{MaxLine: 100}, false, "", "fatal", false},
		{"command too long", "a X {50+}\r\n" + strings.Repeat("x", 50) + " {50+}\r\n" + strings.Repeat("y", 50) + "\r\n", Limits{MaxCommand: 80}, false, "", "fatal", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), tc.lim)
			r.Continue = func(string, string, int64) error {
				if tc.refuse {
					return errors.New("no")
				}
				return nil
			}
			_, err := r.ReadCommand()
			var se *SyntaxError
			var le *LiteralError
			var fe *FatalError
			switch {
			case errors.As(err, &se):
				if tc.kind != "syntax" || se.Tag != tc.wantTag {
					t.Fatalf("got syntax error %+v, want %s tag %q", se, tc.kind, tc.wantTag)
				}
			case errors.As(err, &le):
				if tc.kind != "literal" || le.Tag != tc.wantTag {
					t.Fatalf("got literal error %+v, want %s tag %q", le, tc.kind, tc.wantTag)
				}
			case errors.As(err, &fe):
				if tc.kind != "fatal" {
					t.Fatalf("got fatal %v, want %s", fe, tc.kind)
				}
			default:
				t.Fatalf("got %v, want a %s error", err, tc.kind)
			}
			if tc.next {
				c, err := r.ReadCommand()
				if err != nil || c.Tag != "z" || c.Name != "NOOP" {
					t.Errorf("next command: %+v %v", c, err)
				}
			}
		})
	}
}

func TestPipelined(t *testing.T) {
	r := NewReader(strings.NewReader("a NOOP\r\nb NOOP\r\nc NO"), Limits{})
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if !r.Pipelined() {
		t.Error("Pipelined = false with b NOOP buffered")
	}
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if r.Pipelined() {
		t.Error("Pipelined = true with only a partial line buffered")
	}
	if r.Buffered() != 4 {
		t.Errorf("Buffered = %d, want 4", r.Buffered())
	}
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer)
		want string
	}{
		{"tagged with code", func(w *Writer) { w.Tagged("a", "NO", "UNAVAILABLE", "x") }, "a NO [UNAVAILABLE] x\r\n"},
		{"tagged no tag", func(w *Writer) { w.Tagged("", "BAD", "", "x") }, "* BAD x\r\n"},
		{"untagged", func(w *Writer) { w.Untagged("OK hi") }, "* OK hi\r\n"},
		{"text with CRLF", func(w *Writer) { w.Untagged("a\r\nb") }, "* a  b\r\n"},
		{"continue", func(w *Writer) { w.Continue("OK") }, "+ OK\r\n"},
		{"quoted", func(w *Writer) { w.String(`a"b\c`) }, `"a\"b\\c"`},
		{"empty", func(w *Writer) { w.String("") }, `""`},
		{"literal for CRLF", func(w *Writer) { w.String("a\r\nb") }, "{4}\r\na\r\nb"},
		{"literal for 8-bit", func(w *Writer) { w.String("j\u00f6") }, "{3}\r\nj\u00f6"},
		{"astring atom", func(w *Writer) { w.AString("INBOX") }, "INBOX"},
		{"astring NIL quoted", func(w *Writer) { w.AString("NIL") }, `"NIL"`},
		{"astring space", func(w *Writer) { w.AString("a b") }, `"a b"`},
		{"nstring nil", func(w *Writer) { w.NString(nil) }, "NIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := NewWriter(&b)
			tc.do(w)
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before Flush", b.Len())
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

// TestStringRoundTrip checks that what the writer emits parses back to the
// same value.
func TestStringRoundTrip(t *testing.T) {
	for _, s := range []string{"", "x", `a"b\c`, "a\r\nb", "j\u00f6rg", strings.Repeat("y", 2000), "NIL"} {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.WriteString("a X ")
		w.AString(s)
		w.CRLF()
		_ = w.Flush()
		r := NewReader(strings.NewReader(b.String()), Limits{})
		r.Continue = func(string, string, int64) error { return nil }
		c, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("%q: %v (wire %q)", s, err, b.String())
		}
		if got, ok := c.Args[0].AString(); !ok || got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\n",
		"a LOGIN {4+}\r\nuser {4+}\r\npass\r\n",
		"a LOGIN {4}\r\nuser \"p\\\"w\"\r\n",
		"a ID (\"name\" \"x\" \"v\" NIL)\r\n",
		"a FETCH 1:* (BODY.PEEK[HEADER.FIELDS (A B)])\r\n",
		"a X \"\\q\" {3+}\r\nabc\r\nb NOOP\r\n",
		"\r\n(((\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// MaxNonSync below MaxLiteral exercises LITERAL- (RFC 7888 §5)
		// and LITERAL+ sizes; MaxLiterals is low enough to be reached.
		r := NewReader(bytes.NewReader(in), Limits{MaxLine: 512, MaxLiteral: 256, MaxCommand: 2048, MaxNonSync: 128, MaxLiterals: 8})
		r.Continue = func(string, string, int64) error { return nil }
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
			if c.Tag == "" || c.Name == "" || c.Name != strings.ToUpper(c.Name) {
				t.Fatalf("bad command %+v", c)
			}
			// A parsed command re-encodes and parses back the same.
			var b bytes.Buffer
			w := NewWriter(&b)
			w.WriteString(c.Tag + " " + c.Name)
			writeArgs(w, c.Args)
			w.CRLF()
			_ = w.Flush()
			wire := b.String()
			r2 := NewReader(strings.NewReader(wire), Limits{MaxCommand: 1 << 20})
			r2.Continue = func(string, string, int64) error { return nil }
			c2, err := r2.ReadCommand()
			if err != nil {
				t.Fatalf("re-encoded %q: %v", wire, err)
			}
			if !sameArgs(c.Args, c2.Args) {
				t.Fatalf("round trip: %+v != %+v (wire %q)", c.Args, c2.Args, wire)
			}
		}
	})
}

func writeArgs(w *Writer, args []Arg) {
	for _, a := range args {
		w.WriteString(" ")
		writeArg(w, a)
	}
}

func writeArg(w *Writer, a Arg) {
	switch a.Kind {
	case Atom, NIL:
		w.WriteString(a.Value)
	case String:
		w.String(a.Value)
	case List:
		w.WriteString("(")
		for i, x := range a.List {
			if i > 0 {
				w.WriteString(" ")
			}
			writeArg(w, x)
		}
		w.WriteString(")")
	}
}

// sameArgs compares values and kinds, not how strings were sent.
func sameArgs(a, b []Arg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].Value != b[i].Value || !sameArgs(a[i].List, b[i].List) {
			return false
		}
	}
	return true
}

// A buffered blank line is no pipelined command: ReadCommand skips it, so
// a session that waited for it would never flush its answers.
func TestPipelinedBlankLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool
	}{
		{"nothing after", "a NOOP\r\n", false},
		{"blank line", "a NOOP\r\n\r\n", false},
		{"blank lines and bare LF", "a NOOP\r\n\r\n\n\r\n", false},
		{"partial command", "a NOOP\r\nb NO", false},
		{"command", "a NOOP\r\nb NOOP\r\n", true},
		{"blank then command", "a NOOP\r\n\r\nb NOOP\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), Limits{})
			if _, err := r.ReadCommand(); err != nil {
				t.Fatal(err)
			}
			if got := r.Pipelined(); got != tc.want {
				t.Errorf("Pipelined() = %v, want %v", got, tc.want)
			}
		})
	}
}
