package imap

import (
	"bytes"
	"testing"
)

func TestMetadataEntry(t *testing.T) {
	tests := []struct {
		in, want string
		leaf, ok bool
	}{
		{"/private/comment", "/private/comment", true, true},
		{"/Shared/Comment/X", "/shared/comment/x", true, true},
		{"/private", "/private", false, true},
		{"/shared", "/shared", false, true},
		{"/shared/", "", false, false},
		{"/shared//a", "", false, false},
		{"/sharedx", "", false, false},
		{"/other/a", "", false, false},
		{"private/a", "", false, false},
		{"/private/a*", "", false, false},
		{"/private/a%", "", false, false},
		{"/private/a b", "", false, false},
		{"/private/\xc3\xa9", "", false, false},
		{"/shared/vendor/cote/x", "/shared/vendor/cote/x", true, true},
		{"/shared/vendor/cote", "/shared/vendor/cote", false, true},
		{"/private/vendor", "/private/vendor", false, true},
		{"/private/vendorx", "/private/vendorx", true, true},
	}
	for _, tc := range tests {
		got, leaf, ok := MetadataEntry(tc.in)
		if got != tc.want || leaf != tc.leaf || ok != tc.ok {
			t.Errorf("MetadataEntry(%q) = %q %v %v, want %q %v %v", tc.in, got, leaf, ok, tc.want, tc.leaf, tc.ok)
		}
	}
}

func TestMetadataResponse(t *testing.T) {
	tests := []struct {
		name   string
		values [][]byte
		want   string
	}{
		{"quoted", [][]byte{[]byte(`say "hi"`)}, "* METADATA INBOX (/private/a \"say \\\"hi\\\"\")\r\n"},
		{"nil", [][]byte{nil}, "* METADATA INBOX (/private/a NIL)\r\n"},
		{"literal", [][]byte{[]byte("a\r\nb")}, "* METADATA INBOX (/private/a {4}\r\na\r\nb)\r\n"},
		{"literal8", [][]byte{[]byte("a\x00b")}, "* METADATA INBOX (/private/a ~{3}\r\na\x00b)\r\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.MetadataResponse("INBOX", []string{"/private/a"}, tc.values)
		w.Flush()
		if b.String() != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, b.String(), tc.want)
		}
	}
}
