package format

import (
	"errors"
	"testing"
)

func TestMUTF7(t *testing.T) {
	tests := []struct {
		name string
		utf8 string
		enc  string
	}{
		// RFC 3501 §5.1.3 example.
		{"rfc 3501", "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"ampersand", "Tom & Jerry", "Tom &- Jerry"},
		{"latin", "Ärger", "&AMQ-rger"},
		{"plain", "Sent Messages", "Sent Messages"},
		{"astral plane", "mail 😀", "mail &2D3eAA-"},
		{"control char encoded", "a\tb", "a&AAk-b"},
		{"mixed runs", "éaé", "&AOk-a&AOk-"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EncodeMUTF7(tc.utf8); got != tc.enc {
				t.Errorf("Encode(%q) = %q, want %q", tc.utf8, got, tc.enc)
			}
			got, err := DecodeMUTF7(tc.enc)
			if err != nil || got != tc.utf8 {
				t.Errorf("Decode(%q) = %q, %v, want %q", tc.enc, got, err, tc.utf8)
			}
		})
	}
}

func TestDecodeMUTF7Invalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"unterminated", "&AMQ"},
		{"raw 8-bit", "Ä"},
		{"raw control", "a\x01"},
		{"bad base64 char", "&A/Q-"},
		{"encoded printable ascii", "&AGE-"},
		{"nonzero padding bits", "&AMR-"},
		{"lone high surrogate", "&2D0-"},
		{"lone low surrogate", "&3gA-"},
		{"too many pad bits", "&AMQA-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := DecodeMUTF7(tc.in); !errors.Is(err, ErrInvalidMUTF7) {
				t.Errorf("Decode(%q) = %q, %v, want ErrInvalidMUTF7", tc.in, got, err)
			}
		})
	}
}
