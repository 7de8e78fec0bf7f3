package storage

import (
	"strings"
	"time"
)

// Flags are the system flags of RFC 9051 §2.3.2 that a message keeps.
// \Recent is not among them: it belongs to a session (RFC 3501 §2.3.2),
// and Mailbox.Recent reports it.
type Flags uint8

const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagAnswered, `\Answered`},
	{FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`},
	{FlagSeen, `\Seen`},
	{FlagDraft, `\Draft`},
}

// Names returns the IMAP names of f in a fixed order.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// ParseFlag returns the system flag named s (case-insensitive, with the
// backslash), or false when s is not one (a keyword, or \Recent).
func ParseFlag(s string) (Flags, bool) {
	for _, n := range flagNames {
		if strings.EqualFold(s, n.name) {
			return n.f, true
		}
	}
	return 0, false
}

// MaxKeywordLength is Dovecot's mail_max_keyword_length default (50):
// longer keywords are refused so a Maildir shared with Dovecot stays
// readable by it.
const MaxKeywordLength = 50

// ValidKeyword reports whether s is an IMAP flag-keyword (RFC 9051 §9
// atom without the list-wildcards, quoted-specials or resp-specials).
func ValidKeyword(s string) bool {
	if s == "" || len(s) > MaxKeywordLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// Message is what the store knows of one message without reading it.
type Message struct {
	UID      uint32
	Flags    Flags
	Keywords []string // sorted, no duplicates
	ModSeq   uint64   // RFC 7162 mod-sequence of the last change
	// Size is RFC822.SIZE: the size with CRLF line ends. PhysicalSize is
	// the size of the stored file.
	Size         int64
	PhysicalSize int64
	InternalDate time.Time
	SaveDate     time.Time // RFC 8514 SAVEDATE
	// EmailID is the RFC 8474 EMAILID, stable across copies, derived from
	// the Maildir base name (or its equivalent in other formats).
	EmailID string
}

// StatusItems selects the counters Status computes; the cheap ones are
// always filled.
type Status struct {
	Messages      uint32
	Recent        uint32
	Unseen        uint32
	UIDNext       uint32
	UIDValidity   uint32
	HighestModSeq uint64
	Size          int64 // RFC 8438 STATUS SIZE: sum of RFC822.SIZE
	Deleted       uint32
	// MailboxID is the RFC 8474 MAILBOXID: set when the mailbox is
	// created, unchanged by renames, never reused (RFC 8474 §4.1); only
	// the characters of an objectid. Empty when the driver has none.
	MailboxID string
}

// MailboxIDer is a Mailbox whose driver keeps RFC 8474 MAILBOXIDs: the
// same id as Status.MailboxID, without counting the messages.
type MailboxIDer interface {
	MailboxID() (string, error)
}

// StoreOp is how Store combines the given flags with the present ones.
type StoreOp int

const (
	StoreReplace StoreOp = iota // FLAGS
	StoreAdd                    // +FLAGS
	StoreRemove                 // -FLAGS
)

// Changes is what a Sync found since the previous one, in the terms a
// session reports (RFC 9051 §7.4.1 EXPUNGE, §7.3.1 EXISTS, FETCH FLAGS).
type Changes struct {
	// Expunged are the sequence numbers to report, in the order an IMAP
	// server must send them (each relative to the state after the
	// previous ones: descending order satisfies that).
	Expunged []uint32
	// ExpungedUIDs are the same messages by UID (QRESYNC VANISHED).
	ExpungedUIDs []uint32
	// Exists is the new message count when it grew (0 when unchanged).
	Exists uint32
	Recent uint32
	// FlagsChanged are the UIDs whose flags or keywords changed since the
	// previous sync by someone other than this handle.
	FlagsChanged []uint32
	// NewKeywords is set when the mailbox's keyword set differs from the
	// one Mailbox.Keywords last returned (FLAGS and PERMANENTFLAGS must
	// be re-sent); it stays set until Keywords is called.
	NewKeywords bool
}

// AppendOptions are the per-message parameters of a save (APPEND, LMTP).
type AppendOptions struct {
	Flags        Flags
	Keywords     []string
	InternalDate time.Time // zero: now
}

// Event says a mailbox changed, so a waiting session (IDLE) should Sync.
type Event struct {
	Mailbox string // the driver's path of the mailbox (opaque to sessions)
}
