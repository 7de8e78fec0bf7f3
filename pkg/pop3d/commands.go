package pop3d

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/pop3"
	"github.com/cote-mail/cote/pkg/storage"
)

// handler serves one command; args is the text after the keyword with
// leading spaces removed (Dovecot parses message numbers from it). ok is
// false when the command failed (it counts towards maxBadCommands); err
// ends the session (an I/O error, or a response that broke off).
type handler func(s *Session, args string) (ok bool, err error)

// commands are the TRANSACTION state's commands (RFC 1939 §5, RFC 2449
// CAPA). QUIT moves to UPDATE.
var commands map[string]handler

func init() {
	commands = map[string]handler{
		"CAPA": cmdCapa,
		"STAT": cmdStat,
		"LIST": cmdList,
		"RETR": cmdRetr,
		"DELE": cmdDele,
		"NOOP": cmdNoop,
		"RSET": cmdRset,
		"QUIT": cmdQuit,
		"TOP":  cmdTop,
		"UIDL": cmdUIDL,
	}
}

// authCommands belong to the AUTHORIZATION state, which ended at login.
var authCommands = map[string]bool{"USER": true, "PASS": true, "APOP": true, "AUTH": true, "STLS": true, "RPOP": true}

func (s *Session) dispatch(cmd pop3.Command) (bool, error) {
	args := strings.TrimLeft(cmd.Rest(), " ")
	if h := commands[cmd.Name]; h != nil {
		return h(s, args)
	}
	switch {
	case cmd.Name == "LAST":
		s.w.Err("", "LAST is not supported (RFC 1939 removed it; use UIDL).")
	case authCommands[cmd.Name]:
		s.w.Err("", cmd.Name+" is not valid after login.")
	default:
		s.w.Err("", "Unknown command: "+cmd.Name)
	}
	return false, nil
}

// capabilities after login, in Dovecot's order: the login-only ones
// (USER, SASL, STLS) are not listed any more (RFC 2449 §5).
var capabilities = []string{"CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"}

func cmdCapa(s *Session, _ string) (bool, error) {
	s.w.OK("")
	for _, c := range capabilities {
		s.w.Line(c)
	}
	s.w.End()
	return true, nil
}

// msgnum parses a message number at the start of args as Dovecot's
// get_msgnum does, answering the -ERR itself when it fails: the number
// must be followed by the end of the line, or by a space when thenSpace.
// It returns the index into s.msgs and the rest after the number.
func (s *Session) msgnum(args string, thenSpace bool) (int, string, bool) {
	if args == "" || args[0] < '0' || args[0] > '9' {
		s.w.Err("", "Invalid message number: "+args)
		return 0, "", false
	}
	i := 0
	for i < len(args) && args[i] >= '0' && args[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(args[:i], 10, 64)
	if err != nil {
		s.w.Err("", "Message number too large: "+args[:i])
		return 0, "", false
	}
	rest := args[i:]
	if (thenSpace && (rest == "" || rest[0] != ' ')) || (!thenSpace && rest != "") {
		s.w.Err("", "Noise after message number: "+rest)
		return 0, "", false
	}
	if n == 0 || n > uint64(len(s.msgs)) {
		s.w.Err("", fmt.Sprintf("There's no message %d.", n))
		return 0, "", false
	}
	if s.msgs[n-1].deleted {
		s.w.Err("", "Message is deleted.")
		return 0, "", false
	}
	return int(n - 1), rest, true
}

// counts returns the number and total size of the messages not marked
// deleted (STAT, LIST).
func (s *Session) counts() (int, int64) {
	return len(s.msgs) - s.nDeleted, s.totalSize() - s.deletedSize
}

func (s *Session) totalSize() int64 {
	var t int64
	for _, m := range s.msgs {
		t += m.size
	}
	return t
}

func cmdStat(s *Session, _ string) (bool, error) {
	n, size := s.counts()
	s.w.OK("%d %d", n, size)
	return true, nil
}

func cmdList(s *Session, args string) (bool, error) {
	if args != "" {
		i, _, ok := s.msgnum(args, false)
		if !ok {
			return false, nil
		}
		s.w.OK("%d %d", i+1, s.msgs[i].size)
		return true, nil
	}
	n, _ := s.counts()
	s.w.OK("%d messages:", n)
	var b []byte
	for i, m := range s.msgs {
		if m.deleted {
			continue
		}
		b = strconv.AppendInt(b[:0], int64(i+1), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, m.size, 10)
		s.w.Line(string(b))
	}
	s.w.End()
	return true, nil
}

func cmdUIDL(s *Session, args string) (bool, error) {
	if args != "" {
		i, _, ok := s.msgnum(args, false)
		if !ok {
			return false, nil
		}
		s.w.OK("%d %s", i+1, s.msgs[i].uidl)
		s.msgs[i].listed = true
		return true, nil
	}
	s.w.OK("")
	for i, m := range s.msgs {
		if !m.deleted {
			s.w.Line(strconv.Itoa(i+1) + " " + m.uidl)
			s.msgs[i].listed = true
		}
	}
	s.w.End()
	return true, nil
}

func cmdRetr(s *Session, args string) (bool, error) {
	i, _, ok := s.msgnum(args, false)
	if !ok {
		return false, nil
	}
	return s.send(i, -1)
}

func cmdTop(s *Session, args string) (bool, error) {
	i, rest, ok := s.msgnum(args, true)
	if !ok {
		return false, nil
	}
	rest = strings.TrimLeft(rest, " ")
	lines, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		if ne, _ := err.(*strconv.NumError); ne == nil || ne.Err != strconv.ErrRange {
			s.w.Err("", "Invalid size: "+rest)
			return false, nil
		}
		lines = math.MaxInt // all of it
	}
	return s.send(i, int(min(lines, math.MaxInt)))
}

// send writes message i: whole for RETR (lines < 0), or its header and
// lines body lines for TOP.
func (s *Session) send(i, lines int) (bool, error) {
	m := &s.msgs[i]
	b, err := s.mb.Open(m.uid)
	if err != nil {
		if storage.KindOf(err) == storage.ErrExpunged {
			// Another session (IMAP) expunged it since login.
			s.w.Err("", fmt.Sprintf("Message %d was expunged by another session.", i+1))
			return false, nil
		}
		s.storageErr(err, "Couldn't read the message.")
		return false, nil
	}
	defer b.Close()
	r := io.NewSectionReader(b, 0, b.Size())
	if lines < 0 {
		s.w.OK("%d octets", m.size)
		err = s.w.Body(r)
		s.retrCount++
		s.retrBytes += m.size
		m.retr = true
	} else {
		s.w.OK("")
		err = s.w.BodyLines(r, lines)
		s.topCount++
	}
	if err != nil {
		// The response broke off mid-message: the client cannot tell
		// what follows, so the session ends.
		s.log.Warn("pop3: sending a message failed", zap.Uint32("uid", m.uid), zap.Error(err))
		return false, fmt.Errorf("sending message %d: %w", i+1, err)
	}
	s.w.End()
	return true, nil
}

func cmdDele(s *Session, args string) (bool, error) {
	i, _, ok := s.msgnum(args, false)
	if !ok {
		return false, nil
	}
	s.msgs[i].deleted = true
	s.nDeleted++
	s.deletedSize += s.msgs[i].size
	s.w.OK("Marked to be deleted.")
	return true, nil
}

func cmdNoop(s *Session, _ string) (bool, error) {
	s.w.OK("")
	return true, nil
}

// cmdRset unmarks the deletions and, as Dovecot, forgets the retrievals:
// the session's state is as at login.
func cmdRset(s *Session, _ string) (bool, error) {
	for i := range s.msgs {
		s.msgs[i].deleted = false
		s.msgs[i].retr = false
	}
	s.nDeleted, s.deletedSize = 0, 0
	s.w.OK("")
	return true, nil
}

// cmdQuit enters the UPDATE state (RFC 1939 §6): the deletions and \Seen
// flags are applied, then the session ends either way.
func cmdQuit(s *Session, _ string) (bool, error) {
	s.quit = true
	if err := s.update(true); err != nil {
		s.storageErr(err, "Storage error during logout.")
		return false, nil
	}
	if s.nDeleted > 0 {
		s.w.OK("Logging out, messages deleted.")
	} else {
		s.w.OK("Logging out.")
	}
	return true, nil
}

// update writes the session's marks to the mailbox: \Seen on retrieved
// messages (unless pop3_no_flag_updates) and, with deletions, the DELE'd
// messages are expunged or flagged. Messages another session expunged
// meanwhile are skipped by the store.
func (s *Session) update(deletions bool) error {
	var del, seen []uint32
	for _, m := range s.msgs {
		switch {
		case m.deleted && deletions:
			del = append(del, m.uid)
		case m.retr && !m.seen && !s.cfg.NoFlagUpdates:
			seen = append(seen, m.uid)
		}
	}
	if len(seen) > 0 {
		if _, err := s.mb.Store(seen, storage.StoreAdd, storage.FlagSeen, nil, 0); err != nil {
			return err
		}
	}
	if len(del) == 0 {
		return nil
	}
	if s.cfg.DeleteType == DeleteFlag {
		_, err := s.mb.Store(del, storage.StoreAdd, 0, []string{s.cfg.DeletedFlag}, 0)
		return err
	}
	if _, err := s.mb.Store(del, storage.StoreAdd, storage.FlagDeleted, nil, 0); err != nil {
		return err
	}
	_, err := s.mb.Expunge(del)
	return err
}
