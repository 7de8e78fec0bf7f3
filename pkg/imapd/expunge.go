package imapd

import "github.com/cote-mail/cote/pkg/imap"

// cmdExpunge: EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
// The EXPUNGE responses come from the Sync the dispatcher runs after it.
func cmdExpunge(s *Session, c *cmdCtx) error {
	var uids []uint32
	if c.uid {
		if len(c.args) != 1 || c.args[0].Kind != imap.Atom {
			return bad("Invalid arguments.")
		}
		var err error
		if uids, err = s.resolveSet(c.args[0].Value, true); err != nil {
			return err
		}
		if len(uids) == 0 {
			return nil
		}
	} else if err := wantArgs(c, 0); err != nil {
		return err
	}
	if s.mbox.ReadOnly() {
		return no("CANNOT", "Mailbox is read-only.")
	}
	if _, err := s.mbox.Expunge(uids); err != nil {
		return err
	}
	s.needSync = true
	return nil
}
