package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSort(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ret     *SearchReturn
		crit    []SortCriterion
		charset string
		key     SearchKey
		errCode string // "" ok; "BAD"; or a NO code
	}{
		// RFC 5256 §3's examples.
		{"rfc5256 subject", "(SUBJECT) UTF-8 SINCE 1-Feb-1994", nil, []SortCriterion{{Key: SortSubject}}, "UTF-8",
			and(SearchKey{Op: SearchSince, Date: day(1994, 2, 1)}), ""},
		{"rfc5256 reverse", "(SUBJECT REVERSE DATE) UTF-8 ALL", nil, []SortCriterion{{Key: SortSubject}, {Key: SortDate, Reverse: true}}, "UTF-8",
			and(SearchKey{Op: SearchAll}), ""},
		{"rfc5256 us-ascii", "(ARRIVAL) US-ASCII FROM smith", nil, []SortCriterion{{Key: SortArrival}}, "US-ASCII",
			and(SearchKey{Op: SearchHeader, Field: "From", Value: "smith"}), ""},
		{"every key", "(arrival cc date from size subject to displayfrom displayto) utf-8 ALL", nil, []SortCriterion{
			{Key: SortArrival}, {Key: SortCc}, {Key: SortDate}, {Key: SortFrom}, {Key: SortSize}, {Key: SortSubject},
			{Key: SortTo}, {Key: SortDisplayFrom}, {Key: SortDisplayTo}}, "UTF-8", and(SearchKey{Op: SearchAll}), ""},
		// RFC 5267 §3.2's example.
		{"esort", "RETURN (MIN COUNT) (DATE) UTF-8 SINCE 1-Feb-1994", &SearchReturn{Min: true, Count: true},
			[]SortCriterion{{Key: SortDate}}, "UTF-8", and(SearchKey{Op: SearchSince, Date: day(1994, 2, 1)}), ""},
		{"esort all default", "RETURN () (DATE) UTF-8 ALL", &SearchReturn{All: true},
			[]SortCriterion{{Key: SortDate}}, "UTF-8", and(SearchKey{Op: SearchAll}), ""},
		{"no criteria", "() UTF-8 ALL", nil, nil, "", SearchKey{}, "BAD"},
		{"criteria not a list", "SUBJECT UTF-8 ALL", nil, nil, "", SearchKey{}, "BAD"},
		{"unknown key", "(COLOR) UTF-8 ALL", nil, nil, "", SearchKey{}, "BAD"},
		{"reverse alone", "(REVERSE) UTF-8 ALL", nil, nil, "", SearchKey{}, "BAD"},
		{"missing charset", "(DATE)", nil, nil, "", SearchKey{}, "BAD"},
		{"missing program", "(DATE) UTF-8", nil, nil, "", SearchKey{}, "BAD"},
		{"unknown charset", "(DATE) X-NOPE ALL", nil, nil, "", SearchKey{}, ErrBadCharset.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSort(parseArgs(t, tc.in), false, nil)
			if tc.errCode != "" {
				var ae *ArgError
				if !errors.As(err, &ae) || (ae.Status != tc.errCode && ae.Code != tc.errCode) {
					t.Fatalf("err = %v, want %s", err, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Return, tc.ret) || !reflect.DeepEqual(s.Criteria, tc.crit) ||
				s.Search.Charset != tc.charset || !reflect.DeepEqual(s.Search.Key, tc.key) {
				t.Errorf("got %+v %+v %q %v", s.Return, s.Criteria, s.Search.Charset, s.Search.Key)
			}
		})
	}
}

func TestParseThread(t *testing.T) {
	tests := []struct {
		name, in, alg string
		bad           bool
	}{
		{"rfc5256 orderedsubject", "ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000", ThreadOrderedSubject, false},
		{"rfc5256 references", "REFERENCES US-ASCII ALL", ThreadReferences, false},
		{"refs", "refs utf-8 ALL", ThreadRefs, false},
		{"unknown", "BOGUS UTF-8 ALL", "", true},
		{"missing program", "REFERENCES UTF-8", "", true},
		{"list algorithm", "(REFERENCES) UTF-8 ALL", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th, err := ParseThread(parseArgs(t, tc.in), false, nil)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", th)
				}
				return
			}
			if err != nil || th.Algorithm != tc.alg {
				t.Fatalf("got %+v, %v", th, err)
			}
		})
	}
}

func FuzzSortThread(f *testing.F) {
	for _, s := range []string{
		"SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", "SORT RETURN (MIN MAX ALL COUNT) (REVERSE DATE) UTF-8 ALL",
		"THREAD REFERENCES US-ASCII TEXT {3}\r\nabc", "THREAD ORDEREDSUBJECT UTF-8 OR FROM a TO b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader("t "+in+"\r\n"), Limits{MaxLine: 4096, MaxLiteral: 1024, MaxCommand: 8192})
		r.Continue = func(string, string, int64) error { return nil }
		c, err := r.ReadCommand()
		if err != nil {
			return
		}
		switch c.Name {
		case "SORT":
			_, err = ParseSort(c.Args, true, nil)
		case "THREAD":
			_, err = ParseThread(c.Args, true, nil)
		case "CANCELUPDATE":
			_, err = ParseCancelUpdate(c.Args)
		default:
			return
		}
		var ae *ArgError
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("error %v is not an *ArgError", err)
		}
	})
}
