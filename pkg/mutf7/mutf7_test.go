package mutf7

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestCodec(t *testing.T) {
	for _, tc := range []struct{ name, utf8, wire string }{
		{"ascii", "INBOX/Sent", "INBOX/Sent"},
		{"ampersand", "a&b", "a&-b"},
		{"latin", "\u00e9t\u00e9", "&AOk-t&AOk-"},
		{"rfc 3501 example", "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"astral", "\U0001F600", "&2D3eAA-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Encode(tc.utf8); got != tc.wire {
				t.Errorf("Encode(%q) = %q, want %q", tc.utf8, got, tc.wire)
			}
			if got, err := Decode(tc.wire); err != nil || got != tc.utf8 {
				t.Errorf("Decode(%q) = %q, %v; want %q", tc.wire, got, err, tc.utf8)
			}
		})
	}
	// Not modified UTF-7: an unterminated shift, a shift of printable
	// ASCII, bad base64.
	for _, bad := range []string{"&AOk", "&AGE-", "&*-"} {
		if _, err := Decode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q): error %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "a&b", "\u00e9t\u00e9", "&AOk-", "&2D3eAA-", "&", "\U0001F600x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := Encode(s)
		if utf8.ValidString(s) {
			if dec, err := Decode(enc); err != nil || dec != s {
				t.Fatalf("round trip of %q via %q: %q, %v", s, enc, dec, err)
			}
		}
		// What decodes is valid UTF-8 and survives another round trip.
		if dec, err := Decode(s); err == nil {
			if !utf8.ValidString(dec) {
				t.Fatalf("Decode(%q) = %q: not UTF-8", s, dec)
			}
			if again, err := Decode(Encode(dec)); err != nil || again != dec {
				t.Fatalf("Decode(%q) = %q does not round trip: %q, %v", s, dec, again, err)
			}
		}
	})
}
