package imap

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lsub bool
		want *ListCommand
		err  string
	}{
		{"basic", `"" *`, false, &ListCommand{Patterns: []string{"*"}}, ""},
		{"reference", `~/Mail/ "%"`, false, &ListCommand{Reference: "~/Mail/", Patterns: []string{"%"}}, ""},
		{"mutf7 pattern", `"" "&AOk-t&AOk-/*"`, false, &ListCommand{Patterns: []string{"\u00e9t\u00e9/*"}}, ""},
		{"nil pattern", `"" NIL`, false, &ListCommand{Patterns: []string{"NIL"}}, ""},
		{"extended", `(SUBSCRIBED RECURSIVEMATCH remote) "" (INBOX "Sent*") RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))`, false,
			&ListCommand{Patterns: []string{"INBOX", "Sent*"}, Extended: true,
				Select: ListSelect{Subscribed: true, RecursiveMatch: true, Remote: true},
				Return: ListReturn{Children: true, Subscribed: true, SpecialUse: true, Status: []StatusItem{StatusMessages, StatusUnseen, StatusSize}}}, ""},
		{"empty selection", `() "" *`, false, &ListCommand{Patterns: []string{"*"}, Extended: true}, ""},
		{"special-use selection", `(SPECIAL-USE) "" *`, false, &ListCommand{Patterns: []string{"*"}, Extended: true, Select: ListSelect{SpecialUse: true}}, ""},
		{"empty return", `"" * RETURN ()`, false, &ListCommand{Patterns: []string{"*"}, Extended: true}, ""},
		{"lsub", `"" *`, true, &ListCommand{Patterns: []string{"*"}}, ""},
		{"missing pattern", `""`, false, nil, "Missing LIST arguments"},
		{"recursivematch alone", `(RECURSIVEMATCH) "" *`, false, nil, "RECURSIVEMATCH needs another selection option"},
		{"unknown selection", `(FOO) "" *`, false, nil, "Unknown LIST selection option FOO"},
		{"unknown return", `"" * RETURN (FOO)`, false, nil, "Unknown LIST return option FOO"},
		{"status without items", `"" * RETURN (STATUS)`, false, nil, "STATUS needs a list"},
		{"bad status item", `"" * RETURN (STATUS (FOO))`, false, nil, "Unknown STATUS item FOO"},
		{"junk after", `"" * FOO`, false, nil, "Unexpected LIST arguments"},
		{"lsub options", `"" * RETURN (CHILDREN)`, true, nil, "Unexpected LIST arguments"},
		{"lsub selection", `(SUBSCRIBED) "" *`, true, nil, "Invalid reference"},
		{"empty pattern list", `"" ()`, false, nil, "Empty pattern list"},
		{"bad mutf7", `"" "&-x&"`, false, nil, "not valid modified UTF-7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseList(parseArgs(t, tc.in), tc.lsub)
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

func TestParseStatusItems(t *testing.T) {
	got, err := ParseStatusItems(parseArgs(t, "(messages RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE messages)")[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []StatusItem{StatusMessages, StatusRecent, StatusUIDNext, StatusUIDValidity, StatusUnseen, StatusDeleted, StatusSize}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	var names []string
	for _, it := range got {
		names = append(names, it.String())
	}
	if s := strings.Join(names, " "); s != "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE" {
		t.Errorf("names %q", s)
	}
	for _, bad := range []struct{ in, msg string }{
		{"()", "non-empty list"}, {"MESSAGES", "non-empty list"},
		{"(HIGHESTMODSEQ)", "Unknown STATUS item HIGHESTMODSEQ"}, {`("MESSAGES")`, "Invalid STATUS item"},
	} {
		_, err := ParseStatusItems(parseArgs(t, bad.in)[0])
		wantArgError(t, err, "BAD", bad.msg)
	}
}

func TestMatchList(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"a/%", "a/b", true},
		{"a/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"a*", "a", true},
		{"a*", "ab/c", true},
		{"*c", "a/b/c", true},
		{"%c", "a/bc", false},
		{"a%b%c", "axbyc", true},
		{"a%b%c", "ax/byc", false},
		{"INBOX", "INBOX", true},
		{"INBOX", "inbox", false},
		{"", "", true},
		{"", "a", false},
		{"\u00e9*", "\u00e9t\u00e9", true},
		{"%/%", "a/b", true},
		{"%/%", "a/b/c", false},
		{strings.Repeat("*a", 200) + "b", strings.Repeat("a", 300), false},
	}
	for _, tc := range tests {
		name := tc.pattern + "~" + tc.name
		if len(name) > 30 {
			name = name[:30]
		}
		t.Run(name, func(t *testing.T) {
			if got := MatchList(tc.pattern, tc.name, '/'); got != tc.want {
				t.Errorf("MatchList(%q, %q) = %v", tc.pattern, tc.name, got)
			}
		})
	}
}

func TestListCanonical(t *testing.T) {
	tests := []struct{ ref, pat, want string }{
		{"", "*", "*"},
		{"INBOX", "*", "INBOX*"},
		{"Work/", "%", "Work/%"},
		{"Work/", "/x", "Work/x"},
		{"Work", "/x", "Work/x"},
		{"", "inbox", "INBOX"},
		{"inbox/", "%", "INBOX/%"},
		{"", "inbox*", "inbox*"},
		{"", "Inboxes", "Inboxes"},
	}
	for _, tc := range tests {
		if got := ListCanonical(tc.ref, tc.pat, '/'); got != tc.want {
			t.Errorf("ListCanonical(%q, %q) = %q want %q", tc.ref, tc.pat, got, tc.want)
		}
	}
}
