package settings

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ParseBool parses Dovecot's booleans: yes, y, 1, no, n, 0 (any case).
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "1":
		return true, nil
	case "no", "n", "0":
		return false, nil
	}
	return false, errors.New("must be yes or no")
}

// ParseSize parses a size such as "256M", "10 M", "1G", "512k", "100 B".
// Units are powers of 1024, as in Dovecot. "unlimited" is 0.
func ParseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "unlimited") {
		return 0, nil
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q (use a number with an optional unit B, k, M, G or T, or unlimited)", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	unit := strings.ToLower(strings.TrimSpace(s[i:]))
	var shift uint
	switch unit {
	case "", "b":
	case "k", "kb":
		shift = 10
	case "m", "mb":
		shift = 20
	case "g", "gb":
		shift = 30
	case "t", "tb":
		shift = 40
	default:
		return 0, fmt.Errorf("invalid size unit in %q (use B, k, M, G or T)", s)
	}
	if shift > 0 && bits.LeadingZeros64(n) < int(shift) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << shift, nil
}

// durationUnits maps Dovecot's time units to their length.
var durationUnits = map[string]time.Duration{
	"ms": time.Millisecond, "msec": time.Millisecond, "msecs": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"": time.Second, "s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ParseDuration parses Dovecot's time values: a number and an optional unit
// ("30 secs", "2s", "1 min", "1 hour", "500 ms"); a bare number is seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid time %q (use a number with a unit such as 30 secs, 5 mins, 1 hour)", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q is too large", s)
	}
	unit, ok := durationUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		return 0, fmt.Errorf("invalid time unit in %q (use ms, secs, mins, hours, days or weeks)", s)
	}
	if n > uint64(math.MaxInt64/int64(unit)) {
		return 0, fmt.Errorf("time %q is too large", s)
	}
	return time.Duration(n) * unit, nil
}

// ParseMode parses an octal file mode written with a leading 0 ("0600").
func ParseMode(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("invalid file mode %q (use octal such as 0600)", s)
	}
	if len(s) > 1 && s[0] != '0' {
		return 0, fmt.Errorf("file mode %q must be octal with a leading 0 (0%s)", s, s)
	}
	return uint32(n), nil
}

// splitList splits a list value on spaces, tabs and commas.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
}

// checkValue validates v against s and returns the problem, or "".
func checkValue(s *Setting, v string) string {
	switch s.Type {
	case TBool:
		if _, err := ParseBool(v); err != nil {
			return err.Error()
		}
	case TUint:
		t := strings.TrimSpace(v)
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			if strings.EqualFold(t, "unlimited") {
				return fmt.Sprintf("must be a number (%q is not allowed here)", t)
			}
			return fmt.Sprintf("must be a number, not %q", v)
		}
		if n < s.Min {
			msg := fmt.Sprintf("must be > %d", s.Min-1)
			if s.MinHint != "" {
				msg += " (" + s.MinHint + ")"
			}
			return msg
		}
		if s.Max > 0 && n > s.Max {
			return fmt.Sprintf("must be %d..%d", s.Min, s.Max)
		}
	case TSize:
		if _, err := ParseSize(v); err != nil {
			return err.Error()
		}
	case TTime:
		if _, err := ParseDuration(v); err != nil {
			return err.Error()
		}
	case TEnum:
		found := false
		for _, e := range s.Enum {
			found = found || v == e
		}
		if !found {
			return fmt.Sprintf("invalid value %q (use %s)%s", v, quoteList(s.Enum), didYouMean(v, s.Enum))
		}
	case TList:
		if s.Enum != nil {
			for _, w := range splitList(v) {
				if !containsFold(s.Enum, w) {
					return fmt.Sprintf("unknown value %q (use %s)%s", w, quoteList(s.Enum), didYouMean(w, s.Enum))
				}
			}
		}
	case TMode:
		if _, err := ParseMode(v); err != nil {
			return err.Error()
		}
	case TUser:
		if v != "" && !validUser(v) {
			return fmt.Sprintf("invalid user or group name %q", v)
		}
	case TAddrList:
		for _, a := range splitList(v) {
			if a == "*" || a == "::" {
				continue
			}
			if _, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
				continue
			}
			if !validHost(a) {
				return fmt.Sprintf("invalid address %q (use *, ::, an IP address or a host name)", a)
			}
		}
	case TNetList:
		for _, a := range splitList(v) {
			if _, err := netip.ParsePrefix(a); err == nil {
				continue
			}
			if _, err := netip.ParseAddr(a); err == nil {
				continue
			}
			return fmt.Sprintf("invalid network %q (use an IP address or CIDR such as 192.0.2.0/24)", a)
		}
	}
	if s.Check != nil {
		return s.Check(v)
	}
	return ""
}

func validUser(v string) bool {
	for i, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case (r >= '0' && r <= '9') || r == '-' || r == '.' || (r == '$' && i == len(v)-1):
		default:
			return false
		}
	}
	return true
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkMailLocation accepts maildir (the mail store cote implements) and
// refuses every other driver by name.
func checkMailLocation(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	driver, _, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Sprintf("%q names no driver (use maildir:~/Maildir)", v)
	}
	switch strings.ToLower(driver) {
	case "maildir":
		return ""
	case "mbox":
		return "mbox is not supported yet; use maildir:..."
	}
	return fmt.Sprintf("%s is not supported; use maildir:...", driver)
}

// checkImapCapability checks Dovecot's imap_capability: "" (the server's
// own list), "+NAME ..." (added to it) or a list replacing it. Every name
// must be an IMAP atom (RFC 9051 §9: capability = atom) or the CAPABILITY
// response would be malformed, and a replacing list must name IMAP4rev1 or
// IMAP4rev2 (RFC 9051 §7.2.2).
func checkImapCapability(v string) string {
	v = strings.TrimSpace(v)
	add := strings.HasPrefix(v, "+")
	names := strings.Fields(strings.TrimPrefix(v, "+"))
	rev := false
	for _, n := range names {
		if strings.EqualFold(n, "IMAP4rev1") || strings.EqualFold(n, "IMAP4rev2") {
			rev = true
		}
		for i := 0; i < len(n); i++ {
			if c := n[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
				return fmt.Sprintf("%q is not a capability name (an IMAP atom: no quotes, brackets, braces, %%, * or 8-bit characters)", n)
			}
		}
	}
	if v != "" && !add && !rev {
		return "a list replacing the capabilities must include IMAP4rev1 or IMAP4rev2 (or start with + to add names to them)"
	}
	return ""
}

// checkExecutable requires a binary name and forbids relative paths with a
// directory, which would resolve against the master's working directory.
func checkExecutable(v string) string {
	words := strings.Fields(v)
	if len(words) == 0 {
		return "must name a binary"
	}
	if strings.Contains(words[0], "/") && !strings.HasPrefix(words[0], "/") {
		return fmt.Sprintf("%q must be an absolute path or a bare name in the libexec directory", words[0])
	}
	return ""
}

func quoteList(vs []string) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			if i == len(vs)-1 {
				b.WriteString(" or ")
			} else {
				b.WriteString(", ")
			}
		}
		if v == "" {
			b.WriteString(`""`)
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}

func containsFold(vs []string, w string) bool {
	for _, v := range vs {
		if strings.EqualFold(v, w) {
			return true
		}
	}
	return false
}

// didYouMean returns ` (did you mean "x"?)` for the closest candidate
// within a small edit distance, or "".
func didYouMean(got string, candidates []string) string {
	best, bestD := "", -1
	g := strings.ToLower(got)
	for _, c := range candidates {
		d := editDistance(g, strings.ToLower(c))
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := len(got) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD < 0 || bestD > limit || bestD == 0 && best == got {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sameAsDefault reports whether v equals a Dovecot default def once units
// and spacing are normalised ("1 min" = "1 mins" = "60s", "10M" = "10 M").
func sameAsDefault(v, def string) bool {
	nv, nd := strings.Join(strings.Fields(v), " "), strings.Join(strings.Fields(def), " ")
	if nv == nd {
		return true
	}
	if nd == "" || nv == "" {
		return false
	}
	last := nd[len(nd)-1]
	if last >= 'a' && last <= 'z' || last >= 'A' && last <= 'Z' {
		if a, err := ParseDuration(nv); err == nil {
			if b, err := ParseDuration(nd); err == nil && strings.ContainsAny(nd, "sdhmw") {
				return a == b
			}
		}
		if a, err := ParseSize(nv); err == nil {
			if b, err := ParseSize(nd); err == nil {
				return a == b
			}
		}
		if a, err := ParseBool(nv); err == nil {
			if b, err := ParseBool(nd); err == nil {
				return a == b
			}
		}
	}
	return false
}
