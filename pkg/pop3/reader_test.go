package pop3

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestReadCommand(t *testing.T) {
	long := "USER " + strings.Repeat("a", MaxLine)
	fits := "USER " + strings.Repeat("a", MaxLine-len("USER ")-2)
	type result struct {
		cmd Command
		err error
	}
	tests := []struct {
		name string
		in   string
		want []result
	}{
		{"simple", "user bob\r\n", []result{{Command{"USER", []string{"bob"}, "user bob"}, nil}}},
		{"no args", "capa\r\n", []result{{Command{"CAPA", nil, "capa"}, nil}}},
		{"bare LF", "QUIT\n", []result{{Command{"QUIT", nil, "QUIT"}, nil}}},
		{"runs of spaces", "TOP  1   10\r\n", []result{{Command{"TOP", []string{"1", "10"}, "TOP  1   10"}, nil}}},
		{"empty line", "\r\n", []result{{Command{"", nil, ""}, nil}}},
		{"pipelined", "USER a\r\nPASS b c\r\n", []result{
			{Command{"USER", []string{"a"}, "USER a"}, nil},
			{Command{"PASS", []string{"b", "c"}, "PASS b c"}, nil},
		}},
		{"exactly MaxLine", fits + "\r\n", []result{{Command{"USER", []string{fits[5:]}, fits}, nil}}},
		{"too long then next", long + "\r\nNOOP\r\n", []result{
			{Command{}, ErrLineTooLong},
			{Command{"NOOP", nil, "NOOP"}, nil},
		}},
		{"far too long then next", "X" + strings.Repeat("b", 3*readBuffer) + "\r\nNOOP\r\n", []result{
			{Command{}, ErrLineTooLong},
			{Command{"NOOP", nil, "NOOP"}, nil},
		}},
		{"far too long then EOF", "X" + strings.Repeat("b", 3*readBuffer), []result{
			{Command{}, io.ErrUnexpectedEOF},
		}},
		{"partial line", "QUI", []result{{Command{}, io.ErrUnexpectedEOF}}},
		{"eof", "", []result{{Command{}, io.EOF}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			for i, w := range tt.want {
				got, err := r.ReadCommand()
				if !errors.Is(err, w.err) {
					t.Fatalf("command %d: err %v, want %v", i, err, w.err)
				}
				if !reflect.DeepEqual(got, w.cmd) {
					t.Fatalf("command %d: got %#v, want %#v", i, got, w.cmd)
				}
			}
		})
	}
}

func TestRest(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"PASS secret with  spaces ", "secret with  spaces "},
		{"PASS", ""},
		{"PASS ", ""},
	}
	for _, tt := range tests {
		if got := ParseCommand(tt.raw).Rest(); got != tt.want {
			t.Errorf("Rest(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestBufferedAndHasLine(t *testing.T) {
	r := NewReader(strings.NewReader("STLS\r\nUSER x\r\nPA"))
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Buffered(), len("USER x\r\nPA"); got != want {
		t.Errorf("Buffered = %d, want %d", got, want)
	}
	if !r.HasLine() {
		t.Error("HasLine = false with a whole line buffered")
	}
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if r.HasLine() {
		t.Error("HasLine = true with a partial line buffered")
	}
}

func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("USER bob\r\nPASS x y\r\n"))
	f.Add([]byte("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n*\r\n"))
	f.Add([]byte(strings.Repeat("x", 300) + "\nQUIT\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(strings.NewReader(string(in)))
		for range 1000 {
			c, err := r.ReadCommand()
			if err == ErrLineTooLong {
				continue
			}
			if err != nil {
				return
			}
			if len(c.Raw)+1 > MaxLine || strings.ContainsRune(c.Raw, '\n') {
				t.Fatalf("bad raw line %q", c.Raw)
			}
			if c.Name != strings.ToUpper(c.Name) {
				t.Fatalf("name not upper-cased: %q", c.Name)
			}
			for _, a := range c.Args {
				if a == "" || strings.ContainsRune(a, ' ') {
					t.Fatalf("bad arg %q", a)
				}
			}
		}
	})
}

func TestBufferedBytesAndReset(t *testing.T) {
	r := NewReader(strings.NewReader("STLS\r\nUSER x\r\n"))
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if got := string(r.BufferedBytes()); got != "USER x\r\n" {
		t.Errorf("BufferedBytes = %q", got)
	}
	r.Reset(strings.NewReader("CAPA\r\n"))
	c, err := r.ReadCommand()
	if err != nil || c.Name != "CAPA" {
		t.Errorf("after Reset: %v %v", c, err)
	}
}
