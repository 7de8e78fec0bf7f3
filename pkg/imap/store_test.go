package imap

import (
	"reflect"
	"testing"
	"time"
)

func TestParseStore(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Store
		err  string
	}{
		{"replace", `FLAGS (\Seen foo)`, Store{Mode: StoreReplace, Flags: []string{`\Seen`, "foo"}}, ""},
		{"add silent", `+flags.silent (\deleted)`, Store{Mode: StoreAdd, Silent: true, Flags: []string{`\Deleted`}}, ""},
		{"remove atoms", `-FLAGS \Seen \Flagged`, Store{Mode: StoreRemove, Flags: []string{`\Seen`, `\Flagged`}}, ""},
		{"clear", `FLAGS ()`, Store{Mode: StoreReplace, Flags: []string{}}, ""},
		{"missing flags", `FLAGS`, Store{}, "Missing flags"},
		{"bad item", `XFLAGS (\Seen)`, Store{}, "Invalid STORE item XFLAGS"},
		{"modifier", `(UNCHANGEDSINCE 5) FLAGS (\Seen)`, Store{Mode: StoreReplace, Flags: []string{`\Seen`}, UnchangedSince: 5, Conditional: true}, ""},
		{"bad modifier", `(CHANGEDSINCE 5) FLAGS (\Seen)`, Store{}, "Invalid STORE modifiers"},
		{"list then junk", `FLAGS (\Seen) x`, Store{}, "Unexpected arguments"},
		{"recent", `+FLAGS (\Recent)`, Store{}, `Invalid system flag \Recent`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStore(parseArgs(t, tc.in))
			if tc.err != "" {
				wantArgError(t, err, "BAD", tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v want %+v", got, tc.want)
			}
		})
	}
}

func TestParseAppend(t *testing.T) {
	date := time.Date(1996, 7, 17, 2, 44, 25, 0, time.FixedZone("", -7*3600))
	tests := []struct {
		name string
		in   string
		mbox string
		want []AppendMessage
		err  string
	}{
		{"plain", "INBOX {5+}\r\nhello", "INBOX", []AppendMessage{{Data: "hello"}}, ""},
		{"inbox any case", "inbox {1+}\r\nx", "INBOX", []AppendMessage{{Data: "x"}}, ""},
		{"flags and date", "Sent (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {2+}\r\nhi", "Sent",
			[]AppendMessage{{Flags: []string{`\Seen`}, Date: date, Data: "hi"}}, ""},
		{"literal8", "Sent ~{3+}\r\na\x00b", "Sent", []AppendMessage{{Data: "a\x00b", Binary: true}}, ""},
		{"multiappend", "&AOk- {1+}\r\na (\\Draft) {1+}\r\nb \"17-Jul-1996 02:44:25 -0700\" {1+}\r\nc", "\u00e9",
			[]AppendMessage{{Data: "a"}, {Flags: []string{`\Draft`}, Data: "b"}, {Date: date, Data: "c"}}, ""},
		{"utf8", "INBOX (\\Seen) UTF8 (~{2+}\r\nhi) {1+}\r\nx", "INBOX",
			[]AppendMessage{{Flags: []string{`\Seen`}, Data: "hi", Binary: true, UTF8: true}, {Data: "x"}}, ""},
		{"utf8 not literal8", "INBOX UTF8 ({2+}\r\nhi)", "", nil, "UTF8 data must be a literal8"},
		{"utf8 without list", "INBOX UTF8", "", nil, "UTF8 must be followed by (literal8)"},
		{"utf8 two items", "INBOX UTF8 (~{1+}\r\na ~{1+}\r\nb)", "", nil, "UTF8 must be followed by (literal8)"},
		{"no message", "INBOX", "", nil, "Missing APPEND arguments"},
		{"flags only", "INBOX (\\Seen)", "", nil, "Missing message literal"},
		{"quoted message", "INBOX \"hello\"", "", nil, "Invalid date-time"},
		{"atom message", "INBOX hello", "", nil, "The message must be a literal"},
		{"bad date", "INBOX \"yesterday\" {1+}\r\nx", "", nil, "Invalid date-time"},
		{"bad mailbox", "&Jjo {1+}\r\nx", "", nil, "not valid modified UTF-7"},
		{"bad flag", "INBOX (\\Recent) {1+}\r\nx", "", nil, `Invalid system flag \Recent`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mbox, msgs, err := ParseAppend(parseArgs(t, tc.in), '/')
			if tc.err != "" {
				wantArgError(t, err, "BAD", tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mbox != tc.mbox {
				t.Errorf("mailbox %q want %q", mbox, tc.mbox)
			}
			if len(msgs) != len(tc.want) {
				t.Fatalf("got %d messages want %d", len(msgs), len(tc.want))
			}
			for i := range msgs {
				g, w := msgs[i], tc.want[i]
				if !g.Date.Equal(w.Date) {
					t.Errorf("message %d date %v want %v", i, g.Date, w.Date)
				}
				g.Date, w.Date = time.Time{}, time.Time{}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("message %d: %+v want %+v", i, g, w)
				}
			}
		})
	}
}
