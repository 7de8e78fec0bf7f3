package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func seq(s string) SeqSet {
	set, err := ParseSeqSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

func and(k ...SearchKey) SearchKey { return SearchKey{Op: SearchAnd, Sub: k} }

func TestParseSearch(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		rev1    bool
		ret     *SearchReturn
		charset string
		want    SearchKey
	}{
		{"all", "ALL", false, nil, "", and(SearchKey{Op: SearchAll})},
		{"flags", "answered UNSEEN deleted undraft flagged unflagged seen draft undeleted unanswered", false, nil, "", and(
			SearchKey{Op: SearchFlag, Flag: `\Answered`}, SearchKey{Op: SearchNoFlag, Flag: `\Seen`},
			SearchKey{Op: SearchFlag, Flag: `\Deleted`}, SearchKey{Op: SearchNoFlag, Flag: `\Draft`},
			SearchKey{Op: SearchFlag, Flag: `\Flagged`}, SearchKey{Op: SearchNoFlag, Flag: `\Flagged`},
			SearchKey{Op: SearchFlag, Flag: `\Seen`}, SearchKey{Op: SearchFlag, Flag: `\Draft`},
			SearchKey{Op: SearchNoFlag, Flag: `\Deleted`}, SearchKey{Op: SearchNoFlag, Flag: `\Answered`})},
		{"keywords", "KEYWORD $Junk UNKEYWORD foo", false, nil, "", and(
			SearchKey{Op: SearchFlag, Flag: "$Junk"}, SearchKey{Op: SearchNoFlag, Flag: "foo"})},
		{"address headers", `FROM joe TO "a b" CC x BCC y SUBJECT "hi there"`, false, nil, "", and(
			SearchKey{Op: SearchHeader, Field: "From", Value: "joe"}, SearchKey{Op: SearchHeader, Field: "To", Value: "a b"},
			SearchKey{Op: SearchHeader, Field: "Cc", Value: "x"}, SearchKey{Op: SearchHeader, Field: "Bcc", Value: "y"},
			SearchKey{Op: SearchHeader, Field: "Subject", Value: "hi there"})},
		{"header", `HEADER X-Spam-Flag YES HEADER List-Id ""`, false, nil, "", and(
			SearchKey{Op: SearchHeader, Field: "X-Spam-Flag", Value: "YES"}, SearchKey{Op: SearchHeader, Field: "List-Id", Value: ""})},
		{"body text literal", "BODY {5}\r\nhello TEXT x", false, nil, "", and(
			SearchKey{Op: SearchBody, Value: "hello"}, SearchKey{Op: SearchText, Value: "x"})},
		{"dates", `BEFORE 1-Feb-1994 ON "02-Mar-2000" SINCE 3-apr-2001 SENTBEFORE 4-May-2002 SENTON 5-Jun-2003 SENTSINCE 6-Jul-2004`, false, nil, "", and(
			SearchKey{Op: SearchBefore, Date: day(1994, 2, 1)}, SearchKey{Op: SearchOn, Date: day(2000, 3, 2)},
			SearchKey{Op: SearchSince, Date: day(2001, 4, 3)}, SearchKey{Op: SearchSentBefore, Date: day(2002, 5, 4)},
			SearchKey{Op: SearchSentOn, Date: day(2003, 6, 5)}, SearchKey{Op: SearchSentSince, Date: day(2004, 7, 6)})},
		{"sizes", "LARGER 100 SMALLER 9223372036854775807", false, nil, "", and(
			SearchKey{Op: SearchLarger, Size: 100}, SearchKey{Op: SearchSmaller, Size: 9223372036854775807})},
		{"sets", "1:5,7 UID 3:* $ UID $", false, nil, "", and(
			SearchKey{Op: SearchSeq, Set: seq("1:5,7")}, SearchKey{Op: SearchUID, Set: seq("3:*")},
			SearchKey{Op: SearchSeq, Set: SeqSet{SearchRes: true}}, SearchKey{Op: SearchUID, Set: SeqSet{SearchRes: true}})},
		{"not or group", "NOT SEEN OR FROM a (TO b SUBJECT c)", false, nil, "", and(
			SearchKey{Op: SearchNot, Sub: []SearchKey{{Op: SearchFlag, Flag: `\Seen`}}},
			SearchKey{Op: SearchOr, Sub: []SearchKey{
				{Op: SearchHeader, Field: "From", Value: "a"},
				and(SearchKey{Op: SearchHeader, Field: "To", Value: "b"}, SearchKey{Op: SearchHeader, Field: "Subject", Value: "c"})}})},
		{"rev1 keys", "NEW OLD RECENT", true, nil, "", and(
			and(SearchKey{Op: SearchRecent}, SearchKey{Op: SearchNoFlag, Flag: `\Seen`}),
			SearchKey{Op: SearchNot, Sub: []SearchKey{{Op: SearchRecent}}},
			SearchKey{Op: SearchRecent})},
		{"charset utf-8", "CHARSET utf-8 SUBJECT \"caf\u00e9\"", false, nil, "UTF-8", and(
			SearchKey{Op: SearchHeader, Field: "Subject", Value: "caf\u00e9"})},
		{"charset us-ascii", "CHARSET US-ASCII ALL", false, nil, "US-ASCII", and(SearchKey{Op: SearchAll})},
		{"return empty is ALL", "RETURN () ALL", false, &SearchReturn{All: true}, "", and(SearchKey{Op: SearchAll})},
		{"return options", "RETURN (min MAX COUNT SAVE) CHARSET UTF-8 ALL", false,
			&SearchReturn{Min: true, Max: true, Count: true, Save: true}, "UTF-8", and(SearchKey{Op: SearchAll})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSearch(parseArgs(t, tc.in), tc.rev1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Return, tc.ret) {
				t.Errorf("Return = %+v want %+v", s.Return, tc.ret)
			}
			if s.Charset != tc.charset {
				t.Errorf("Charset = %q want %q", s.Charset, tc.charset)
			}
			if !reflect.DeepEqual(s.Key, tc.want) {
				t.Errorf("got  %s\nwant %s", s.Key, tc.want)
			}
			// The rendered program parses back to the same tree.
			checkSearchRoundTrip(t, s.Key, tc.rev1)
		})
	}
}

func checkSearchRoundTrip(t testing.TB, k SearchKey, rev1 bool) {
	t.Helper()
	text := k.String()
	// The top-level AND renders as a group; a group is a valid key.
	s2, err := ParseSearch(parseArgs(t, "CHARSET UTF-8 "+text), true, nil)
	if err != nil {
		t.Fatalf("re-parsing %q: %v", text, err)
	}
	if len(s2.Key.Sub) != 1 || !reflect.DeepEqual(s2.Key.Sub[0], k) {
		t.Fatalf("round trip of %q:\n got %s\nwant %s", text, s2.Key, k)
	}
}

func TestParseSearchReturn(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want SearchReturn
	}{
		{"empty is all", "RETURN () ALL", SearchReturn{All: true}},
		{"context alone is all", "RETURN (CONTEXT) ALL", SearchReturn{All: true, Context: true}},
		{"context count", "RETURN (CONTEXT COUNT) ALL", SearchReturn{Count: true, Context: true}},
		{"update alone", "RETURN (UPDATE) ALL", SearchReturn{Update: true}},
		{"update count", "RETURN (update count) ALL", SearchReturn{Update: true, Count: true}},
		{"partial", "RETURN (PARTIAL 1:500) ALL", SearchReturn{Partial: &PartialRange{1, 500}}},
		{"partial reversed", "RETURN (PARTIAL 500:400 COUNT) ALL", SearchReturn{Partial: &PartialRange{400, 500}, Count: true}},
		{"partial max", "RETURN (PARTIAL 1:4294967295) ALL", SearchReturn{Partial: &PartialRange{1, 4294967295}}},
		{"save min", "RETURN (SAVE MIN) ALL", SearchReturn{Save: true, Min: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSearch(parseArgs(t, tc.in), false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*s.Return, tc.want) {
				t.Errorf("got %+v want %+v", *s.Return, tc.want)
			}
		})
	}
	s, err := ParseSearch(parseArgs(t, "RETURN (COUNT UPDATE (UID BODY[HEADER.FIELDS (TO FROM SUBJECT)])) FROM boss"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Return.Update || !s.Return.Count || s.Return.UpdateFetch == nil || len(s.Return.UpdateFetch.List) != 2 {
		t.Fatalf("RFC 5465 §7 example: %+v", s.Return)
	}
	if got := (PartialRange{400, 500}).String(); got != "400:500" {
		t.Errorf("String %q", got)
	}
}

func TestParseCancelUpdate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  bool
	}{
		{"one", `"B01"`, []string{"B01"}, false},
		{"two", `"a" "b"`, []string{"a", "b"}, false},
		{"none", ``, nil, true},
		{"atom", `B01`, nil, true},
		{"literal", "{3}\r\nB01", nil, true},
		{"list", `("a")`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var args []Arg
			if tc.in != "" {
				args = parseArgs(t, tc.in)
			}
			got, err := ParseCancelUpdate(args)
			if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestParseSearchErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status string
		code   string
		msg    string
	}{
		{"empty", "", "BAD", "", "Missing search keys"},
		{"unknown key", "FOO", "BAD", "", "Unknown search key FOO"},
		{"rev2 has no RECENT", "RECENT", "BAD", "", "Unknown search key RECENT"},
		{"modseq bad entry", `MODSEQ "/x/y" all 5`, "BAD", "", "Invalid MODSEQ entry name"},
		{"modseq missing value", "MODSEQ", "BAD", "", "Missing argument for MODSEQ"},
		{"older zero", "OLDER 0", "BAD", "", "Invalid interval for OLDER"},
		{"missing value", "FROM", "BAD", "", "Missing argument for FROM"},
		{"missing OR operand", "OR SEEN", "BAD", "", "Missing argument for search"},
		{"bad date", "SINCE 1994-02-01", "BAD", "", "Invalid date"},
		{"list as date", "SINCE (x)", "BAD", "", "Invalid date for SINCE"},
		{"bad size", "LARGER -1", "BAD", "", "Invalid number for LARGER"},
		{"size too big", "LARGER 9223372036854775808", "BAD", "", "Invalid number for LARGER"},
		{"bad set", "UID 0:3", "BAD", "", "Invalid sequence set"},
		{"system flag as keyword", `KEYWORD \Seen`, "BAD", "", `Invalid keyword \Seen`},
		{"bad keyword", "KEYWORD a*b", "BAD", "", "Invalid keyword"},
		{"bad header name", `HEADER "a:b" x`, "BAD", "", "Invalid header field name"},
		{"empty group", "()", "BAD", "", "Empty search key list"},
		{"return not a list", "RETURN ALL ALL", "BAD", "", "RETURN needs a list"},
		{"unknown return option", "RETURN (RELEVANCY) ALL", "BAD", "", "Unknown RETURN option RELEVANCY"},
		{"partial missing", "RETURN (PARTIAL) ALL", "BAD", "", "PARTIAL range missing"},
		{"partial zero", "RETURN (PARTIAL 0:2) ALL", "BAD", "", "PARTIAL range broken"},
		{"partial star", "RETURN (PARTIAL 1:*) ALL", "BAD", "", "PARTIAL range broken"},
		{"partial negative", "RETURN (PARTIAL -1:-2) ALL", "BAD", "", "PARTIAL range broken"},
		{"partial single", "RETURN (PARTIAL 5) ALL", "BAD", "", "PARTIAL range broken"},
		{"partial over 32 bits", "RETURN (PARTIAL 1:4294967296) ALL", "BAD", "", "PARTIAL range broken"},
		{"partial twice", "RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", "BAD", "", "PARTIAL can be used only once"},
		{"partial and all", "RETURN (PARTIAL 1:2 ALL) ALL", "BAD", "", "PARTIAL conflicts with ALL"},
		{"update twice", "RETURN (UPDATE UPDATE) ALL", "BAD", "", "duplicate UPDATE"},
		{"update empty fetch", "RETURN (UPDATE ()) ALL", "BAD", "", "UPDATE needs fetch attributes"},
		{"unknown charset", "CHARSET KOI8-R ALL", "NO", "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset"},
		{"invalid utf-8", "CHARSET UTF-8 BODY {1}\r\n\xff", "NO", "BADCHARSET (UTF-8 US-ASCII)", "not valid UTF-8"},
		{"too deep", strings.Repeat("NOT ", MaxSearchDepth+2) + "ALL", "BAD", "", "nested too deeply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSearch(parseArgs(t, tc.in), false, nil)
			wantArgError(t, err, tc.status, tc.msg)
			var ae *ArgError
			errors.As(err, &ae)
			if ae.Code != tc.code {
				t.Errorf("code %q want %q", ae.Code, tc.code)
			}
		})
	}
}

func TestParseSearchCharsetDecoder(t *testing.T) {
	// A decoder for a made-up charset that upper-cases, standing in for
	// pkg/message/charset (tested there).
	dec := func(cs, s string) (string, error) {
		if cs != "X-UPPER" {
			return "", errors.New("unknown")
		}
		return strings.ToUpper(s), nil
	}
	s, err := ParseSearch(parseArgs(t, "CHARSET x-upper SUBJECT abc"), false, dec)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Key.Sub[0].Value; got != "ABC" {
		t.Errorf("decoded %q, want ABC", got)
	}
	_, err = ParseSearch(parseArgs(t, "CHARSET KOI8-R ALL"), false, dec)
	if err != ErrBadCharset {
		t.Errorf("unknown charset: %v", err)
	}
}

func FuzzSearchKeys(f *testing.F) {
	for _, s := range []string{
		"ALL", "1:5 UID 3:* $", "OR FROM a (NOT SEEN SUBJECT \"x y\")",
		"RETURN (MIN MAX COUNT) CHARSET UTF-8 BODY {3}\r\nabc SINCE 1-Feb-1994",
		"HEADER X-A b LARGER 5 SMALLER 10 KEYWORD $J UNKEYWORD k",
		"NEW OLD RECENT NOT NOT (ALL)", "SENTON 29-Feb-2024 TEXT \"\\\"\"",
		"RETURN (PARTIAL 1:500 UPDATE CONTEXT) UNDELETED", "RETURN (COUNT UPDATE (UID FLAGS)) FROM boss",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader("t SEARCH "+in+"\r\n"), Limits{MaxLine: 4096, MaxLiteral: 1024, MaxCommand: 8192})
		r.Continue = func(string, string, int64) error { return nil }
		c, err := r.ReadCommand()
		if err != nil {
			return
		}
		s, err := ParseSearch(c.Args, true, nil)
		if err != nil {
			var ae *ArgError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *ArgError", err)
			}
			return
		}
		checkSearchRoundTrip(t, s.Key, true)
	})
}
