package imapd

import (
	"strings"
)

// baseSubject extracts the base subject of RFC 5256 §2.1 from a raw
// Subject value and reports whether the subject marked a reply or a
// forward (a removed "Re:", "Fwd:", "(fwd)" or "[fwd: ...]"), which
// THREAD=REFERENCES needs. The result is in i;unicode-casemap form
// (foldString), so two base subjects are the same exactly when equal,
// and it sorts as Dovecot's imap_get_base_subject_cased does.
func baseSubject(raw string) (string, bool) {
	// (1) Encoded-words decoded, tabs and line ends made spaces, runs
	// of spaces made one, leading and trailing space dropped.
	s := raw
	if strings.Contains(s, "=?") {
		s = decodeHeaderValue(s)
	}
	s = packSpace(s)
	reply := false
	start := 0
	for {
		// (2) subj-trailer = "(fwd)" / WSP, repeatedly.
		for len(s) > start {
			if s[len(s)-1] == ' ' {
				s = s[:len(s)-1]
			} else if len(s)-start >= 5 && strings.EqualFold(s[len(s)-5:], "(fwd)") {
				s = s[:len(s)-5]
				reply = true
			} else {
				break
			}
		}
		// (3)-(5) subj-leader and a subj-blob that leaves text behind,
		// until neither matches.
		for {
			found := false
			if n, r := subjLeader(s[start:]); n > 0 {
				start += n
				found = true
				reply = reply || r
			}
			if rest := s[start:]; strings.HasPrefix(rest, "[") {
				if n := subjBlob(rest); n > 0 && n < len(rest) {
					start += n
					found = true
				}
			}
			if !found {
				break
			}
		}
		// (6) "[fwd:" ... "]" around the whole rest: removed, and the
		// steps repeat from (2).
		rest := s[start:]
		if len(rest) >= 6 && strings.EqualFold(rest[:5], "[fwd:") && rest[len(rest)-1] == ']' {
			s = s[:len(s)-1]
			start += 5
			reply = true
			continue
		}
		break
	}
	return foldString(s[start:]), reply
}

// packSpace makes every run of white space (space, tab, CR, LF) one
// space and drops it at both ends.
func packSpace(s string) string {
	if packed(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// subjBlob returns the length of the subj-blob ("[" *BLOBCHAR "]"
// *WSP) that s starts with, 0 if none. Spaces are packed, so *WSP is at
// most one space.
func subjBlob(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	i := 1
	for i < len(s) && s[i] != '[' && s[i] != ']' {
		i++
	}
	if i == len(s) || s[i] != ']' {
		return 0
	}
	i++
	if i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// subjLeader returns the length of the subj-leader that s starts with
// ((*subj-blob subj-refwd) / WSP, as Dovecot reads it: a leading space
// always goes, then blobs followed by "re", "fw" or "fwd", an optional
// space and blob, and ":") and whether it held a subj-refwd.
func subjLeader(s string) (int, bool) {
	n := 0
	if strings.HasPrefix(s, " ") {
		n = 1
	}
	i := n
	for i < len(s) && s[i] == '[' {
		b := subjBlob(s[i:])
		if b == 0 {
			return n, false
		}
		i += b
	}
	rest := s[i:]
	switch {
	case hasPrefixFold(rest, "re"):
		i += 2
	case hasPrefixFold(rest, "fwd"):
		i += 3
	case hasPrefixFold(rest, "fw"):
		i += 2
	default:
		return n, false
	}
	if i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '[' {
		b := subjBlob(s[i:])
		if b == 0 {
			return n, false
		}
		i += b
	}
	if i >= len(s) || s[i] != ':' {
		return n, false
	}
	return i + 1, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// packed reports whether packSpace would return s unchanged.
func packed(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\r', '\n':
			return false
		case ' ':
			if s[i+1] == ' ' {
				return false
			}
		}
	}
	return true
}
