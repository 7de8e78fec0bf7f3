package authproto

import (
	"errors"
	"strings"
	"testing"
)

func TestEscapeRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, escaped string
	}{
		{"plain", "user@example.com", "user@example.com"},
		{"empty", "", ""},
		{"tab", "a\tb", "a\001tb"},
		{"crlf", "a\r\nb", "a\001r\001nb"},
		{"escape byte", "a\001b", "a\0011b"},
		{"all", "\001\t\r\n", "\0011\001t\001r\001n"},
		{"nul", "a\x00b", "a\0010b"},
		{"utf8", "Jürgen\tß", "Jürgen\001tß"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.escaped {
				t.Fatalf("Escape(%q) = %q, want %q", tt.in, got, tt.escaped)
			}
			got, err := Unescape(tt.escaped)
			if err != nil || got != tt.in {
				t.Fatalf("Unescape(%q) = %q, %v; want %q", tt.escaped, got, err, tt.in)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"nul", "a\0010b", "a\x00b", false},
		{"trailing escape", "abc\001", "", true},
		{"unknown escape", "a\001xb", "", true},
		{"escaped escape then t", "\0011t", "\001t", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unescape(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("Unescape(%q) error = %v, want error %v", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Fatalf("Unescape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"simple", "VERSION\t1\t2\n", []string{"VERSION", "1", "2"}, nil},
		{"no lf", "DONE", []string{"DONE"}, nil},
		{"crlf", "DONE\r\n", []string{"DONE"}, nil},
		{"empty fields", "A\t\tB\n", []string{"A", "", "B"}, nil},
		{"escaped", "USER\t1\ta\001tb\n", []string{"USER", "1", "a\tb"}, nil},
		{"empty line", "\n", nil, ErrMalformed},
		{"nul byte", "A\x00B\n", nil, ErrMalformed},
		{"bare cr inside", "A\rB\n", nil, ErrMalformed},
		{"bad escape", "A\001z\n", nil, ErrMalformed},
		{"too long", strings.Repeat("x", MaxLineLength+1), nil, ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseLine error = %v, want %v", err, tt.err)
			}
			if tt.err == nil && strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("ParseLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatLineRoundTrip(t *testing.T) {
	args := []string{"AUTH", "1", "PLAIN", "service=imap", "x=\t\r\n\001", ""}
	line := FormatLine(args...)
	if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("FormatLine = %q: want exactly one LF at the end", line)
	}
	got, err := ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != strings.Join(args, "|") {
		t.Fatalf("round trip = %q, want %q", got, args)
	}
}

func TestFields(t *testing.T) {
	f := ParseFields([]string{"user=bob", "secured", "reason=a=b", "empty="})
	want := Fields{{"user", "bob", true}, {"secured", "", false}, {"reason", "a=b", true}, {"empty", "", true}}
	if len(f) != len(want) {
		t.Fatalf("ParseFields = %v, want %v", f, want)
	}
	for i := range f {
		if f[i] != want[i] {
			t.Fatalf("field %d = %v, want %v", i, f[i], want[i])
		}
	}
	if v, ok := f.Get("reason"); !ok || v != "a=b" {
		t.Fatalf("Get(reason) = %q %v", v, ok)
	}
	if !f.Has("secured") || f.Has("nope") {
		t.Fatal("Has is wrong")
	}
	f.Set("user", "alice")
	f.Del("secured")
	f.AddFlag("temp")
	if got := strings.Join(f.Args(), " "); got != "user=alice reason=a=b empty= temp" {
		t.Fatalf("Args = %q", got)
	}
}
