package imapd

import (
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

func zapErr(err error) zap.Field { return zap.Error(err) }

// sync reports what changed in the selected mailbox since the last sync:
// EXPUNGE, EXISTS (and RECENT for IMAP4rev1) and FETCH FLAGS. With force
// false it syncs only when the store signalled a change or the session
// changed the mailbox through another handle. With allowExpunge false it
// does nothing: the view must not change during a command that uses
// sequence numbers.
func (s *Session) sync(force, allowExpunge bool) error {
	if err := s.syncSelected(force, allowExpunge); err != nil {
		return err
	}
	if force {
		// After a command (and as IDLE starts): the other mailboxes
		// NOTIFY watches (notify5465.go).
		return s.notifyPoll()
	}
	return nil
}

// syncSelected is sync's part for the selected mailbox.
func (s *Session) syncSelected(force, allowExpunge bool) error {
	if s.mbox == nil {
		return nil
	}
	if !allowExpunge {
		// The view stays; RFC 5267 updates of flag changes may go out.
		return s.contextsNoSync()
	}
	if !force && s.notifyQuiet() {
		// NOTIFY (SELECTED NONE): nothing is pushed; the next command
		// reports it.
		return nil
	}
	signalled := false
	select {
	case <-s.mbox.Notify():
		signalled = true
	default:
	}
	if !force && !signalled && !s.needSync {
		return nil
	}
	s.needSync = false
	before := s.mbox.Count()
	ch, err := s.mbox.Sync()
	if err != nil {
		return err
	}
	// RFC 5267 §4.3.4: REMOVEFROM before the expunges are reported.
	s.contextsExpunged(ch)
	if s.qresync && len(ch.ExpungedUIDs) > 0 {
		// RFC 7162 §3.2.10: VANISHED replaces EXPUNGE.
		s.writeVanished(imap.RangesOf(slices.Sorted(slices.Values(ch.ExpungedUIDs))), false)
	} else {
		for _, seq := range ch.Expunged {
			s.w.WriteString("* " + itoa(seq) + " EXPUNGE\r\n")
		}
	}
	if ch.NewKeywords {
		s.writeFlags()
	}
	if n := s.mbox.Count(); n != before-uint32(len(ch.Expunged)) {
		s.w.WriteString("* " + itoa(n) + " EXISTS\r\n")
		if !s.rev2 {
			s.w.WriteString("* " + itoa(ch.Recent) + " RECENT\r\n")
		}
		if err := s.notifyNewMessages(before-uint32(len(ch.Expunged))+1, n); err != nil {
			return err
		}
	}
	if !force && !s.notifyFlags() {
		// NOTIFY's selected group has no FlagChange: ADDTO for the new
		// messages only (RFC 5465 §5.2).
		return s.contextsUpdate(ch, false)
	}
	for _, uid := range ch.FlagsChanged {
		m, err := s.mbox.Message(uid)
		if err != nil {
			continue
		}
		seq := s.mbox.Seq(uid)
		if seq == 0 {
			continue
		}
		s.writeFlagsFetch(m, true)
	}
	// RFC 5267 §4.3.2, RFC 5465 §5.1-5.2: ADDTO and REMOVEFROM after
	// the EXISTS and FETCH responses of the same changes.
	return s.contextsUpdate(ch, true)
}

// flagList renders the FLAGS of m, with \Recent for IMAP4rev1 sessions.
func (s *Session) flagList(m storage.Message) string {
	var b strings.Builder
	b.WriteByte('(')
	n := 0
	add := func(f string) {
		if n > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
		n++
	}
	for _, f := range m.Flags.Names() {
		add(f)
	}
	if !s.rev2 && s.mbox.Recent(m.UID) {
		add(`\Recent`)
	}
	for _, k := range m.Keywords {
		add(k)
	}
	b.WriteByte(')')
	return b.String()
}

// writeFlagList writes what flagList returns straight into the response
// writer: FETCH 1:* (FLAGS) on a large mailbox would otherwise build and
// copy a string per message.
func (s *Session) writeFlagList(m storage.Message) {
	w := s.w
	w.WriteString("(")
	n := 0
	add := func(f string) {
		if n > 0 {
			w.WriteString(" ")
		}
		w.WriteString(f)
		n++
	}
	if m.Flags != 0 {
		for _, f := range m.Flags.Names() {
			add(f)
		}
	}
	if !s.rev2 && s.mbox.Recent(m.UID) {
		add(`\Recent`)
	}
	for _, k := range m.Keywords {
		add(k)
	}
	w.WriteString(")")
}

// writeFlags sends FLAGS and PERMANENTFLAGS of the selected mailbox.
func (s *Session) writeFlags() {
	sys := `\Answered \Flagged \Deleted \Seen \Draft`
	// Keywords records the set as announced (storage.Mailbox.Keywords).
	kws := s.mbox.Keywords()
	all := sys
	if len(kws) > 0 {
		all += " " + strings.Join(kws, " ")
	}
	s.w.WriteString("* FLAGS (" + all + ")\r\n")
	if s.mbox.ReadOnly() {
		s.w.WriteString("* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n")
		return
	}
	perm := all
	if s.mbox.CanCreateKeywords() {
		perm += ` \*`
	}
	s.w.WriteString("* OK [PERMANENTFLAGS (" + perm + ")] Flags permitted.\r\n")
}
