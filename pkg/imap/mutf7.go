package imap

import (
	"strings"

	"github.com/cote-mail/cote/pkg/mutf7"
)

// Mailbox names travel in modified UTF-7 (RFC 3501 §5.1.3; RFC 9051 §5.1
// keeps it for clients that did not enable UTF8=ACCEPT, which is not
// offered). The engine and the store work in UTF-8; pkg/mutf7 is the one
// codec, shared with the Maildir folder names on disk.

// ErrInvalidMUTF7 is returned for a name that is not modified UTF-7.
var ErrInvalidMUTF7 = mutf7.ErrInvalid

// EncodeMUTF7 encodes a UTF-8 mailbox name for the wire.
func EncodeMUTF7(s string) string { return mutf7.Encode(s) }

// DecodeMUTF7 decodes a mailbox name from the wire to UTF-8.
func DecodeMUTF7(s string) (string, error) { return mutf7.Decode(s) }

// ParseMailbox returns the UTF-8 name of a mailbox argument (an astring
// in modified UTF-7). "INBOX" in any case is INBOX (RFC 9051 §5.1), and
// so is a hierarchy under it ("inbox/x" is "INBOX/x" when delim is '/').
func ParseMailbox(a Arg, delim byte) (string, error) {
	s, ok := a.AString()
	if !ok {
		return "", badArg("Invalid mailbox name")
	}
	name, err := DecodeMUTF7(s)
	if err != nil {
		return "", badArg("Mailbox name is not valid modified UTF-7")
	}
	return CanonicalInbox(name, delim), nil
}

// CanonicalInbox upper-cases an "inbox" prefix: INBOX is case-insensitive
// and the only such name.
func CanonicalInbox(name string, delim byte) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || (delim != 0 && name[5] == delim)) {
		return "INBOX" + name[5:]
	}
	return name
}

// Mailbox writes a UTF-8 mailbox name as an astring in modified UTF-7.
func (w *Writer) Mailbox(name string) { w.AString(EncodeMUTF7(name)) }
