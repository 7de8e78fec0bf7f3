package log

import (
	"fmt"
	"strconv"
	"time"
)

// DefaultTimestamp is cote's log_timestamp: local time to the millisecond
// with its UTC offset, so lines from several processes sort and compare.
// Dovecot's default "%b %d %H:%M:%S " is accepted and honoured as written.
const DefaultTimestamp = "%Y-%m-%dT%H:%M:%S.%L%:z "

var defaultStamp, _ = ParseTimestamp(DefaultTimestamp)

// Timestamp is a compiled log_timestamp: strftime(3) conversions, plus %L
// (milliseconds) and %:z (offset as +hh:mm, as GNU date writes it).
type Timestamp struct {
	parts []stampPart
}

type stampPart struct {
	lit  string
	conv string // "" for a literal
}

// ParseTimestamp compiles a strftime layout once, so formatting a line does
// no parsing. An unknown conversion is an error naming it.
func ParseTimestamp(layout string) (*Timestamp, error) {
	ts := &Timestamp{}
	lit := []byte{}
	flush := func() {
		if len(lit) > 0 {
			ts.parts = append(ts.parts, stampPart{lit: string(lit)})
			lit = lit[:0]
		}
	}
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' {
			lit = append(lit, c)
			continue
		}
		if i+1 >= len(layout) {
			return nil, fmt.Errorf("layout %q ends in a lone %%", layout)
		}
		conv := layout[i+1 : i+2]
		if conv == ":" && i+2 < len(layout) && layout[i+2] == 'z' {
			conv = ":z"
		}
		i += len(conv)
		if conv == "%" {
			lit = append(lit, '%')
			continue
		}
		if _, ok := stampConvs[conv]; !ok {
			return nil, fmt.Errorf("unknown conversion %%%s in %q", conv, layout)
		}
		flush()
		ts.parts = append(ts.parts, stampPart{conv: conv})
	}
	flush()
	return ts, nil
}

// stampConvs renders each supported conversion.
var stampConvs = map[string]func(t time.Time) string{
	"a":  func(t time.Time) string { return t.Format("Mon") },
	"A":  func(t time.Time) string { return t.Format("Monday") },
	"b":  func(t time.Time) string { return t.Format("Jan") },
	"h":  func(t time.Time) string { return t.Format("Jan") },
	"B":  func(t time.Time) string { return t.Format("January") },
	"C":  func(t time.Time) string { return pad2(t.Year() / 100) },
	"d":  func(t time.Time) string { return pad2(t.Day()) },
	"e":  func(t time.Time) string { return t.Format("_2") },
	"D":  func(t time.Time) string { return t.Format("01/02/06") },
	"F":  func(t time.Time) string { return t.Format("2006-01-02") },
	"H":  func(t time.Time) string { return pad2(t.Hour()) },
	"I":  func(t time.Time) string { return t.Format("03") },
	"j":  func(t time.Time) string { return fmt.Sprintf("%03d", t.YearDay()) },
	"k":  func(t time.Time) string { return fmt.Sprintf("%2d", t.Hour()) },
	"l":  func(t time.Time) string { return fmt.Sprintf("%2d", (t.Hour()+11)%12+1) },
	"L":  func(t time.Time) string { return fmt.Sprintf("%03d", t.Nanosecond()/1e6) },
	"m":  func(t time.Time) string { return pad2(int(t.Month())) },
	"M":  func(t time.Time) string { return pad2(t.Minute()) },
	"n":  func(time.Time) string { return "\n" },
	"p":  func(t time.Time) string { return t.Format("PM") },
	"R":  func(t time.Time) string { return t.Format("15:04") },
	"s":  func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) },
	"S":  func(t time.Time) string { return pad2(t.Second()) },
	"t":  func(time.Time) string { return "\t" },
	"T":  func(t time.Time) string { return t.Format("15:04:05") },
	"u":  func(t time.Time) string { return strconv.Itoa((int(t.Weekday())+6)%7 + 1) },
	"w":  func(t time.Time) string { return strconv.Itoa(int(t.Weekday())) },
	"y":  func(t time.Time) string { return t.Format("06") },
	"Y":  func(t time.Time) string { return strconv.Itoa(t.Year()) },
	"z":  func(t time.Time) string { return t.Format("-0700") },
	":z": func(t time.Time) string { return t.Format("-07:00") },
	"Z":  func(t time.Time) string { return t.Format("MST") },
}

func pad2(n int) string {
	if n < 10 && n >= 0 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// Format renders t (in local time, as strftime does).
func (ts *Timestamp) Format(t time.Time) string {
	t = t.Local()
	var b []byte
	for _, p := range ts.parts {
		if p.conv == "" {
			b = append(b, p.lit...)
		} else {
			b = append(b, stampConvs[p.conv](t)...)
		}
	}
	return string(b)
}
