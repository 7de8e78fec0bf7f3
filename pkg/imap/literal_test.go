package imap

import (
	"errors"
	"strings"
	"testing"
)

func TestLiteral8AndLimits(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lim   Limits
		want  []Arg  // for success
		fatal string // FatalError Code ("" for a plain fatal), or
		lit   error  // LiteralError Err
		next  bool   // "z NOOP" parses afterwards
	}{
		{"literal8 sync", "a APPEND INBOX ~{3}\r\na\x00b\r\nz NOOP\r\n", Limits{},
			[]Arg{atom("INBOX"), {Kind: String, Value: "a\x00b", Literal: true, Binary: true}}, "", nil, true},
		{"literal8 non-sync", "a APPEND INBOX ~{2+}\r\nab\r\nz NOOP\r\n", Limits{},
			[]Arg{atom("INBOX"), {Kind: String, Value: "ab", Literal: true, Binary: true}}, "", nil, true},
		{"tilde atom", "a X ~a ~\r\nz NOOP\r\n", Limits{}, []Arg{atom("~a"), atom("~")}, "", nil, true},
		{"literal count", "a X {1+}\r\na {1+}\r\nb {1+}\r\nc\r\n", Limits{MaxLiterals: 2}, nil, "LIMIT", nil, false},
		{"literal count sync", "a X {1+}\r\na {1+}\r\nb {1}\r\nz NOOP\r\n", Limits{MaxLiterals: 2}, nil, "", ErrTooManyLiterals, true},
		{"literal minus within", "a X {4096+}\r\n" + strings.Repeat("x", 4096) + "\r\nz NOOP\r\n", Limits{MaxNonSync: LiteralMinusMax},
			[]Arg{lit(strings.Repeat("x", 4096))}, "", nil, true},
		{"literal minus over", "a X {4097+}\r\n" + strings.Repeat("x", 4097) + "\r\n", Limits{MaxNonSync: LiteralMinusMax}, nil, "TOOBIG", nil, false},
		{"literal minus sync is fine", "a X {5000}\r\n" + strings.Repeat("x", 5000) + "\r\nz NOOP\r\n", Limits{MaxNonSync: LiteralMinusMax},
			[]Arg{lit(strings.Repeat("x", 5000))}, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), tc.lim)
			r.Continue = func(string, string, int64) error { return nil }
			c, err := r.ReadCommand()
			var fe *FatalError
			var le *LiteralError
			switch {
			case tc.want != nil:
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Args) != len(tc.want) {
					t.Fatalf("got %+v want %+v", c.Args, tc.want)
				}
				for i := range c.Args {
					g, w := c.Args[i], tc.want[i]
					if g.Kind != w.Kind || g.Value != w.Value || g.Literal != w.Literal || g.Binary != w.Binary {
						t.Errorf("arg %d: got %+v want %+v", i, g, w)
					}
				}
			case tc.lit != nil:
				if !errors.As(err, &le) || !errors.Is(le.Err, tc.lit) || le.Tag != "a" {
					t.Fatalf("got %v, want LiteralError %v", err, tc.lit)
				}
			default:
				if !errors.As(err, &fe) || fe.Code != tc.fatal || fe.Tag != "a" {
					t.Fatalf("got %#v, want FatalError tag a code %q", err, tc.fatal)
				}
			}
			if tc.next {
				c, err := r.ReadCommand()
				if err != nil || c.Tag != "z" {
					t.Errorf("next command: %+v %v", c, err)
				}
			}
		})
	}
}

func TestSetLimits(t *testing.T) {
	r := NewReader(strings.NewReader("a X {20+}\r\n"+strings.Repeat("x", 20)+"\r\n"), Limits{MaxLiteral: 10})
	if got := r.Limits().MaxLiteral; got != 10 {
		t.Fatalf("MaxLiteral %d", got)
	}
	r.SetLimits(Limits{MaxLiteral: 100})
	if _, err := r.ReadCommand(); err != nil {
		t.Fatalf("after SetLimits: %v", err)
	}
	if got := r.Limits(); got.MaxLine != DefaultMaxLine || got.MaxLiterals != DefaultMaxLiterals {
		t.Errorf("defaults not filled in: %+v", got)
	}
}
