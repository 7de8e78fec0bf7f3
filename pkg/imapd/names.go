package imapd

import (
	"unicode/utf8"

	"github.com/cote-mail/cote/pkg/imap"
)

func validUTF8(s string) bool { return utf8.ValidString(s) }

// Mailbox names travel in modified UTF-7 (RFC 3501 §5.1.3) for IMAP4rev1
// clients and in UTF-8 after ENABLE IMAP4rev2 (RFC 9051 §5.1) or ENABLE
// UTF8=ACCEPT (RFC 6855 §3); the store uses UTF-8.

// utf8Accept reports ENABLE UTF8=ACCEPT (RFC 6855); the flag lives in the
// reader, which parses APPEND's UTF8 data item by it.
func (s *Session) utf8Accept() bool { return s.r != nil && s.r.UTF8 }

// utf8Names reports that mailbox names travel in UTF-8.
func (s *Session) utf8Names() bool { return s.rev2 || s.utf8Accept() }

// mailboxIn decodes a mailbox name from the client.
func (s *Session) mailboxIn(name string) (string, error) {
	if s.utf8Names() {
		if !validUTF8(name) {
			return "", bad("Mailbox name is not valid UTF-8.")
		}
		return name, nil
	}
	n, err := imap.DecodeMUTF7(name)
	if err != nil {
		return "", bad("Mailbox name is not valid modified UTF-7.")
	}
	return n, nil
}

// mailboxOut encodes a store name for the client.
func (s *Session) mailboxOut(name string) string {
	if s.utf8Names() {
		return name
	}
	return imap.EncodeMUTF7(name)
}
