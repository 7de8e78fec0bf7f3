package imapd

import (
	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// QUOTA (RFC 9208) over the store's single quota root per user
// (storage.User.QuotaRoots, QuotaResources). Limits come from the
// configuration, so SETQUOTA is refused, as Dovecot refuses it to
// everyone but a configured admin.

// errNoQuota answers the quota commands when Config.Quota is off: to the
// client they do not exist.
var errNoQuota = bad("Unknown command.")

// cmdGetQuotaRoot: RFC 9208 §4.3.
func cmdGetQuotaRoot(s *Session, c *cmdCtx) error {
	if !s.cfg.Quota {
		return errNoQuota
	}
	if len(c.args) != 1 {
		return bad("Invalid arguments.")
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	// The roots of a mailbox that does not exist are not reported:
	// NONEXISTENT tells the client it named the wrong one.
	if !s.isSelected(name) {
		if _, err := s.user.Status(name); err != nil {
			return err
		}
	}
	roots, err := s.user.QuotaRoots(name)
	if err != nil {
		return err
	}
	s.w.WriteString("* QUOTAROOT ")
	s.w.AString(s.mailboxOut(name))
	for _, r := range roots {
		s.w.WriteString(" ")
		s.w.AString(r)
	}
	s.w.CRLF()
	for _, r := range roots {
		if err := s.writeQuota(r); err != nil {
			return err
		}
	}
	return nil
}

// cmdGetQuota: RFC 9208 §4.2.
func cmdGetQuota(s *Session, c *cmdCtx) error {
	if !s.cfg.Quota {
		return errNoQuota
	}
	if len(c.args) != 1 {
		return bad("Invalid arguments.")
	}
	root, ok := c.args[0].AString()
	if !ok {
		return bad("Invalid quota root.")
	}
	if err := s.writeQuota(root); err != nil {
		if storage.KindOf(err) == storage.ErrNotFound {
			return no("NONEXISTENT", "Quota root does not exist.")
		}
		return err
	}
	return nil
}

// writeQuota writes "* QUOTA root (resource usage limit ...)".
func (s *Session) writeQuota(root string) error {
	res, err := s.user.QuotaResources(root)
	if err != nil {
		return err
	}
	s.w.WriteString("* QUOTA ")
	s.w.AString(s.user.QuotaRootName())
	s.w.WriteString(" (")
	for i, r := range res {
		if i > 0 {
			s.w.WriteString(" ")
		}
		s.w.WriteString(r.Name + " " + itoa64(r.Usage) + " " + itoa64(r.Limit))
	}
	s.w.WriteString(")\r\n")
	return nil
}

// cmdSetQuota: RFC 9208 §4.1. The syntax is checked, then the command is
// refused: limits are the administrator's, set in the configuration.
func cmdSetQuota(s *Session, c *cmdCtx) error {
	if !s.cfg.Quota {
		return errNoQuota
	}
	if len(c.args) != 2 || c.args[1].Kind != imap.List {
		return bad("Invalid arguments.")
	}
	if _, ok := c.args[0].AString(); !ok {
		return bad("Invalid quota root.")
	}
	l := c.args[1].List
	if len(l)%2 != 0 {
		return bad("Invalid resource limits.")
	}
	for i := 0; i < len(l); i += 2 {
		if l[i].Kind != imap.Atom || l[i+1].Kind != imap.Atom {
			return bad("Invalid resource limits.")
		}
		if _, ok := parseUint64(l[i+1].Value); !ok {
			return bad("Invalid resource limit.")
		}
	}
	return no("NOPERM", "Quota can be changed only by the administrator.")
}

func parseUint64(v string) (uint64, bool) {
	if v == "" || len(v) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// deletedStorage is STATUS DELETED-STORAGE (RFC 9208 §4.4): the KiB an
// EXPUNGE of the mailbox would free, counted as the quota counts bytes.
func (s *Session) deletedStorage(name string) (int64, error) {
	mb := s.mbox
	if !s.isSelected(name) {
		var err error
		if mb, err = s.user.Open(name, true); err != nil {
			return 0, err
		}
		defer mb.Close()
	}
	var total int64
	err := mb.Messages(nil, func(m storage.Message) error {
		if m.Flags&storage.FlagDeleted != 0 {
			total += m.PhysicalSize
		}
		return nil
	})
	return total / 1024, err
}
