package imapd

import (
	"io"
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// appendTx is the save transaction of the APPEND being read. The
// reader's Stream hook (streamAppend) opens it at the first message
// literal and writes each message into it straight from the connection,
// so a message is never held in memory; cmdAppend commits it once the
// whole command is read. Anything else (a refused literal, a syntax
// error, a lost connection) aborts it, so a MULTIAPPEND (RFC 3502) saves
// all its messages or none.
type appendTx struct {
	save     storage.Save
	dst      storage.Mailbox
	closeDst func()
	// next is the index in the command's arguments where the next
	// message's flags and date begin.
	next int
	// count is the number of messages written into save.
	count int
}

// streamAppend is the reader's Stream hook: it accepts the message
// literals of APPEND (top-level literals after the mailbox, and the
// literal8 of "UTF8 (~{n})" after ENABLE UTF8=ACCEPT, RFC 6855 §4) into
// the save transaction, and keeps every other literal in memory. It refuses
// a message before its continuation request is sent: a mailbox that
// does not exist (TRYCREATE), bad flags or date, a zero-byte message and
// one over APPENDLIMIT (TOOBIG).
func (s *Session) streamAppend(tag, name string, args []imap.Arg, size int64, binary bool) (func(io.Reader) error, error) {
	if name != "APPEND" || len(args) == 0 {
		// The mailbox name itself may be a literal: it is small and
		// bounded by MaxLiteral.
		return nil, nil
	}
	tx := s.app
	if tx == nil {
		mbox, err := s.mailboxArg(args[0])
		if err != nil {
			return nil, err
		}
		dst, closeDst, err := s.openTarget(mbox)
		if err != nil {
			return nil, err
		}
		save, err := dst.BeginSave()
		if err != nil {
			closeDst()
			return nil, err
		}
		tx = &appendTx{save: save, dst: dst, closeDst: closeDst, next: 1}
		s.app = tx
	}
	if tx.count >= imap.MaxAppendMessages {
		return nil, no("LIMIT", "Too many messages in one APPEND.")
	}
	before := args[tx.next:]
	if n := len(before); n > 0 && before[n-1].Kind == imap.Atom && strings.EqualFold(before[n-1].Value, "UTF8") {
		// The reader offers the UTF8 data item only after ENABLE
		// UTF8=ACCEPT; its grammar wants a literal8. The message is
		// stored as sent: RFC 6855 allows UTF-8 in its header.
		if !binary {
			return nil, bad("UTF8 data must be a literal8.")
		}
		before = before[:n-1]
	}
	opts, err := appendOptions(before)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, no("", "Can't save a zero byte message.")
	}
	if s.cfg.AppendLimit > 0 && size > s.cfg.AppendLimit {
		return nil, no("TOOBIG", "Message too large.")
	}
	tx.next = len(args) + 1
	return func(r io.Reader) error {
		if err := tx.save.Append(r, opts); err != nil {
			return err
		}
		tx.count++
		return nil
	}, nil
}

// appendOptions parses the flags and date-time that precede one message
// literal, with ParseAppend's rules (one optional flag list, then one
// optional quoted date-time).
func appendOptions(before []imap.Arg) (storage.AppendOptions, error) {
	args := make([]imap.Arg, 0, len(before)+2)
	args = append(args, imap.Arg{Kind: imap.Atom, Value: "INBOX"})
	args = append(args, before...)
	args = append(args, imap.Arg{Kind: imap.String, Literal: true, Streamed: true})
	_, msgs, err := imap.ParseAppend(args, '/')
	if err != nil {
		return storage.AppendOptions{}, err
	}
	if len(msgs) != 1 {
		return storage.AppendOptions{}, bad("Invalid arguments.")
	}
	f, kws, err := storageFlags(msgs[0].Flags)
	if err != nil {
		return storage.AppendOptions{}, err
	}
	return storage.AppendOptions{Flags: f, Keywords: kws, InternalDate: msgs[0].Date}, nil
}

// abortAppend drops an APPEND transaction the command did not commit.
func (s *Session) abortAppend() {
	if tx := s.app; tx != nil {
		s.app = nil
		_ = tx.save.Abort()
		tx.closeDst()
	}
}

// cmdAppend: APPEND (RFC 9051 §6.3.12) and MULTIAPPEND (RFC 3502): all
// messages are committed together or none, with APPENDUID (RFC 4315).
// The messages are already in the transaction (streamAppend); what is
// left is to check the command's shape and commit.
func cmdAppend(s *Session, c *cmdCtx) error {
	tx := s.app
	s.app = nil
	if tx != nil {
		defer func() {
			_ = tx.save.Abort()
			tx.closeDst()
		}()
	}
	if len(c.args) < 2 {
		return bad("Invalid arguments.")
	}
	if _, err := s.mailboxArg(c.args[0]); err != nil {
		return err
	}
	// The name is decoded by the session's rules (UTF-8 after ENABLE
	// IMAP4rev2); ParseAppend checks the shape of the messages here.
	args := append([]imap.Arg{{Kind: imap.Atom, Value: "INBOX"}}, c.args[1:]...)
	_, parsed, err := imap.ParseAppend(args, '/')
	if err != nil {
		return err
	}
	for _, m := range parsed {
		if m.UTF8 && !s.utf8Accept() {
			// RFC 6855 §4: BAD unless UTF8=ACCEPT is enabled.
			return bad("APPEND UTF8 needs ENABLE UTF8=ACCEPT.")
		}
		if !m.Streamed {
			// Every top-level literal of APPEND goes through
			// streamAppend; a message that did not is not one this
			// session saved.
			return bad("The message must be a literal.")
		}
	}
	if tx == nil || tx.count != len(parsed) {
		return bad("Invalid arguments.")
	}
	uidValidity, uids, err := tx.save.Commit()
	if err != nil {
		return err
	}
	if tx.dst == s.mbox {
		s.needSync = true
	}
	if len(uids) > 0 {
		c.code = "APPENDUID " + itoa(uidValidity) + " " + formatSet(uids)
	}
	return nil
}
