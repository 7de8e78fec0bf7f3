package imapc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Response
	}{
		{"greeting with capabilities", "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n", []Response{
			{Tag: "*", Kind: "OK", Code: "CAPABILITY", CodeArg: "IMAP4rev1 LITERAL+", Text: []byte("ready")},
		}},
		{"numeric untagged", "* 23 EXISTS\r\n* 0 RECENT\r\n", []Response{
			{Tag: "*", Num: 23, HasNum: true, Kind: "EXISTS"},
			{Tag: "*", Num: 0, HasNum: true, Kind: "RECENT"},
		}},
		{"tagged with code", "b7 NO [EXPUNGEISSUED] Some messages were expunged\r\n", []Response{
			{Tag: "b7", Kind: "NO", Code: "EXPUNGEISSUED", Text: []byte("Some messages were expunged")},
		}},
		{"lower-case keyword", "a1 ok done\r\n", []Response{
			{Tag: "a1", Kind: "OK", Text: []byte("done")},
		}},
		{"continuation", "+ go ahead\r\n+\r\n", []Response{
			{Tag: "+", Text: []byte("go ahead")},
			{Tag: "+"},
		}},
		{"fetch with literals", "* 2 FETCH (BODY[] {5}\r\nHello UID 4 BODY[1] {0}\r\n)\r\n", []Response{
			{Tag: "*", Num: 2, HasNum: true, Kind: "FETCH",
				Text:     []byte("(BODY[] {5} UID 4 BODY[1] {0})"),
				Literals: [][]byte{[]byte("Hello"), {}}},
		}},
		{"binary literal", "* 1 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02)\r\n", []Response{
			{Tag: "*", Num: 1, HasNum: true, Kind: "FETCH",
				Text:     []byte("(BINARY[1] ~{3})"),
				Literals: [][]byte{{0, 1, 2}}},
		}},
		{"braces that are text", "* OK see {abc}\r\n", []Response{
			{Tag: "*", Kind: "OK", Text: []byte("see {abc}")},
		}},
		{"search", "* SEARCH 1 4 9\r\n", []Response{
			{Tag: "*", Kind: "SEARCH", Text: []byte("1 4 9")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in))
			for i := range tc.want {
				got, err := r.ReadResponse()
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if !reflect.DeepEqual(*got, tc.want[i]) {
					t.Errorf("response %d:\n got %+v\nwant %+v", i, *got, tc.want[i])
				}
			}
			if _, err := r.ReadResponse(); err != io.EOF {
				t.Errorf("after the last response: %v, want EOF", err)
			}
		})
	}
}

func TestReadResponseErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		protocol bool // a *ProtocolError, else an I/O error
	}{
		{"bare LF", "* OK hi\n", true},
		{"empty line", "\r\n", true},
		{"no keyword", "*\r\n", true},
		{"tagged BYE", "a1 BYE no\r\n", true},
		{"tagged data", "a1 EXISTS\r\n", true},
		{"bad tag", "a\"1 OK x\r\n", true},
		{"plus tag", "a+1 OK x\r\n", true},
		{"bad keyword", "* (FETCH\r\n", true},
		{"unterminated code", "* OK [ALERT oops\r\n", true},
		{"empty code", "* OK [] x\r\n", true},
		{"number overflow", "* 99999999999 EXISTS\r\n", true},
		{"continuation junk", "+x\r\n", true},
		{"huge literal", "* 1 FETCH (BODY[] {999999999999}\r\n", true},
		{"literal over the cap", "* 1 FETCH (BODY[] {67108865}\r\n", true},
		{"line too long", "* OK " + strings.Repeat("x", MaxLine+10) + "\r\n", true},
		{"truncated literal", "* 1 FETCH (BODY[] {10}\r\nabc", false},
		{"eof mid-line", "* OK hi", false},
		{"eof after literal", "* 1 FETCH (BODY[] {3}\r\nabc", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in)).ReadResponse()
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ProtocolError
			if got := errors.As(err, &pe); got != tc.protocol {
				t.Errorf("error %v: protocol error %v, want %v", err, got, tc.protocol)
			}
			if !tc.protocol && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v, want unexpected EOF", err)
			}
		})
	}
}

// FuzzResponse feeds arbitrary server output to the reader: it must never
// panic, and what it returns must keep the reader's limits.
func FuzzResponse(f *testing.F) {
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1] hi\r\n"))
	f.Add([]byte("* 3 FETCH (UID 7 BODY[] {4}\r\nabcd)\r\nb1 OK done\r\n"))
	f.Add([]byte("+ \r\n"))
	f.Add([]byte("b2 NO [EXPUNGEISSUED] gone\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 100 {
			resp, err := r.ReadResponse()
			if err != nil {
				return
			}
			if resp.Tag == "" {
				t.Fatal("response without tag")
			}
			if len(resp.Literals) > maxLiterals {
				t.Fatalf("%d literals", len(resp.Literals))
			}
			if resp.Tag != "*" && resp.Tag != "+" && !resp.IsStatus() {
				t.Fatalf("tagged response of kind %q", resp.Kind)
			}
		}
	})
}

// BenchmarkReadResponse measures the client's cost per FETCH response, so
// a benchmark run can tell that the load generator is not the bottleneck.
func BenchmarkReadResponse(b *testing.B) {
	var buf bytes.Buffer
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&buf, "* %d FETCH (UID %d FLAGS (\\Seen $Label1) BODY[] {40}\r\n%s)\r\n", i, i, strings.Repeat("x", 40))
	}
	buf.WriteString("b1 OK Fetch completed.\r\n")
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		for {
			resp, err := r.ReadResponse()
			if err != nil {
				b.Fatal(err)
			}
			if resp.Tag != "*" {
				break
			}
		}
	}
}
