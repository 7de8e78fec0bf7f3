package imap

import (
	"strings"
	"time"
)

// ArgError is a command whose arguments are wrong: the caller answers
// "tag Status [Code] Msg". Status is "BAD" for syntax (RFC 9051 §7.1.5),
// or "NO" where the grammar is right but the server refuses a value, such
// as an unknown search charset ("NO [BADCHARSET (UTF-8 US-ASCII)]", RFC
// 9051 §6.4.4). Code may be empty.
type ArgError struct {
	Status string
	Code   string
	Msg    string
}

func (e *ArgError) Error() string {
	if e.Code != "" {
		return "imap: " + e.Status + " [" + e.Code + "] " + e.Msg
	}
	return "imap: " + e.Status + " " + e.Msg
}

func badArg(msg string) *ArgError { return &ArgError{Status: "BAD", Msg: msg} }

// Flag syntax (RFC 9051 §9): flag = "\Answered" / "\Flagged" / "\Deleted"
// / "\Seen" / "\Draft" / flag-keyword / flag-extension; flag-keyword is
// an atom. System flags are returned in their canonical spelling, so the
// store compares them exactly.
var systemFlags = map[string]string{
	`\ANSWERED`: `\Answered`,
	`\FLAGGED`:  `\Flagged`,
	`\DELETED`:  `\Deleted`,
	`\SEEN`:     `\Seen`,
	`\DRAFT`:    `\Draft`,
	`\RECENT`:   `\Recent`,
}

// MaxFlags caps the flags of one STORE or APPEND: Dovecot allows at most
// a few hundred keywords per mailbox, a list longer than this is abuse.
const MaxFlags = 1000

// CanonicalFlag validates one flag and returns its canonical form: system
// flags in their RFC spelling, keywords as written (keywords compare
// case-insensitively, RFC 9051 §2.3.2, which the store handles). \Recent
// cannot be stored (RFC 3501 §6.4.6, RFC 9051 has no \Recent); other
// unknown "\" flags are flag-extensions, which no client can set either.
func CanonicalFlag(s string) (string, error) {
	if s == "" {
		return "", badArg("Empty flag")
	}
	if s[0] == '\\' {
		canon, ok := systemFlags[strings.ToUpper(s)]
		if !ok || canon == `\Recent` {
			return "", badArg("Invalid system flag " + s)
		}
		return canon, nil
	}
	if !isPlainAtom(s) {
		return "", badArg("Invalid keyword")
	}
	return s, nil
}

// ParseFlagList parses "(\Seen $Junk)" or, where RFC 9051 allows it
// (STORE), a single flag or space-separated flags given as several
// atoms. Duplicates are dropped, order kept.
func ParseFlagList(args []Arg) ([]string, error) {
	var items []Arg
	if len(args) == 1 && args[0].Kind == List {
		items = args[0].List
	} else {
		items = args
	}
	if len(items) > MaxFlags {
		return nil, badArg("Too many flags")
	}
	out := make([]string, 0, len(items))
	for _, a := range items {
		if a.Kind != Atom {
			return nil, badArg("Flags must be atoms")
		}
		f, err := CanonicalFlag(a.Value)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, f) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out, nil
}

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func parseMonth(s string) (time.Month, bool) {
	for i, m := range monthNames {
		if strings.EqualFold(s, m) {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

func parseDigits(s string, min, max int) (int, bool) {
	if len(s) < min || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// ParseDate parses a SEARCH date (RFC 9051 §9 date-text: "1-Feb-1994",
// day 1 or 2 digits, month name in any case). The result is midnight UTC
// of that day; SEARCH compares calendar days, which the engine takes in
// the server's time zone as Dovecot does.
func ParseDate(s string) (time.Time, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return time.Time{}, badArg("Invalid date")
	}
	day, ok1 := parseDigits(parts[0], 1, 2)
	mon, ok2 := parseMonth(parts[1])
	year, ok3 := parseDigits(parts[2], 4, 4)
	if !ok1 || !ok2 || !ok3 || day < 1 {
		return time.Time{}, badArg("Invalid date")
	}
	t := time.Date(year, mon, day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, badArg("Invalid date")
	}
	return t, nil
}

// ParseDateTime parses an APPEND date-time (RFC 9051 §9:
// "17-Jul-1996 02:44:25 -0700", the day space-padded or two digits).
func ParseDateTime(s string) (time.Time, error) {
	bad := badArg("Invalid date-time")
	// date-day-fixed is (SP DIGIT) / 2DIGIT; a single digit without the
	// space is accepted too, as Dovecot does.
	s = strings.TrimPrefix(s, " ")
	date, rest, ok := strings.Cut(s, " ")
	if !ok {
		return time.Time{}, bad
	}
	clock, zone, ok := strings.Cut(rest, " ")
	if !ok || len(clock) != 8 || clock[2] != ':' || clock[5] != ':' || len(zone) != 5 {
		return time.Time{}, bad
	}
	d, err := ParseDate(date)
	if err != nil {
		return time.Time{}, bad
	}
	h, ok1 := parseDigits(clock[0:2], 2, 2)
	m, ok2 := parseDigits(clock[3:5], 2, 2)
	sec, ok3 := parseDigits(clock[6:8], 2, 2)
	zh, ok4 := parseDigits(zone[1:3], 2, 2)
	zm, ok5 := parseDigits(zone[3:5], 2, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || h > 23 || m > 59 || sec > 60 || zm > 59 ||
		(zone[0] != '+' && zone[0] != '-') {
		return time.Time{}, bad
	}
	off := zh*3600 + zm*60
	if zone[0] == '-' {
		off = -off
	}
	if sec == 60 {
		// A leap second; Go has none, the next second is as good.
		sec = 59
	}
	loc := time.FixedZone("", off)
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, sec, 0, loc), nil
}

// dateTimeLayout is RFC 9051 §9 date-time without its quotes; the day is
// space padded (date-day-fixed).
const dateTimeLayout = "_2-Jan-2006 15:04:05 -0700"

// FormatDateTime renders t as an INTERNALDATE value without quotes.
func FormatDateTime(t time.Time) string { return t.Format(dateTimeLayout) }
