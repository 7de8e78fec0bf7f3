package charset

import (
	"errors"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/imap"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, charset, in, want string
		err                     bool
	}{
		{"latin1", "ISO-8859-1", "caf\xe9", "caf\u00e9", false},
		{"latin1 lower-case alias", "latin1", "caf\xe9", "caf\u00e9", false},
		{"windows-1252", "windows-1252", "\x80", "\u20ac", false},
		{"koi8-r", "KOI8-R", "\xf0\xd2\xc9\xd7\xc5\xd4", "\u041f\u0440\u0438\u0432\u0435\u0442", false},
		{"iso-2022-jp", "ISO-2022-JP", "\x1b$B$3$s$K$A$O\x1b(B", "\u3053\u3093\u306b\u3061\u306f", false},
		{"utf-8", "UTF-8", "caf\u00e9", "caf\u00e9", false},
		{"unknown", "X-NOPE", "abc", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.charset, tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v want %q", got, err, tc.want)
			}
		})
	}
}

// TestSearchWithCharset runs the engine's path: ParseSearch with Decode.
func TestSearchWithCharset(t *testing.T) {
	r := imap.NewReader(strings.NewReader("t SEARCH CHARSET ISO-8859-1 SUBJECT {4}\r\ncaf\xe9\r\n"), imap.Limits{})
	r.Continue = func(string, string, int64) error { return nil }
	c, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	s, err := imap.ParseSearch(c.Args, false, Decode)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Key.Sub[0].Value; got != "caf\u00e9" {
		t.Errorf("decoded %q", got)
	}
	r = imap.NewReader(strings.NewReader("t SEARCH CHARSET X-NOPE ALL\r\n"), imap.Limits{})
	c, _ = r.ReadCommand()
	_, err = imap.ParseSearch(c.Args, false, Decode)
	var ae *imap.ArgError
	if !errors.As(err, &ae) || ae.Status != "NO" || ae.Code != "BADCHARSET (UTF-8 US-ASCII)" {
		t.Errorf("unknown charset: %v", err)
	}
}
