package imap

import (
	"strconv"
	"strings"
)

// ParseModSeq parses a mod-sequence-value (RFC 7162 §7: a positive
// 63-bit number), or a mod-sequence-valzer when zero is allowed.
func ParseModSeq(s string, zero bool) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil || (n == 0 && !zero) {
		return 0, false
	}
	return n, true
}

// FetchModifiers are the FETCH modifiers of RFC 7162: "(CHANGEDSINCE n)"
// (§3.1.4.1) and, for UID FETCH, "VANISHED" (§3.2.6).
type FetchModifiers struct {
	// ChangedSince is set (Changed true) for CHANGEDSINCE: only messages
	// with a modseq above it are answered, and MODSEQ is implied.
	ChangedSince uint64
	Changed      bool
	Vanished     bool
}

// ParseFetchModifiers parses the modifier list after the FETCH items.
// VANISHED without CHANGEDSINCE is a syntax error (RFC 7162 §3.2.6).
func ParseFetchModifiers(a Arg) (FetchModifiers, error) {
	var m FetchModifiers
	if a.Kind != List || len(a.List) == 0 {
		return m, badArg("Invalid FETCH modifiers")
	}
	for i := 0; i < len(a.List); i++ {
		x := a.List[i]
		if x.Kind != Atom {
			return m, badArg("Invalid FETCH modifier")
		}
		switch strings.ToUpper(x.Value) {
		case "CHANGEDSINCE":
			if m.Changed || i+1 >= len(a.List) || a.List[i+1].Kind != Atom {
				return m, badArg("Invalid CHANGEDSINCE modifier")
			}
			// Zero is taken too: a client that knows no modseq yet
			// asks for every message (Dovecot accepts it as well).
			n, ok := ParseModSeq(a.List[i+1].Value, true)
			if !ok {
				return m, badArg("Invalid CHANGEDSINCE value")
			}
			m.ChangedSince, m.Changed = n, true
			i++
		case "VANISHED":
			if m.Vanished {
				return m, badArg("Duplicate VANISHED modifier")
			}
			m.Vanished = true
		default:
			return m, badArg("Unknown FETCH modifier " + truncate(x.Value, 40))
		}
	}
	if m.Vanished && !m.Changed {
		return m, badArg("VANISHED requires CHANGEDSINCE")
	}
	return m, nil
}

// QResync is the QRESYNC select parameter (RFC 7162 §3.2.5).
type QResync struct {
	UIDValidity uint32
	ModSeq      uint64
	// KnownUIDs is the client's known UIDs; empty when not given (every
	// UID then).
	KnownUIDs SeqSet
	// SeqMatch is the optional sequence match data: the sequence numbers
	// the client knows for the UIDs of KnownSeqUIDs, in order.
	KnownSeqs    SeqSet
	KnownSeqUIDs SeqSet
	SeqMatch     bool
}

// SelectParams are the SELECT/EXAMINE parameters (RFC 4466 §2.1).
type SelectParams struct {
	CondStore bool
	QResync   *QResync
}

// ParseSelectParams parses the parameter list of SELECT or EXAMINE.
func ParseSelectParams(a Arg) (SelectParams, error) {
	var p SelectParams
	if a.Kind != List {
		return p, badArg("Invalid SELECT parameters")
	}
	for i := 0; i < len(a.List); i++ {
		x := a.List[i]
		if x.Kind != Atom {
			return p, badArg("Invalid SELECT parameter")
		}
		switch strings.ToUpper(x.Value) {
		case "CONDSTORE":
			p.CondStore = true
		case "QRESYNC":
			if p.QResync != nil || i+1 >= len(a.List) {
				return p, badArg("Invalid QRESYNC parameter")
			}
			q, err := parseQResync(a.List[i+1])
			if err != nil {
				return p, err
			}
			p.QResync = q
			i++
		default:
			return p, badArg("Unknown SELECT parameter " + truncate(x.Value, 40))
		}
	}
	return p, nil
}

// parseQResync parses "(uidvalidity modseq [known-uids [(seqs uids)]])".
func parseQResync(a Arg) (*QResync, error) {
	bad := badArg("Invalid QRESYNC parameter")
	if a.Kind != List || len(a.List) < 2 || len(a.List) > 4 {
		return nil, bad
	}
	l := a.List
	for _, x := range l[:2] {
		if x.Kind != Atom {
			return nil, bad
		}
	}
	uv, err := strconv.ParseUint(l[0].Value, 10, 32)
	if err != nil || uv == 0 {
		return nil, bad
	}
	ms, ok := ParseModSeq(l[1].Value, false)
	if !ok {
		return nil, bad
	}
	q := &QResync{UIDValidity: uint32(uv), ModSeq: ms}
	rest := l[2:]
	if len(rest) > 0 && rest[0].Kind == Atom {
		set, err := ParseSeqSet(rest[0].Value)
		if err != nil || set.SearchRes {
			return nil, bad
		}
		q.KnownUIDs = set
		rest = rest[1:]
	}
	if len(rest) > 0 {
		m := rest[0]
		if m.Kind != List || len(m.List) != 2 || m.List[0].Kind != Atom || m.List[1].Kind != Atom || len(rest) > 1 {
			return nil, bad
		}
		seqs, err1 := ParseSeqSet(m.List[0].Value)
		uids, err2 := ParseSeqSet(m.List[1].Value)
		if err1 != nil || err2 != nil || seqs.SearchRes || uids.SearchRes {
			return nil, bad
		}
		q.KnownSeqs, q.KnownSeqUIDs, q.SeqMatch = seqs, uids, true
	}
	return q, nil
}
