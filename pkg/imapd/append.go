package imapd

import (
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// cmdAppend: APPEND (RFC 9051 §6.3.12) and MULTIAPPEND (RFC 3502): all
// messages are committed together or none, with APPENDUID (RFC 4315).
func cmdAppend(s *Session, c *cmdCtx) error {
	if len(c.args) < 2 {
		return bad("Invalid arguments.")
	}
	name, err := s.mailboxArg(c.args[0])
	if err != nil {
		return err
	}
	// The name is decoded by the session's rules (UTF-8 after ENABLE
	// IMAP4rev2); ParseAppend reads only the messages here.
	args := append([]imap.Arg{{Kind: imap.Atom, Value: "INBOX"}}, c.args[1:]...)
	_, parsed, err := imap.ParseAppend(args, '/')
	if err != nil {
		return err
	}
	type appendMsg struct {
		data string
		opts storage.AppendOptions
	}
	msgs := make([]appendMsg, 0, len(parsed))
	for _, m := range parsed {
		if len(m.Data) == 0 {
			return no("", "Can't save a zero byte message.")
		}
		if int64(len(m.Data)) > s.cfg.AppendLimit {
			return no("TOOBIG", "Message too large.")
		}
		f, kws, err := storageFlags(m.Flags)
		if err != nil {
			return err
		}
		msgs = append(msgs, appendMsg{data: m.Data, opts: storage.AppendOptions{Flags: f, Keywords: kws, InternalDate: m.Date}})
	}
	dst, closeDst, err := s.openTarget(name)
	if err != nil {
		return err
	}
	defer closeDst()
	save, err := dst.BeginSave()
	if err != nil {
		return err
	}
	defer save.Abort()
	for _, m := range msgs {
		if err := save.Append(strings.NewReader(m.data), m.opts); err != nil {
			return err
		}
	}
	uidValidity, uids, err := save.Commit()
	if err != nil {
		return err
	}
	if dst == s.mbox {
		s.needSync = true
	}
	if len(uids) > 0 {
		c.code = "APPENDUID " + itoa(uidValidity) + " " + formatSet(uids)
	}
	return nil
}
