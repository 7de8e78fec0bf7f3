package imap

import (
	"testing"
)

func TestMUTF7(t *testing.T) {
	tests := []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"", ""},
		{"a&b", "a&-b"},
		{"\u00e9t\u00e9", "&AOk-t&AOk-"},
		{"~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"\U0001F600", "&2D3eAA-"},
		{"a\x01b", "a&AAE-b"},
	}
	for _, tc := range tests {
		t.Run(tc.mutf7, func(t *testing.T) {
			if got := EncodeMUTF7(tc.utf8); got != tc.mutf7 {
				t.Errorf("Encode(%q) = %q want %q", tc.utf8, got, tc.mutf7)
			}
			got, err := DecodeMUTF7(tc.mutf7)
			if err != nil || got != tc.utf8 {
				t.Errorf("Decode(%q) = %q, %v want %q", tc.mutf7, got, err, tc.utf8)
			}
		})
	}
	for _, bad := range []string{"&", "&AOk", "&AOl-", "&AGE-", "&2D0-", "\u00e9", "a\x7fb", "&*-"} {
		if got, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseMailbox(t *testing.T) {
	tests := []struct{ in, want string }{
		{"inbox", "INBOX"},
		{"InBox/sub", "INBOX/sub"},
		{"INBOXES", "INBOXES"},
		{`"&AOk-"`, "\u00e9"},
		{"Inbox.x", "Inbox.x"},
	}
	for _, tc := range tests {
		got, err := ParseMailbox(parseArgs(t, tc.in)[0], '/')
		if err != nil || got != tc.want {
			t.Errorf("ParseMailbox(%s) = %q, %v want %q", tc.in, got, err, tc.want)
		}
	}
	_, err := ParseMailbox(parseArgs(t, "(x)")[0], '/')
	wantArgError(t, err, "BAD", "Invalid mailbox name")
}
