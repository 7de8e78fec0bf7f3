package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseFetchModifiers(t *testing.T) {
	tests := []struct {
		name, in string
		want     FetchModifiers
		err      string
	}{
		{"changedsince", "(CHANGEDSINCE 12345)", FetchModifiers{ChangedSince: 12345, Changed: true}, ""},
		{"vanished", "(changedsince 1 vanished)", FetchModifiers{ChangedSince: 1, Changed: true, Vanished: true}, ""},
		{"vanished first", "(VANISHED CHANGEDSINCE 7)", FetchModifiers{ChangedSince: 7, Changed: true, Vanished: true}, ""},
		{"zero", "(CHANGEDSINCE 0)", FetchModifiers{Changed: true}, ""},
		{"vanished alone", "(VANISHED)", FetchModifiers{}, "VANISHED requires CHANGEDSINCE"},
		{"missing value", "(CHANGEDSINCE)", FetchModifiers{}, "Invalid CHANGEDSINCE modifier"},
		{"too large", "(CHANGEDSINCE 9223372036854775808)", FetchModifiers{}, "Invalid CHANGEDSINCE value"},
		{"negative", "(CHANGEDSINCE -1)", FetchModifiers{}, "Invalid CHANGEDSINCE value"},
		{"twice", "(CHANGEDSINCE 1 CHANGEDSINCE 2)", FetchModifiers{}, "Invalid CHANGEDSINCE modifier"},
		{"unknown", "(PARTIAL 1:5)", FetchModifiers{}, "Unknown FETCH modifier PARTIAL"},
		{"empty", "()", FetchModifiers{}, "Invalid FETCH modifiers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFetchModifiers(parseArgs(t, tc.in)[0])
			if tc.err != "" {
				wantArgError(t, err, "BAD", tc.err)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseSelectParams(t *testing.T) {
	set := func(s string) SeqSet {
		ss, err := ParseSeqSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	tests := []struct {
		name, in string
		want     SelectParams
		err      string
	}{
		{"condstore", "(CONDSTORE)", SelectParams{CondStore: true}, ""},
		{"empty", "()", SelectParams{}, ""},
		// RFC 7162 §3.2.5.1's examples.
		{"qresync", "(QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
			SelectParams{QResync: &QResync{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: set("41,43:211,214:541")}}, ""},
		{"qresync seq match", "(QRESYNC (67890007 90060115194045000 41:211,214:541 (1:30 41:70)))",
			SelectParams{QResync: &QResync{UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: set("41:211,214:541"),
				KnownSeqs: set("1:30"), KnownSeqUIDs: set("41:70"), SeqMatch: true}}, ""},
		{"qresync minimal", "(qresync (1 2))", SelectParams{QResync: &QResync{UIDValidity: 1, ModSeq: 2}}, ""},
		{"both", "(CONDSTORE QRESYNC (1 2 1:*))", SelectParams{CondStore: true, QResync: &QResync{UIDValidity: 1, ModSeq: 2, KnownUIDs: set("1:*")}}, ""},
		{"zero modseq", "(QRESYNC (1 0))", SelectParams{}, "Invalid QRESYNC parameter"},
		{"zero uidvalidity", "(QRESYNC (0 5))", SelectParams{}, "Invalid QRESYNC parameter"},
		{"missing list", "(QRESYNC)", SelectParams{}, "Invalid QRESYNC parameter"},
		{"bad match", "(QRESYNC (1 2 1:5 (1:3)))", SelectParams{}, "Invalid QRESYNC parameter"},
		{"saved set", "(QRESYNC (1 2 $))", SelectParams{}, "Invalid QRESYNC parameter"},
		{"twice", "(QRESYNC (1 2) QRESYNC (1 2))", SelectParams{}, "Invalid QRESYNC parameter"},
		{"unknown", "(UTF8)", SelectParams{}, "Unknown SELECT parameter UTF8"},
		{"not a list", "CONDSTORE", SelectParams{}, "Invalid SELECT parameters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSelectParams(parseArgs(t, tc.in)[0])
			if tc.err != "" {
				wantArgError(t, err, "BAD", tc.err)
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v (%+v), %v; want %+v (%+v)", got, got.QResync, err, tc.want, tc.want.QResync)
			}
		})
	}
}

func TestParseSearchCondStoreWithin(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"modseq", "MODSEQ 620162338", "(MODSEQ 620162338)"},
		// RFC 7162 §3.1.5's example.
		{"modseq entry", `MODSEQ "/flags/\\draft" all 620162338`, `(MODSEQ "/flags/\\draft" all 620162338)`},
		{"within", "OLDER 3600 YOUNGER 60", "(OLDER 3600 YOUNGER 60)"},
		{"savedate", "SAVEDBEFORE 1-Feb-2024 SAVEDON 2-Feb-2024 SAVEDSINCE 3-Feb-2024 SAVEDATESUPPORTED", "(SAVEDBEFORE 1-Feb-2024 SAVEDON 2-Feb-2024 SAVEDSINCE 3-Feb-2024 SAVEDATESUPPORTED)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSearch(parseArgs(t, tc.in), false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Key.String(); got != tc.want {
				t.Errorf("got %s want %s", got, tc.want)
			}
			checkSearchRoundTrip(t, s.Key, false)
			if s.Key.HasModSeq() != strings.Contains(tc.in, "MODSEQ") {
				t.Errorf("HasModSeq %v", s.Key.HasModSeq())
			}
		})
	}
}

// FuzzCondStoreArgs: the SELECT parameters, FETCH modifiers and STORE
// modifiers never panic and fail only with *ArgError.
func FuzzCondStoreArgs(f *testing.F) {
	for _, s := range []string{
		"(QRESYNC (67890007 90060115194045000 41:211,214:541 (1:30 41:70)))",
		"(CONDSTORE)", "(CHANGEDSINCE 12345 VANISHED)", "(UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader("t X "+in+"\r\n"), Limits{MaxLine: 4096, MaxCommand: 8192})
		c, err := r.ReadCommand()
		if err != nil || len(c.Args) == 0 {
			return
		}
		var errs [3]error
		_, errs[0] = ParseSelectParams(c.Args[0])
		_, errs[1] = ParseFetchModifiers(c.Args[0])
		_, errs[2] = ParseStore(c.Args)
		for _, err := range errs {
			var ae *ArgError
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *ArgError", err)
			}
		}
	})
}
