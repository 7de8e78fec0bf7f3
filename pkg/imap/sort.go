package imap

import "strings"

// SortKey is one sort criterion key of RFC 5256 §3 and RFC 5957.
type SortKey uint8

// Sort keys.
const (
	SortArrival SortKey = iota + 1
	SortCc
	SortDate
	SortFrom
	SortSize
	SortSubject
	SortTo
	SortDisplayFrom // RFC 5957
	SortDisplayTo   // RFC 5957
)

var sortKeyNames = map[string]SortKey{
	"ARRIVAL": SortArrival, "CC": SortCc, "DATE": SortDate, "FROM": SortFrom,
	"SIZE": SortSize, "SUBJECT": SortSubject, "TO": SortTo,
	"DISPLAYFROM": SortDisplayFrom, "DISPLAYTO": SortDisplayTo,
}

// SortCriterion is one key with its REVERSE modifier.
type SortCriterion struct {
	Key     SortKey
	Reverse bool
}

// Sort is a parsed SORT command (RFC 5256 §3, with RFC 5267 ESORT's
// RETURN options).
type Sort struct {
	// Return is nil without RETURN: the answer is "* SORT". With it the
	// answer is ESEARCH, its numbers in sort order (RFC 5267 §3.2).
	Return   *SearchReturn
	Criteria []SortCriterion
	// Search holds the charset and the program; its Return is nil.
	Search *Search
}

// Thread algorithms (RFC 5256 §3, and Dovecot's REFS).
const (
	ThreadOrderedSubject = "ORDEREDSUBJECT"
	ThreadReferences     = "REFERENCES"
	ThreadRefs           = "REFS"
)

// Thread is a parsed THREAD command (RFC 5256 §3).
type Thread struct {
	Algorithm string // one of the Thread* constants
	Search    *Search
}

// ParseSort parses the arguments of SORT or UID SORT:
// [RETURN (options)] (criteria) charset search-key... Errors are
// *ArgError as ParseSearch returns them.
func ParseSort(args []Arg, rev1 bool, dec CharsetDecoder) (*Sort, error) {
	out := &Sort{}
	if len(args) >= 2 && args[0].Kind == Atom && strings.EqualFold(args[0].Value, "RETURN") {
		if args[1].Kind != List {
			return nil, badArg("RETURN needs a list of options")
		}
		ret, err := parseSearchReturn(args[1].List)
		if err != nil {
			return nil, err
		}
		out.Return = ret
		args = args[2:]
	}
	if len(args) == 0 || args[0].Kind != List || len(args[0].List) == 0 {
		return nil, badArg("Missing sort criteria")
	}
	crit := args[0].List
	for i := 0; i < len(crit); i++ {
		a := crit[i]
		if a.Kind != Atom {
			return nil, badArg("Invalid sort criterion")
		}
		rev := false
		if strings.EqualFold(a.Value, "REVERSE") {
			rev = true
			i++
			if i == len(crit) || crit[i].Kind != Atom {
				return nil, badArg("REVERSE without a sort key")
			}
			a = crit[i]
		}
		k, ok := sortKeyNames[strings.ToUpper(a.Value)]
		if !ok {
			return nil, badArg("Unknown sort key " + truncate(a.Value, 20))
		}
		out.Criteria = append(out.Criteria, SortCriterion{Key: k, Reverse: rev})
	}
	s, err := parseCharsetProgram(args[1:], rev1, dec)
	if err != nil {
		return nil, err
	}
	out.Search = s
	return out, nil
}

// ParseThread parses the arguments of THREAD or UID THREAD:
// algorithm charset search-key...
func ParseThread(args []Arg, rev1 bool, dec CharsetDecoder) (*Thread, error) {
	if len(args) == 0 || args[0].Kind != Atom {
		return nil, badArg("Missing threading algorithm")
	}
	alg := strings.ToUpper(args[0].Value)
	switch alg {
	case ThreadOrderedSubject, ThreadReferences, ThreadRefs:
	default:
		return nil, badArg("Unknown thread algorithm " + truncate(args[0].Value, 20))
	}
	s, err := parseCharsetProgram(args[1:], rev1, dec)
	if err != nil {
		return nil, err
	}
	return &Thread{Algorithm: alg, Search: s}, nil
}

// parseCharsetProgram parses SORT's and THREAD's mandatory charset and
// the search program after it, with SEARCH's charset rules.
func parseCharsetProgram(args []Arg, rev1 bool, dec CharsetDecoder) (*Search, error) {
	if len(args) == 0 {
		return nil, badArg("Missing charset")
	}
	if _, ok := args[0].AString(); !ok {
		return nil, badArg("Invalid charset")
	}
	sargs := make([]Arg, 0, len(args)+1)
	sargs = append(sargs, Arg{Kind: Atom, Value: "CHARSET"})
	sargs = append(sargs, args...)
	return ParseSearch(sargs, rev1, dec)
}
