package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/message"
)

func TestParseFetchItems(t *testing.T) {
	hdr := message.Section{Specifier: message.SpecHeader}
	tests := []struct {
		name  string
		in    string
		want  []FetchItem
		names []string // ResponseName of each
	}{
		{"macro ALL", "all", []FetchItem{{Attr: FetchFlags}, {Attr: FetchInternalDate}, {Attr: FetchRFC822Size}, {Attr: FetchEnvelope}},
			[]string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}},
		{"macro FAST", "FAST", []FetchItem{{Attr: FetchFlags}, {Attr: FetchInternalDate}, {Attr: FetchRFC822Size}}, nil},
		{"macro FULL", "FULL", []FetchItem{{Attr: FetchFlags}, {Attr: FetchInternalDate}, {Attr: FetchRFC822Size}, {Attr: FetchEnvelope}, {Attr: FetchBody}}, nil},
		{"single", "uid", []FetchItem{{Attr: FetchUID}}, []string{"UID"}},
		{"simple list", "(UID FLAGS BODYSTRUCTURE BODY RFC822.SIZE)", []FetchItem{{Attr: FetchUID}, {Attr: FetchFlags}, {Attr: FetchBodyStructure}, {Attr: FetchBody}, {Attr: FetchRFC822Size}}, nil},
		{"rfc822 forms", "(RFC822 RFC822.HEADER RFC822.TEXT)", []FetchItem{{Attr: FetchRFC822}, {Attr: FetchRFC822Header, Peek: true}, {Attr: FetchRFC822Text}},
			[]string{"RFC822", "RFC822.HEADER", "RFC822.TEXT"}},
		{"body whole", "BODY[]", []FetchItem{{Attr: FetchBodySection}}, []string{"BODY[]"}},
		{"body peek header", "body.peek[header]", []FetchItem{{Attr: FetchBodySection, Peek: true, Section: hdr, SectionText: "HEADER"}}, []string{"BODY[HEADER]"}},
		{"header fields partial", `(BODY.PEEK[header.fields (from "To")]<0.10>)`, []FetchItem{{Attr: FetchBodySection, Peek: true,
			Section:     message.Section{Specifier: message.SpecHeaderFields, Fields: []string{"from", "To"}},
			SectionText: `HEADER.FIELDS (FROM "TO")`, Partial: true, Offset: 0, Count: 10}}, []string{`BODY[HEADER.FIELDS (FROM "TO")]<0>`}},
		{"part mime", "BODY[1.2.MIME]", []FetchItem{{Attr: FetchBodySection, Section: message.Section{Path: []int{1, 2}, Specifier: message.SpecMIME}, SectionText: "1.2.MIME"}}, nil},
		{"binary", "(BINARY[1]<5.100> BINARY.PEEK[] BINARY.SIZE[2])", []FetchItem{
			{Attr: FetchBinary, Section: message.Section{Path: []int{1}}, SectionText: "1", Partial: true, Offset: 5, Count: 100},
			{Attr: FetchBinary, Peek: true},
			{Attr: FetchBinarySize, Section: message.Section{Path: []int{2}}, SectionText: "2"}},
			[]string{"BINARY[1]<5>", "BINARY[]", "BINARY.SIZE[2]"}},
		// RFC 8970 §3.
		{"preview", "PREVIEW", []FetchItem{{Attr: FetchPreview}}, []string{"PREVIEW"}},
		{"preview lazy", "(UID PREVIEW (lazy) FLAGS)", []FetchItem{{Attr: FetchUID}, {Attr: FetchPreview, Lazy: true}, {Attr: FetchFlags}},
			[]string{"UID", "PREVIEW", "FLAGS"}},
		{"preview lazy last", "(PREVIEW (LAZY))", []FetchItem{{Attr: FetchPreview, Lazy: true}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := parseArgs(t, tc.in)
			got, err := ParseFetchItems(args[0])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			for i, n := range tc.names {
				if rn := got[i].ResponseName(); rn != n {
					t.Errorf("ResponseName = %q want %q", rn, n)
				}
			}
			checkFetchRoundTrip(t, got)
		})
	}
}

func checkFetchRoundTrip(t testing.TB, items []FetchItem) {
	t.Helper()
	var parts []string
	for _, it := range items {
		parts = append(parts, it.String())
	}
	text := "(" + strings.Join(parts, " ") + ")"
	back, err := ParseFetchItems(parseArgs(t, text)[0])
	if err != nil {
		t.Fatalf("re-parsing %q: %v", text, err)
	}
	for i := range items {
		a, b := items[i], back[i]
		// Field names are upper-cased by the rendering.
		a.Section.Fields, b.Section.Fields = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip of %q: %+v != %+v", text, b, a)
		}
	}
}

func TestParseFetchItemsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		msg  string
	}{
		{"unknown", "FOO", "Unknown FETCH item FOO"},
		{"macro in list", "(ALL)", "Unknown FETCH item ALL"},
		{"empty list", "()", "Empty FETCH item list"},
		{"string", `"UID"`, "Invalid FETCH items"},
		{"modifier list as item", "(CHANGEDSINCE 5)", "Unknown FETCH item CHANGEDSINCE"},
		{"bad prefix", "BODYX[]", "Unknown FETCH item"},
		{"bad section", "BODY[HEADERS]", "Invalid section HEADERS"},
		{"mime without part", "BODY[MIME]", "Invalid section MIME"},
		{"binary with text", "BINARY[1.TEXT]", "BINARY takes part numbers only"},
		{"binary size partial", "BINARY.SIZE[1]<0.5>", "BINARY.SIZE takes no partial"},
		{"partial zero count", "BODY[]<0.0>", "Invalid partial"},
		{"partial no count", "BODY[]<5>", "Invalid partial"},
		{"partial junk", "BODY[]x", "Invalid partial"},
		{"partial too big", "BODY[]<4294967296.1>", "Invalid partial"},
		{"nested list", "((UID))", "Invalid FETCH item"},
		{"preview unknown modifier", "(PREVIEW (FUZZY))", "Unknown PREVIEW modifier"},
		{"preview empty modifier", "(PREVIEW ())", "Empty PREVIEW modifier list"},
		{"list after other item", "(UID (LAZY))", "Invalid FETCH item"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFetchItems(parseArgs(t, tc.in)[0])
			wantArgError(t, err, "BAD", tc.msg)
		})
	}
}

func FuzzFetchAtts(f *testing.F) {
	for _, s := range []string{
		"ALL", "(UID FLAGS)", "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>",
		"(BINARY[1]<5.100> BINARY.PEEK[] BINARY.SIZE[2])", "(RFC822 RFC822.HEADER RFC822.TEXT)",
		"BODY[1.2.3.MIME]", "BODY[HEADER.FIELDS.NOT (\"a b\")]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader("t FETCH 1 "+in+"\r\n"), Limits{MaxLine: 4096, MaxCommand: 8192})
		c, err := r.ReadCommand()
		if err != nil || len(c.Args) != 2 {
			return
		}
		items, err := ParseFetchItems(c.Args[1])
		if err != nil {
			var ae *ArgError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *ArgError", err)
			}
			return
		}
		for _, it := range items {
			if it.ResponseName() == "" {
				t.Fatalf("no response name for %+v", it)
			}
		}
		checkFetchRoundTrip(t, items)
	})
}
