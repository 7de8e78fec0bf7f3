package imapd

import (
	"slices"
	"strconv"
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// mailboxArg reads a mailbox name argument (astring) and decodes it.
func (s *Session) mailboxArg(a imap.Arg) (string, error) {
	v, ok := a.AString()
	if !ok {
		return "", bad("Invalid mailbox name.")
	}
	name, err := s.mailboxIn(v)
	if err != nil {
		return "", err
	}
	// INBOX is case-insensitive, and so is it as a parent (RFC 9051
	// §5.1).
	for _, ns := range s.user.Namespaces() {
		if ns.Inbox {
			return imap.CanonicalInbox(name, ns.Sep), nil
		}
	}
	return name, nil
}

// cmdSelect: SELECT and EXAMINE, RFC 9051 §6.3.2-3.
func cmdSelect(s *Session, c *cmdCtx) error {
	if len(c.args) == 0 {
		return bad("Invalid arguments.")
	}
	params, err := s.selectParams(c)
	if err != nil {
		return err
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	hadMailbox := s.mbox != nil
	// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
	s.closeMailbox()
	if hadMailbox && (s.rev2 || s.qresync) {
		s.w.WriteString("* OK [CLOSED] Previous mailbox closed.\r\n")
	}
	readOnly := c.name == "EXAMINE"
	mb, err := s.user.Open(name, readOnly)
	if err != nil {
		return err
	}
	s.mbox = mb
	s.mboxName = name
	s.state = stateSelected
	s.searchRes = nil
	s.writeFlags()
	n := mb.Count()
	s.w.WriteString("* " + itoa(n) + " EXISTS\r\n")
	if !s.rev2 {
		var recent, firstUnseen uint32
		seq := uint32(0)
		err := mb.Messages(nil, func(m storage.Message) error {
			seq++
			if mb.Recent(m.UID) {
				recent++
			}
			if firstUnseen == 0 && m.Flags&storage.FlagSeen == 0 {
				firstUnseen = seq
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.w.WriteString("* " + itoa(recent) + " RECENT\r\n")
		if firstUnseen > 0 {
			s.w.WriteString("* OK [UNSEEN " + itoa(firstUnseen) + "] First unseen.\r\n")
		}
	}
	s.w.WriteString("* OK [UIDVALIDITY " + itoa(mb.UIDValidity()) + "] UIDs valid\r\n")
	s.w.WriteString("* OK [UIDNEXT " + itoa(mb.UIDNext()) + "] Predicted next UID\r\n")
	s.selectMailboxID(mb) // objectid.go
	if s.rev2 {
		// RFC 9051 §6.3.2: the LIST response of the mailbox.
		s.w.WriteString("* LIST () " + s.sepQuoted(name) + " ")
		s.w.AString(s.mailboxOut(name))
		s.w.CRLF()
	}
	if err := s.selectCondStore(params); err != nil {
		return err
	}
	if readOnly {
		c.code = "READ-ONLY"
		c.text = "Examine completed."
	} else {
		c.code = "READ-WRITE"
		c.text = "Select completed."
	}
	return nil
}

// cmdClose: RFC 9051 §6.4.1, expunges silently when read-write.
func cmdClose(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	if !s.mbox.ReadOnly() {
		if _, err := s.mbox.Expunge(nil); err != nil {
			return err
		}
	}
	s.closeMailbox()
	return nil
}

// cmdUnselect: RFC 3691.
func cmdUnselect(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	s.closeMailbox()
	return nil
}

// cmdCreate: CREATE (RFC 9051 §6.3.4) with the create parameters of
// RFC 4466 §2.2; the one known is USE (RFC 6154 §3, CREATE-SPECIAL-USE).
func cmdCreate(s *Session, c *cmdCtx) error {
	if len(c.args) != 1 && (len(c.args) != 2 || c.args[1].Kind != imap.List) {
		return bad("Invalid arguments.")
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	if len(c.args) == 1 {
		if err := s.user.Create(name); err != nil {
			return err
		}
		s.createdMailboxID(c, name)
		return nil
	}
	var uses []string
	params := c.args[1].List
	for i := 0; i < len(params); i += 2 {
		if params[i].Kind != imap.Atom || !strings.EqualFold(params[i].Value, "USE") {
			return bad("Unknown CREATE parameter.")
		}
		if i+1 >= len(params) || params[i+1].Kind != imap.List {
			return bad("USE needs a list of special-use attributes.")
		}
		for _, a := range params[i+1].List {
			if a.Kind != imap.Atom {
				return bad("Invalid special-use attribute.")
			}
			su, ok := storage.CanonicalSpecialUse(a.Value)
			if !ok {
				// RFC 6154 §3: refused for the attribute, with USEATTR,
				// and the mailbox is not created.
				return no("USEATTR", "Invalid SPECIAL-USE flag %s.", a.Value)
			}
			if !slices.Contains(uses, su) {
				uses = append(uses, su)
			}
		}
	}
	if err := s.user.CreateSpecialUse(name, uses); err != nil {
		return err
	}
	s.createdMailboxID(c, name)
	return nil
}

func cmdDelete(s *Session, c *cmdCtx) error {
	if len(c.args) != 1 {
		return bad("Invalid arguments.")
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	if s.isSelected(name) {
		// Dovecot refuses to delete the selected mailbox; the session's
		// view would point at nothing.
		return no("CANNOT", "Can't delete a selected mailbox.")
	}
	return s.user.Delete(name)
}

func cmdRename(s *Session, c *cmdCtx) error {
	if len(c.args) != 2 {
		return bad("Invalid arguments.")
	}
	from, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	to, err := s.mailboxArg(c.args[1])
	if err != nil {
		return err
	}
	return s.user.Rename(from, to)
}

func cmdSubscribe(s *Session, c *cmdCtx) error {
	if len(c.args) != 1 {
		return bad("Invalid arguments.")
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	if c.name == "SUBSCRIBE" {
		// RFC 9051 §6.3.7 lets a server refuse names that do not exist;
		// Dovecot does, so a typo does not linger in the list.
		if _, err := s.user.Status(name); err != nil {
			return err
		}
	}
	return s.user.SetSubscribed(name, c.name == "SUBSCRIBE")
}

// cmdNamespace: RFC 2342 / RFC 9051 §6.3.10. Every configured namespace is
// the user's own (personal).
func cmdNamespace(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	s.w.WriteString("* NAMESPACE (")
	for _, ns := range s.user.Namespaces() {
		s.w.WriteString("(")
		s.w.String(s.mailboxOut(ns.Prefix))
		s.w.WriteString(" ")
		s.w.String(string(ns.Sep))
		s.w.WriteString(")")
	}
	s.w.WriteString(") NIL NIL\r\n")
	return nil
}

// isSelected reports whether the full name is the selected mailbox: both
// names go through the user's namespace mapping, since the store's
// Mailbox.Name is relative to its namespace ("Sent" for "INBOX.Sent"
// with `prefix = INBOX.`), and one mailbox may have several spellings
// (INBOX is case-insensitive, also as a namespace prefix).
func (s *Session) isSelected(name string) bool {
	if s.mbox == nil {
		return false
	}
	if name == s.mboxName {
		return true
	}
	ns, store, err := s.user.Resolve(name)
	if err != nil {
		return false
	}
	sns, sstore, err := s.user.Resolve(s.mboxName)
	return err == nil && ns == sns && store == sstore
}

// nsOf returns the namespace that holds a full name.
func (s *Session) nsOf(name string) *storage.Namespace {
	var best *storage.Namespace
	for _, ns := range s.user.Namespaces() {
		if storage.IsInbox(name) && ns.Inbox {
			return ns
		}
		if strings.HasPrefix(name, ns.Prefix) && (best == nil || len(ns.Prefix) > len(best.Prefix)) {
			best = ns
		}
	}
	return best
}

// sepQuoted is the quoted hierarchy separator of a name's namespace.
func (s *Session) sepQuoted(name string) string {
	ns := s.nsOf(name)
	if ns == nil {
		return "NIL"
	}
	if ns.Sep == '"' || ns.Sep == '\\' {
		return `"\` + string(ns.Sep) + `"`
	}
	return `"` + string(ns.Sep) + `"`
}

// statusItems are the STATUS items a session may ask for.
func (s *Session) parseStatusItems(a imap.Arg) ([]string, error) {
	if a.Kind != imap.List || len(a.List) == 0 {
		return nil, bad("Invalid status items.")
	}
	var items []string
	for _, it := range a.List {
		if it.Kind != imap.Atom {
			return nil, bad("Invalid status item.")
		}
		v := strings.ToUpper(it.Value)
		switch v {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE", "DELETED", "MAILBOXID":
		case "HIGHESTMODSEQ":
			// RFC 7162 §3.1.2.2; a CONDSTORE-enabling item (§3.1).
			s.enableCondStore()
		case "RECENT":
			if s.rev2 {
				return nil, bad("Invalid status item RECENT.")
			}
		case "DELETED-STORAGE":
			// RFC 9208 §4.4, with QUOTA=RES-STORAGE.
			if !s.cfg.Quota {
				return nil, bad("Invalid status item %s.", it.Value)
			}
		default:
			return nil, bad("Invalid status item %s.", it.Value)
		}
		items = append(items, v)
	}
	return items, nil
}

// writeStatus writes "* STATUS name (...)".
func (s *Session) writeStatus(name string, items []string) error {
	var st storage.Status
	var err error
	if s.isSelected(name) {
		st, err = s.mbox.Status()
	} else {
		st, err = s.user.Status(name)
	}
	if err != nil {
		return err
	}
	var delStorage int64
	if slices.Contains(items, "DELETED-STORAGE") {
		if delStorage, err = s.deletedStorage(name); err != nil {
			return err
		}
	}
	s.w.WriteString("* STATUS ")
	s.w.AString(s.mailboxOut(name))
	s.w.WriteString(" (")
	for i, it := range items {
		if i > 0 {
			s.w.WriteString(" ")
		}
		s.w.WriteString(it + " ")
		switch it {
		case "MESSAGES":
			s.w.WriteString(itoa(st.Messages))
		case "UIDNEXT":
			s.w.WriteString(itoa(st.UIDNext))
		case "UIDVALIDITY":
			s.w.WriteString(itoa(st.UIDValidity))
		case "UNSEEN":
			s.w.WriteString(itoa(st.Unseen))
		case "RECENT":
			s.w.WriteString(itoa(st.Recent))
		case "SIZE":
			s.w.WriteString(itoa64(st.Size))
		case "DELETED":
			s.w.WriteString(itoa(st.Deleted))
		case "DELETED-STORAGE":
			s.w.WriteString(itoa64(delStorage))
		case "HIGHESTMODSEQ":
			s.w.WriteString(strconv.FormatUint(max(st.HighestModSeq, 1), 10))
		case "MAILBOXID":
			s.w.WriteString(statusMailboxID(st))
		}
	}
	s.w.WriteString(")\r\n")
	return nil
}

// cmdStatus: RFC 9051 §6.3.11 with RFC 8438 SIZE.
func cmdStatus(s *Session, c *cmdCtx) error {
	if len(c.args) != 2 {
		return bad("Invalid arguments.")
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	items, err := s.parseStatusItems(c.args[1])
	if err != nil {
		return err
	}
	return s.writeStatus(name, items)
}
