package imap

import (
	"strings"
	"time"
)

// StoreMode is how STORE changes flags (RFC 9051 §6.4.6).
type StoreMode uint8

// STORE modes.
const (
	StoreReplace StoreMode = iota + 1 // FLAGS
	StoreAdd                          // +FLAGS
	StoreRemove                       // -FLAGS
)

// Store is a parsed STORE: the arguments after the sequence set.
type Store struct {
	Mode   StoreMode
	Silent bool     // .SILENT: no untagged FETCH for this session
	Flags  []string // canonical (CanonicalFlag); may be empty for FLAGS ()
	// UnchangedSince is the CONDSTORE modifier "(UNCHANGEDSINCE n)" (RFC
	// 7162 §3.1.3); Conditional reports that it was given (n may be 0).
	UnchangedSince uint64
	Conditional    bool
}

// ParseStore parses "FLAGS[.SILENT] (flags)" or the same with flags as
// separate atoms (RFC 9051 §9 store-att-flags allows both), after an
// optional modifier list: "(UNCHANGEDSINCE n)" (RFC 7162 §3.1.3), the one
// modifier known.
func ParseStore(args []Arg) (Store, error) {
	var st Store
	if len(args) > 0 && args[0].Kind == List {
		mods := args[0].List
		if len(mods) != 2 || mods[0].Kind != Atom || !strings.EqualFold(mods[0].Value, "UNCHANGEDSINCE") || mods[1].Kind != Atom {
			return Store{}, badArg("Invalid STORE modifiers")
		}
		n, ok := ParseModSeq(mods[1].Value, true)
		if !ok {
			return Store{}, badArg("Invalid UNCHANGEDSINCE value")
		}
		st.UnchangedSince, st.Conditional = n, true
		args = args[1:]
	}
	if len(args) == 0 {
		return Store{}, badArg("Missing STORE item")
	}
	if args[0].Kind != Atom {
		return Store{}, badArg("Invalid STORE item")
	}
	item := strings.ToUpper(args[0].Value)
	if base, ok := strings.CutSuffix(item, ".SILENT"); ok {
		st.Silent = true
		item = base
	}
	switch item {
	case "FLAGS":
		st.Mode = StoreReplace
	case "+FLAGS":
		st.Mode = StoreAdd
	case "-FLAGS":
		st.Mode = StoreRemove
	default:
		return Store{}, badArg("Invalid STORE item " + truncate(args[0].Value, 40))
	}
	if len(args) < 2 {
		return Store{}, badArg("Missing flags")
	}
	if len(args) > 2 && args[1].Kind == List {
		return Store{}, badArg("Unexpected arguments after flag list")
	}
	flags, err := ParseFlagList(args[1:])
	if err != nil {
		return Store{}, err
	}
	st.Flags = flags
	return st, nil
}

// AppendMessage is one message of APPEND or MULTIAPPEND (RFC 3502).
type AppendMessage struct {
	Flags []string  // canonical flags; nil if none were given
	Date  time.Time // zero when the client gave none: the engine uses now
	Data  string
	// Binary is set for a literal8 (RFC 3516 §4.4): the data may hold
	// NUL and is stored after its content transfer encoding is undone
	// by the client; the store keeps it as is.
	Binary bool
	// Streamed is a literal the Reader handed to its Stream hook: Data
	// is empty and Size is the message's length.
	Streamed bool
	Size     int64
	// UTF8 is the "UTF8 (literal8)" form (RFC 6855 §4): a message whose
	// header may hold UTF-8, sent by a client that enabled UTF8=ACCEPT.
	UTF8 bool
}

// MaxAppendMessages caps one MULTIAPPEND; each message is a literal, so
// the reader's MaxLiterals also bounds it.
const MaxAppendMessages = 1000

// ParseAppend parses the arguments of APPEND: mailbox, then for each
// message optional flags, optional date-time and the message literal
// (RFC 9051 §6.3.12, RFC 3502 MULTIAPPEND, RFC 3516 literal8), or
// "UTF8 (literal8)" in its place (RFC 6855 §4). The mailbox name is
// returned in UTF-8 (ParseMailbox).
func ParseAppend(args []Arg, delim byte) (string, []AppendMessage, error) {
	if len(args) < 2 {
		return "", nil, badArg("Missing APPEND arguments")
	}
	mbox, err := ParseMailbox(args[0], delim)
	if err != nil {
		return "", nil, err
	}
	var msgs []AppendMessage
	rest := args[1:]
	for len(rest) > 0 {
		if len(msgs) >= MaxAppendMessages {
			return "", nil, badArg("Too many messages in one APPEND")
		}
		var m AppendMessage
		if rest[0].Kind == List {
			flags, err := ParseFlagList(rest[:1])
			if err != nil {
				return "", nil, err
			}
			m.Flags = flags
			rest = rest[1:]
		}
		if len(rest) > 0 && rest[0].Kind == String && !rest[0].Literal {
			t, err := ParseDateTime(rest[0].Value)
			if err != nil {
				return "", nil, err
			}
			m.Date = t
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return "", nil, badArg("Missing message literal")
		}
		lit := rest[0]
		if lit.Kind == Atom && strings.EqualFold(lit.Value, "UTF8") {
			// RFC 6855 §4: "UTF8" SP "(" literal8 ")".
			if len(rest) < 2 || rest[1].Kind != List || len(rest[1].List) != 1 {
				return "", nil, badArg("UTF8 must be followed by (literal8)")
			}
			lit = rest[1].List[0]
			if lit.Kind != String || !lit.Literal || !lit.Binary {
				return "", nil, badArg("UTF8 data must be a literal8")
			}
			m.UTF8 = true
			rest = rest[1:]
		}
		if lit.Kind != String || !lit.Literal {
			return "", nil, badArg("The message must be a literal")
		}
		m.Data, m.Binary = lit.Value, lit.Binary
		m.Streamed, m.Size = lit.Streamed, lit.Size
		rest = rest[1:]
		msgs = append(msgs, m)
	}
	return mbox, msgs, nil
}
