package imapd

import (
	"github.com/cote-mail/cote/pkg/storage"
)

// RFC 8474 OBJECTID. EMAILID and THREADID are FETCH items (fetch.go);
// MAILBOXID is the store's mailbox id (storage.Status.MailboxID), sent
// in SELECT/EXAMINE's untagged OK, CREATE's tagged OK and STATUS.
// THREADID is always NIL: there is no thread index, as in Dovecot
// without one (RFC 8474 §5.2 allows NIL).

// selectMailboxID writes "* OK [MAILBOXID (id)]" (RFC 8474 §4.2). The
// mailbox is selected by now: an id the store cannot read leaves the
// response out rather than failing the SELECT.
func (s *Session) selectMailboxID(mb storage.Mailbox) {
	var id string
	var err error
	if m, ok := mb.(storage.MailboxIDer); ok {
		id, err = m.MailboxID()
	} else {
		var st storage.Status
		st, err = mb.Status()
		id = st.MailboxID
	}
	if err != nil {
		s.log.Warn("reading MAILBOXID failed", zapErr(err))
	} else if id != "" {
		s.w.WriteString("* OK [MAILBOXID (" + id + ")] Ok\r\n")
	}
}

// createdMailboxID sets CREATE's tagged OK code to MAILBOXID (RFC 8474
// §4.1). The mailbox exists by now: failing to read its id does not undo
// that, so the OK then goes without the code.
func (s *Session) createdMailboxID(c *cmdCtx, name string) {
	st, err := s.user.Status(name)
	if err != nil {
		s.log.Warn("reading MAILBOXID failed", zapErr(err))
	} else if st.MailboxID != "" {
		c.code = "MAILBOXID (" + st.MailboxID + ")"
	}
}

// statusMailboxID is STATUS's MAILBOXID value (RFC 8474 §4.3): the id in
// parentheses, NIL when the store has none.
func statusMailboxID(st storage.Status) string {
	if st.MailboxID == "" {
		return "NIL"
	}
	return "(" + st.MailboxID + ")"
}
