package message_test

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []message.Address
	}{
		{"plain", "a@example.com", []message.Address{{Mailbox: "a", Domain: "example.com"}}},
		{"display name", `"Joe Q. Public" <joe@example.com>`,
			[]message.Address{{Name: "Joe Q. Public", Mailbox: "joe", Domain: "example.com"}}},
		{"comment as name", "joe@example.com (Joe)",
			[]message.Address{{Name: "Joe", Mailbox: "joe", Domain: "example.com"}}},
		{"encoded word kept raw", "=?utf-8?q?J=C3=BCrgen?= <j@example.de>",
			[]message.Address{{Name: "=?utf-8?q?J=C3=BCrgen?=", Mailbox: "j", Domain: "example.de"}}},
		{"empty group", "undisclosed-recipients:;",
			[]message.Address{{GroupStart: true, Mailbox: "undisclosed-recipients"}, {GroupEnd: true}}},
		{"group with members", "G: a@x, b@y;",
			[]message.Address{{GroupStart: true, Mailbox: "G"}, {Mailbox: "a", Domain: "x"}, {Mailbox: "b", Domain: "y"}, {GroupEnd: true}}},
		{"bad one does not fail the list", "broken@, ok@example.com",
			[]message.Address{{Mailbox: "broken", Domain: "SYNTAX_ERROR"}, {Mailbox: "ok", Domain: "example.com"}}},
		{"no domain", "word", []message.Address{{Mailbox: "word", Domain: "MISSING_DOMAIN"}}},
		{"name only", `"Only Name"`, []message.Address{{Name: "Only Name", Mailbox: "MISSING_MAILBOX", Domain: "MISSING_DOMAIN"}}},
		{"route", "<@r1,@r2:u@d>", []message.Address{{Route: "@r1,@r2", Mailbox: "u", Domain: "d"}}},
		{"domain literal", "u@[192.0.2.1]", []message.Address{{Mailbox: "u", Domain: "[192.0.2.1]"}}},
		{"empty", "", nil},
		{"only commas", " , ,", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := message.ParseAddressList(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseAddressList(%q)\n got: %+v\nwant: %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseSection(t *testing.T) {
	tests := []struct {
		name, in string
		want     message.Section
		str      string
		err      bool
	}{
		{name: "whole message", in: "", want: message.Section{}, str: ""},
		{name: "part path", in: "1.2.3", want: message.Section{Path: []int{1, 2, 3}}, str: "1.2.3"},
		{name: "header", in: "header", want: message.Section{Specifier: message.SpecHeader}, str: "HEADER"},
		{name: "part text", in: "2.TEXT", want: message.Section{Path: []int{2}, Specifier: message.SpecText}, str: "2.TEXT"},
		{name: "mime", in: "1.MIME", want: message.Section{Path: []int{1}, Specifier: message.SpecMIME}, str: "1.MIME"},
		{name: "fields", in: `HEADER.FIELDS (From "To")`,
			want: message.Section{Specifier: message.SpecHeaderFields, Fields: []string{"From", "To"}},
			str:  "HEADER.FIELDS (FROM TO)"},
		{name: "fields not", in: "1.HEADER.FIELDS.NOT (x-a)",
			want: message.Section{Path: []int{1}, Specifier: message.SpecHeaderFieldsNot, Fields: []string{"x-a"}},
			str:  "1.HEADER.FIELDS.NOT (X-A)"},
		{name: "mime needs a part", in: "MIME", err: true},
		{name: "trailing dot", in: "1.", err: true},
		{name: "empty field list", in: "HEADER.FIELDS ()", err: true},
		{name: "unclosed field list", in: "HEADER.FIELDS (a", err: true},
		{name: "fields missing", in: "HEADER.FIELDS", err: true},
		{name: "junk after header", in: "HEADER x", err: true},
		{name: "unknown", in: "BODY", err: true},
		{name: "huge number", in: "99999999999999999999", err: true},
		{name: "too deep", in: strings.Repeat("1.", message.MaxSectionDepth) + "1", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := message.ParseSection(tc.in)
			if tc.err {
				if !errors.Is(err, message.ErrSection) {
					t.Fatalf("ParseSection(%q) = %+v, %v; want ErrSection", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSection(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSection(%q)\n got: %+v\nwant: %+v", tc.in, got, tc.want)
			}
			if got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
		})
	}
}

func TestPartial(t *testing.T) {
	b := []byte("0123456789")
	tests := []struct {
		name   string
		off, n int64
		want   string
	}{
		{"middle", 2, 3, "234"},
		{"to the end", 8, 10, "89"},
		{"past the end", 10, 5, ""},
		{"no limit", 7, -1, "789"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(message.Partial(b, tc.off, tc.n)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSizes checks RFC822.SIZE and line counts for bare LF, CRLF and a
// missing final line end.
func TestSizes(t *testing.T) {
	tests := []struct {
		name              string
		raw               string
		size, body, lines int64
	}{
		{"crlf", "A: b\r\n\r\nx\r\ny\r\n", 14, 6, 2},
		{"bare lf", "A: b\n\nx\ny\n", 14, 6, 2},
		{"no final newline", "A: b\r\n\r\nx", 9, 1, 0},
		{"empty", "", 0, 0, 0},
		{"header only", "A: b", 4, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := message.Parse([]byte(tc.raw))
			if m.Size() != tc.size || m.Root.Body.Virtual != tc.body || m.Root.Body.Lines != tc.lines {
				t.Errorf("size %d body %d lines %d; want %d %d %d",
					m.Size(), m.Root.Body.Virtual, m.Root.Body.Lines, tc.size, tc.body, tc.lines)
			}
		})
	}
}

// TestDeepNesting: nesting past MaxNesting is cut there, not followed.
func TestDeepNesting(t *testing.T) {
	var b strings.Builder
	const depth = message.MaxNesting + 50
	for i := 0; i < depth; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strings.Repeat("x", i) + "\r\n\r\n")
		b.WriteString("--b" + strings.Repeat("x", i) + "\r\n")
	}
	b.WriteString("\r\ntext\r\n")
	m := message.Parse([]byte(b.String()))
	n := 0
	for p := m.Root; len(p.Children) > 0; p = p.Children[0] {
		n++
	}
	if n != message.MaxNesting {
		t.Errorf("nesting followed to %d, want %d", n, message.MaxNesting)
	}
	if err := m.Root.Validate(int64(b.Len())); err != nil {
		t.Fatal(err)
	}
	_ = imap.AppendBodyStructure(nil, m.Root, true)
}

// TestBinaryRoundTrip: every corpus tree survives MarshalBinary and
// UnmarshalBinary unchanged, and damage is detected.
func TestBinaryRoundTrip(t *testing.T) {
	for _, f := range corpus(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := message.Parse(raw)
		enc, err := m.Root.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var p message.Part
		if err := p.UnmarshalBinary(enc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(&p, m.Root) {
			t.Errorf("%s: tree differs after the round trip", f)
		}
		for _, i := range []int{0, 3, len(enc) / 2, len(enc) - 1} {
			bad := bytes.Clone(enc)
			bad[i] ^= 0x40
			if err := new(message.Part).UnmarshalBinary(bad); !errors.Is(err, message.ErrCorrupt) {
				t.Errorf("%s: flipped byte %d accepted (%v)", f, i, err)
			}
		}
		if err := new(message.Part).UnmarshalBinary(enc[:len(enc)-1]); !errors.Is(err, message.ErrCorrupt) {
			t.Errorf("%s: truncated encoding accepted", f)
		}
		// A tree for a different (shorter) message is refused.
		if _, err := message.New(raw[:len(raw)/2], &p); err == nil && len(raw) > 0 {
			t.Errorf("%s: tree accepted for a truncated message", f)
		}
	}
}

func TestParseReaderAt(t *testing.T) {
	raw := []byte("Subject: r\r\n\r\nbody\r\n")
	m, err := message.ParseReaderAt(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Raw, raw) || m.Size() != int64(len(raw)) {
		t.Errorf("got %q size %d", m.Raw, m.Size())
	}
	if _, err := message.ParseReaderAt(bytes.NewReader(raw), int64(len(raw))+1); err == nil {
		t.Error("short reader accepted")
	}
}

func TestBinaryDecoding(t *testing.T) {
	tests := []struct {
		name, cte, body string
		want            string
		err             bool
	}{
		{"base64", "base64", "SGVs\r\nbG8=\r\n", "Hello", false},
		{"base64 unpadded", "base64", "SGVsbG8\r\n", "Hello", false},
		{"base64 garbage", "base64", "!!!!\r\n", "", true},
		{"qp bad escape", "quoted-printable", "a=ZZ\r\n", "", true},
		{"qp", "quoted-printable", "a=3Db=\r\nc\r\n", "a=bc\r\n", false},
		{"7bit kept", "7bit", "line\n", "line\r\n", false},
		{"unknown", "x-uuencode", "begin 644 x\r\n", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := message.Parse([]byte("MIME-Version: 1.0\r\nContent-Transfer-Encoding: " + tc.cte + "\r\n\r\n" + tc.body))
			got, err := m.Binary(message.Section{Path: []int{1}})
			if tc.err {
				if !errors.Is(err, message.ErrUnknownCTE) && !errors.Is(err, message.ErrInvalidContent) {
					t.Fatalf("got %q, %v; want an error", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestPathological: inputs shaped to make a naive parser quadratic parse
// in linear time (a generous bound that only a quadratic walk exceeds:
// the first case once took minutes) and stay inside the limits.
func TestPathological(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"boundary lines only", "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n", 200000)},
		{"many embedded messages", "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\nContent-Type: message/rfc822\r\n\r\n", 50000)},
		{"nested messages", strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 50000)},
		{"unclosed comments", "To: " + strings.Repeat("a@b, (((", 100000) + "\r\n\r\n"},
		{"long header", "Subject: x\r\n" + strings.Repeat("X: y\r\n", 200000) + "\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			m := message.Parse([]byte(tc.raw))
			_ = imap.AppendBodyStructure(nil, m.Root, true)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if err := m.Root.Validate(int64(len(tc.raw))); err != nil {
				t.Error(err)
			}
		})
	}
}
