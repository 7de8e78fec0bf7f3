package imapd

import (
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
)

// cmdCapability: RFC 9051 §6.1.1.
func cmdCapability(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	s.w.WriteString("* CAPABILITY " + strings.Join(s.capabilities(), " ") + "\r\n")
	return nil
}

// cmdNoop: RFC 9051 §6.1.2; it always looks for changes.
func cmdNoop(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	return s.sync(true, true)
}

// cmdCheck: RFC 3501 §6.4.1; every change is durable when its command
// completes, so CHECK is a NOOP (RFC 9051 dropped it for that reason).
func cmdCheck(s *Session, c *cmdCtx) error { return cmdNoop(s, c) }

// cmdLogout: RFC 9051 §6.1.3.
func cmdLogout(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	s.w.WriteString("* BYE Logging out\r\n")
	s.closeMailbox()
	s.state = stateLogout
	c.text = "Logout completed."
	return nil
}

// cmdEnable: RFC 5161 for IMAP4rev2, CONDSTORE and QRESYNC (RFC 7162)
// and UTF8=ACCEPT (RFC 6855); unknown names are ignored, as the RFC
// requires.
func cmdEnable(s *Session, c *cmdCtx) error {
	if len(c.args) == 0 {
		return bad("Missing capability.")
	}
	for _, a := range c.args {
		// RFC 6855 §3: "ENABLE UTF8=ACCEPT" only in the authenticated
		// state, since it changes how the selected mailbox was named.
		if a.Kind == imap.Atom && strings.EqualFold(a.Value, "UTF8=ACCEPT") && s.state == stateSelected {
			return bad("ENABLE UTF8=ACCEPT is only valid in the authenticated state.")
		}
	}
	var enabled []string
	for _, a := range c.args {
		if a.Kind != imap.Atom {
			return bad("Invalid capability.")
		}
		switch {
		case strings.EqualFold(a.Value, "IMAP4rev2") && !s.rev2:
			s.rev2 = true
			enabled = append(enabled, "IMAP4rev2")
		case strings.EqualFold(a.Value, "CONDSTORE") && !s.condstore:
			s.enableCondStore()
			enabled = append(enabled, "CONDSTORE")
		case strings.EqualFold(a.Value, "QRESYNC") && !s.qresync:
			// RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
			s.enableCondStore()
			s.qresync = true
			enabled = append(enabled, "QRESYNC")
		case strings.EqualFold(a.Value, "UTF8=ACCEPT") && !s.utf8Accept():
			// Mailbox names in UTF-8 (names.go), APPEND's UTF8 data
			// item (append.go), no SEARCH CHARSET (search.go).
			s.r.UTF8 = true
			enabled = append(enabled, "UTF8=ACCEPT")
		}
	}
	s.w.WriteString("* ENABLED")
	for _, e := range enabled {
		s.w.WriteString(" " + e)
	}
	s.w.CRLF()
	return nil
}

// cmdID: RFC 2971. The server names itself and nothing more (no version:
// it helps attackers more than clients).
func cmdID(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	a := c.args[0]
	if a.Kind != imap.NIL && a.Kind != imap.List {
		return bad("Invalid parameters.")
	}
	if a.Kind == imap.List && (len(a.List)%2 != 0 || len(a.List) > 60) {
		return bad("Invalid parameters.")
	}
	s.w.WriteString(`* ID ("name" "cote")` + "\r\n")
	return nil
}
