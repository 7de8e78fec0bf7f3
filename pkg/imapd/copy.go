package imapd

import (
	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// openTarget opens the destination of COPY, MOVE or APPEND: the selected
// mailbox itself when it is the same one (its view learns of the new
// messages at the next Sync), another handle otherwise. close releases it.
func (s *Session) openTarget(name string) (mb storage.Mailbox, close func(), err error) {
	if s.isSelected(name) && !s.mbox.ReadOnly() {
		return s.mbox, func() {}, nil
	}
	// OpenSave, not Open: a handle that only receives messages must not
	// claim \Recent, which belongs to the next session selecting it.
	mb, err = s.user.OpenSave(name)
	if err != nil {
		if storage.KindOf(err) == storage.ErrNotFound {
			// RFC 9051 §6.3.12: TRYCREATE tells the client to CREATE first.
			return nil, nil, no("TRYCREATE", "Mailbox doesn't exist.")
		}
		return nil, nil, err
	}
	return mb, func() {
		if err := mb.Close(); err != nil {
			s.log.Warn("closing mailbox failed", zapErr(err))
		}
	}, nil
}

func (s *Session) copyArgs(c *cmdCtx) ([]uint32, string, error) {
	if len(c.args) != 2 || c.args[0].Kind != imap.Atom {
		return nil, "", bad("Invalid arguments.")
	}
	dest, err := s.mailboxArg(c.args[1])
	if err != nil {
		return nil, "", err
	}
	uids, err := s.resolveSet(c.args[0].Value, c.uid)
	return uids, dest, err
}

// cmdCopy: COPY and UID COPY, RFC 9051 §6.4.7, with COPYUID (RFC 4315).
func cmdCopy(s *Session, c *cmdCtx) error {
	uids, dest, err := s.copyArgs(c)
	if err != nil {
		return err
	}
	dst, closeDst, err := s.openTarget(dest)
	if err != nil {
		return err
	}
	defer closeDst()
	if len(uids) == 0 {
		return nil
	}
	src, dstUIDs, err := s.mbox.Copy(dst, uids)
	if err != nil {
		return err
	}
	if dst == s.mbox {
		s.needSync = true
	}
	if len(src) > 0 {
		c.code = "COPYUID " + itoa(dst.UIDValidity()) + " " + formatSet(src) + " " + formatSet(dstUIDs)
	}
	return nil
}

// cmdMove: MOVE and UID MOVE, RFC 6851: COPYUID goes in an untagged OK
// before the EXPUNGE responses.
func cmdMove(s *Session, c *cmdCtx) error {
	uids, dest, err := s.copyArgs(c)
	if err != nil {
		return err
	}
	if s.mbox.ReadOnly() {
		return no("CANNOT", "Mailbox is read-only.")
	}
	dst, closeDst, err := s.openTarget(dest)
	if err != nil {
		return err
	}
	defer closeDst()
	if dst == s.mbox {
		// Moving into the same mailbox: RFC 6851 §3.3 allows refusing it.
		return no("CANNOT", "Source and destination mailboxes are the same.")
	}
	if len(uids) == 0 {
		return nil
	}
	src, dstUIDs, err := storage.Move(s.mbox, dst, uids)
	if err != nil {
		return err
	}
	if len(src) > 0 {
		s.w.WriteString("* OK [COPYUID " + itoa(dst.UIDValidity()) + " " + formatSet(src) + " " + formatSet(dstUIDs) + "] Moved UIDs.\r\n")
	}
	s.needSync = true
	return s.sync(true, true)
}
