package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseArgs reads "t X <s>" and returns the arguments.
func parseArgs(t testing.TB, s string) []Arg {
	t.Helper()
	r := NewReader(strings.NewReader("t X "+s+"\r\n"), Limits{})
	r.Continue = func(string, string, int64) error { return nil }
	c, err := r.ReadCommand()
	if err != nil {
		t.Fatalf("reading %q: %v", s, err)
	}
	return c.Args
}

// wantArgError checks that err is an *ArgError with status and a message
// containing msg.
func wantArgError(t *testing.T, err error, status, msg string) {
	t.Helper()
	var ae *ArgError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want *ArgError %s %q", err, status, msg)
	}
	if ae.Status != status || !strings.Contains(ae.Msg, msg) {
		t.Fatalf("got %s %q, want %s %q", ae.Status, ae.Msg, status, msg)
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for an error
	}{
		{"1-Feb-1994", "1994-02-01"},
		{"01-feb-1994", "1994-02-01"},
		{"31-DEC-2023", "2023-12-31"},
		{"29-Feb-2024", "2024-02-29"},
		{"29-Feb-2023", ""},
		{"0-Feb-1994", ""},
		{"1-Foo-1994", ""},
		{"1-Feb-94", ""},
		{"1994-02-01", ""},
		{"123-Feb-1994", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDate(tc.in)
			if tc.want == "" {
				wantArgError(t, err, "BAD", "Invalid date")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := got.Format("2006-01-02"); s != tc.want || got.Location() != time.UTC {
				t.Errorf("got %v, want %s UTC", got, tc.want)
			}
		})
	}
}

func TestParseDateTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339, "" for an error
	}{
		{"17-Jul-1996 02:44:25 -0700", "1996-07-17T02:44:25-07:00"},
		{" 7-Jul-1996 02:44:25 +0200", "1996-07-07T02:44:25+02:00"},
		{"7-Jul-1996 02:44:25 +0000", "1996-07-07T02:44:25Z"},
		{"17-Jul-1996 24:44:25 -0700", ""},
		{"17-Jul-1996 02:44 -0700", ""},
		{"17-Jul-1996 02:44:25 0700", ""},
		{"17-Jul-1996 02:44:25", ""},
		{"17-Jul-1996  02:44:25 -0700", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDateTime(tc.in)
			if tc.want == "" {
				wantArgError(t, err, "BAD", "Invalid date-time")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := got.Format(time.RFC3339); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
			// The INTERNALDATE rendering parses back to the same instant.
			back, err := ParseDateTime(FormatDateTime(got))
			if err != nil || !back.Equal(got) {
				t.Errorf("round trip of %q: %v %v", FormatDateTime(got), back, err)
			}
		})
	}
}

func TestParseFlagList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{"list", `(\seen $Junk \FLAGGED)`, []string{`\Seen`, "$Junk", `\Flagged`}, ""},
		{"empty", `()`, []string{}, ""},
		{"atoms", `\Seen \Deleted`, []string{`\Seen`, `\Deleted`}, ""},
		{"duplicates", `(\Seen \SEEN foo FOO)`, []string{`\Seen`, "foo"}, ""},
		{"recent", `(\Recent)`, nil, `Invalid system flag \Recent`},
		{"extension", `(\Foo)`, nil, `Invalid system flag \Foo`},
		{"string", `("x")`, nil, "Flags must be atoms"},
		{"keyword with bracket", `(a]b)`, nil, "Invalid keyword"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFlagList(parseArgs(t, tc.in))
			if tc.err != "" {
				wantArgError(t, err, "BAD", tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}
