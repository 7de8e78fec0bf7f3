package imap

import (
	"strconv"
	"strings"
)

// StatusItem is one STATUS data item (RFC 9051 §6.3.11, RFC 8438 SIZE).
type StatusItem uint8

// STATUS items. HIGHESTMODSEQ is CONDSTORE's (issue 9).
const (
	StatusMessages StatusItem = iota + 1
	StatusRecent              // IMAP4rev1 only; RFC 9051 removed it
	StatusUIDNext
	StatusUIDValidity
	StatusUnseen
	StatusDeleted
	StatusSize
)

var statusNames = [...]string{
	StatusMessages: "MESSAGES", StatusRecent: "RECENT", StatusUIDNext: "UIDNEXT",
	StatusUIDValidity: "UIDVALIDITY", StatusUnseen: "UNSEEN", StatusDeleted: "DELETED",
	StatusSize: "SIZE",
}

func (s StatusItem) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return "StatusItem(" + strconv.Itoa(int(s)) + ")"
}

// ParseStatusItems parses "(MESSAGES UIDNEXT ...)": at least one item,
// duplicates dropped. RECENT is accepted in both protocol versions, as
// Dovecot does (RFC 9051 clients do not send it).
func ParseStatusItems(a Arg) ([]StatusItem, error) {
	if a.Kind != List || len(a.List) == 0 {
		return nil, badArg("STATUS items must be a non-empty list")
	}
	var out []StatusItem
	for _, x := range a.List {
		if x.Kind != Atom {
			return nil, badArg("Invalid STATUS item")
		}
		var it StatusItem
		up := strings.ToUpper(x.Value)
		for i, n := range statusNames {
			if n != "" && n == up {
				it = StatusItem(i)
			}
		}
		if it == 0 {
			return nil, badArg("Unknown STATUS item " + truncate(x.Value, 40))
		}
		dup := false
		for _, o := range out {
			dup = dup || o == it
		}
		if !dup {
			out = append(out, it)
		}
	}
	return out, nil
}

// ListSelect holds LIST selection options (RFC 5258 §3.1, RFC 6154).
type ListSelect struct {
	Subscribed     bool
	Remote         bool // accepted and has no effect: there are no remote mailboxes (RFC 5258 §3.1)
	RecursiveMatch bool // needs another option besides it (RFC 5258 §3.1)
	SpecialUse     bool
}

// ListReturn holds LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
type ListReturn struct {
	Subscribed bool
	Children   bool
	SpecialUse bool
	Status     []StatusItem // RETURN (STATUS (...)), LIST-STATUS
}

// ListCommand is a parsed LIST (or LSUB: Extended is false and no options).
type ListCommand struct {
	// Reference and Patterns are UTF-8 (decoded from modified UTF-7).
	Reference string
	Patterns  []string
	Select    ListSelect
	Return    ListReturn
	// Extended is set when the command used RFC 5258 syntax: selection
	// options, return options or a pattern list. Its answers then
	// follow RFC 5258 (e.g. \NonExistent, CHILDINFO).
	Extended bool
}

// ParseList parses the arguments of LIST, and of LSUB when lsub is set
// (LSUB has only the reference and one pattern).
func ParseList(args []Arg, lsub bool) (*ListCommand, error) {
	l := &ListCommand{}
	if !lsub && len(args) > 0 && args[0].Kind == List {
		if err := parseListSelect(args[0].List, &l.Select); err != nil {
			return nil, err
		}
		l.Extended = true
		args = args[1:]
	}
	if len(args) < 2 {
		return nil, badArg("Missing LIST arguments")
	}
	ref, ok := args[0].AString()
	if !ok {
		return nil, badArg("Invalid reference")
	}
	var err error
	if l.Reference, err = DecodeMUTF7(ref); err != nil {
		return nil, badArg("Reference is not valid modified UTF-7")
	}
	switch {
	case args[1].Kind == List && !lsub:
		if len(args[1].List) == 0 {
			return nil, badArg("Empty pattern list")
		}
		l.Extended = true
		for _, p := range args[1].List {
			pat, err := listPattern(p)
			if err != nil {
				return nil, err
			}
			l.Patterns = append(l.Patterns, pat)
		}
	default:
		pat, err := listPattern(args[1])
		if err != nil {
			return nil, err
		}
		l.Patterns = []string{pat}
	}
	args = args[2:]
	if len(args) == 0 {
		return l, nil
	}
	if lsub || len(args) != 2 || args[0].Kind != Atom || !strings.EqualFold(args[0].Value, "RETURN") || args[1].Kind != List {
		return nil, badArg("Unexpected LIST arguments")
	}
	l.Extended = true
	if err := parseListReturn(args[1].List, &l.Return); err != nil {
		return nil, err
	}
	return l, nil
}

// listPattern is list-mailbox (RFC 9051 §9): an atom with list-wildcards
// or a string.
func listPattern(a Arg) (string, error) {
	if a.Kind != Atom && a.Kind != String && a.Kind != NIL {
		return "", badArg("Invalid mailbox pattern")
	}
	p, err := DecodeMUTF7(a.Value)
	if err != nil {
		return "", badArg("Mailbox pattern is not valid modified UTF-7")
	}
	return p, nil
}

func parseListSelect(opts []Arg, s *ListSelect) error {
	for _, o := range opts {
		if o.Kind != Atom {
			return badArg("Invalid LIST selection option")
		}
		switch strings.ToUpper(o.Value) {
		case "SUBSCRIBED":
			s.Subscribed = true
		case "REMOTE":
			s.Remote = true
		case "RECURSIVEMATCH":
			s.RecursiveMatch = true
		case "SPECIAL-USE":
			s.SpecialUse = true
		default:
			// RFC 5258 §3.1: unknown selection options are an error.
			return badArg("Unknown LIST selection option " + truncate(o.Value, 40))
		}
	}
	if s.RecursiveMatch && !s.Subscribed && !s.SpecialUse {
		return badArg("RECURSIVEMATCH needs another selection option")
	}
	return nil
}

func parseListReturn(opts []Arg, r *ListReturn) error {
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		if o.Kind != Atom {
			return badArg("Invalid LIST return option")
		}
		switch strings.ToUpper(o.Value) {
		case "SUBSCRIBED":
			r.Subscribed = true
		case "CHILDREN":
			r.Children = true
		case "SPECIAL-USE":
			r.SpecialUse = true
		case "STATUS":
			if i+1 >= len(opts) {
				return badArg("STATUS needs a list of items")
			}
			items, err := ParseStatusItems(opts[i+1])
			if err != nil {
				return err
			}
			r.Status = items
			i++
		default:
			return badArg("Unknown LIST return option " + truncate(o.Value, 40))
		}
	}
	return nil
}

// MatchList reports whether name matches a LIST pattern (RFC 9051
// §6.3.9): "*" matches any run of characters, "%" any run without the
// hierarchy delimiter delim. Both are UTF-8 and compared exactly: pass
// the pattern through ListCanonical and names with INBOX upper-cased. It runs in O(len(pattern) *
// len(name)) time: no pattern can make it backtrack exponentially.
func MatchList(pattern, name string, delim byte) bool {
	// Fast paths for what clients send most.
	if pattern == "*" {
		return true
	}
	if !strings.ContainsAny(pattern, "*%") {
		return pattern == name
	}
	// cur[j]: pattern[:i] matches name[:j].
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		clear(next)
		switch c {
		case '*':
			for j := 0; j <= len(name); j++ {
				next[j] = cur[j] || (j > 0 && next[j-1])
			}
		case '%':
			for j := 0; j <= len(name); j++ {
				next[j] = cur[j] || (j > 0 && next[j-1] && name[j-1] != delim)
			}
		default:
			for j := 1; j <= len(name); j++ {
				next[j] = cur[j-1] && name[j-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}

// ListCanonical joins a reference and a pattern: RFC 9051 §6.3.9 reads
// the pattern "as if it were appended to the reference", which is what
// Dovecot does, except that a delimiter ending the reference and one
// starting the pattern are not doubled. An "inbox" prefix is upper-cased
// (CanonicalInbox), so "inbox" and "Inbox/%" match as INBOX does; the
// result is what MatchList takes.
func ListCanonical(reference, pattern string, delim byte) string {
	if delim != 0 && strings.HasSuffix(reference, string(delim)) && strings.HasPrefix(pattern, string(delim)) {
		return CanonicalInbox(reference+pattern[1:], delim)
	}
	return CanonicalInbox(reference+pattern, delim)
}
