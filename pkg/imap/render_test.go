package imap

import (
	"bytes"
	"testing"

	"github.com/cote-mail/cote/pkg/message"
)

func TestAppendQuotedOrLiteral(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"empty", "", `""`},
		{"escapes", `a"b\c`, `"a\"b\\c"`},
		{"four escapes stay quoted", `""""`, `"\"\"\"\""`},
		{"five escapes become a literal", `"""""`, "{5}\r\n\"\"\"\"\""},
		{"8-bit", "caf\xe9", "{4}\r\ncaf\xe9"},
		{"line end", "a\r\nb", "{4}\r\na\r\nb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendQuotedOrLiteral(nil, tc.in)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppendForHumans(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Lunch on Thursday?", `"Lunch on Thursday?"`},
		{"encoded word kept", "=?ISO-8859-1?Q?Caf=E9?= menu", `"=?ISO-8859-1?Q?Caf=E9?= menu"`},
		{"spaces collapse into a literal", "  a   b\t c  ", "{5}\r\na b c"},
		{"folding", "a\r\n b", "{3}\r\na b"},
		{"quote forces a literal", `a "b"`, "{5}\r\na \"b\""},
		{"only white space", " \t ", `""`},
		{"NUL", "a\x00b", "{3}\r\na\x80b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendForHumans(nil, tc.in)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppendEnvelope(t *testing.T) {
	subj := "=?ISO-8859-1?Q?Caf=E9?= menu"
	tests := []struct {
		name string
		env  *message.Envelope
		want string
	}{
		{"nil", nil, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
		{"group and raw subject", &message.Envelope{
			Subject: &subj,
			From:    []message.Address{{Name: "Joe Q.", Mailbox: "joe", Domain: "example.com"}},
			To:      []message.Address{{GroupStart: true, Mailbox: "undisclosed-recipients"}, {GroupEnd: true}},
		}, `(NIL "=?ISO-8859-1?Q?Caf=E9?= menu" (("Joe Q." NIL "joe" "example.com")) NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendEnvelope(nil, tc.env)); got != tc.want {
				t.Errorf("\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestBodyStructure(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		extended bool
		want     string
	}{
		{"default type", "Subject: x\r\n\r\nhello\r\nworld\r\n", true,
			`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2 NIL NIL NIL NIL)`},
		{"basic body", "Subject: x\r\n\r\nhello\r\n", false,
			`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1)`},
		{"multipart without parts", "Content-Type: multipart/mixed\r\n\r\nx\r\n", true,
			`(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)`},
		{"attachment", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n", true,
			`(("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 4 NIL ("attachment" ("filename" "a.pdf")) NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := message.Parse([]byte(tc.raw))
			var buf bytes.Buffer
			w := NewWriter(&buf)
			w.BodyStructure(m.Root, tc.extended)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("\n got: %s\nwant: %s", buf.String(), tc.want)
			}
		})
	}
}
