package imapd

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// NOTIFY (RFC 5465).
//
// Events are sent when they happen, not only in IDLE: while NOTIFY is
// in force and no command is in progress the session waits for the
// client's next command and for events at once (notifyWait), as Dovecot
// does. IDLE sends exactly the same events (§4).
//
// The selected mailbox: its group's events (§6.1) decide what is pushed
// outside a command (between commands and in IDLE). No SELECTED or
// SELECTED-DELAYED group is the same as (SELECTED NONE) (§3.1): nothing
// is pushed, and the next command reports the changes as RFC 9051
// §7.5.1 asks (EXISTS and EXPUNGE are the base protocol, not events;
// Dovecot withholds even those, which RFC 9051 §5.2 does not allow).
// Without FlagChange, others' flag changes are not pushed. MessageNew's
// fetch-att adds a FETCH for each new message after the EXISTS (§5.2).
// SELECTED pushes EXPUNGE between commands (§6.1.1); during a command
// both filters keep RFC 9051 §7.5.1's rule (no EXPUNGE during FETCH,
// STORE, SEARCH), as Dovecot does: §5.3 only warns the client that MSNs
// may change at any time, it does not oblige the server to send
// EXPUNGE mid-command. SELECTED-DELAYED (§6.1.2) holds expunges until a
// command that may report them: between commands it pushes nothing for
// the selected mailbox (the store reports expunges and arrivals in one
// Sync), in IDLE everything.
//
// Every other mailbox of the user is watched by a snapshot: names,
// MAILBOXIDs, subscriptions and STATUS counters, taken by NOTIFY SET and
// compared after every command and, while waiting for a command or in
// IDLE, every Config.NotifyPoll. Differences become STATUS responses
// (MessageNew, MessageExpunge, FlagChange; §5.1-5.3, with the items
// Dovecot sends) and LIST responses (MailboxName, with OLDNAME for a
// rename recognised by its MAILBOXID; SubscriptionChange; §5.4-5.5).
// The selected mailbox gets no STATUS: its changes are its own group's.
// Changes this session makes to other mailboxes by name (CREATE, DELETE,
// RENAME, SUBSCRIBE, UNSUBSCRIBE, and APPEND, COPY and MOVE into them)
// are not reported (§5: the server SHOULD omit events the client caused;
// Dovecot reports them): the snapshot is compared before such a command
// and the mailboxes it names are absorbed silently after it.

// supportedEvents are the events NOTIFY accepts; any other is refused
// with [BADEVENT] (RFC 5465 §3.1). There is no ANNOTATE, and METADATA
// changes are not tracked.
const supportedEvents = imap.EventMessageNew | imap.EventMessageExpunge | imap.EventFlagChange |
	imap.EventMailboxName | imap.EventSubscriptionChange

// maxNotifyMailboxes bounds the snapshot: a user with more mailboxes
// gets [NOTIFICATIONOVERFLOW] (RFC 5465 §5.8) and NOTIFY is off again,
// rather than a STATUS of each after every command.
const maxNotifyMailboxes = 2000

// DefaultNotifyPoll is how often IDLE looks at the other mailboxes when
// NOTIFY watches them.
const DefaultNotifyPoll = 2 * time.Second

// Items of a NOTIFY STATUS response, in the order they are written.
const (
	statMessages = 1 << iota
	statUIDNext
	statUIDValidity
	statUnseen
	statHighestModSeq
)

type notifyGroup struct {
	filter imap.NotifyFilter
	names  []string // decoded full names (SUBTREE, MAILBOXES)
	events imap.NotifyEvents
}

// notifyState is the session's NOTIFY SET.
type notifyState struct {
	selEvents imap.NotifyEvents // the SELECTED or SELECTED-DELAYED group's events
	delayed   bool              // SELECTED-DELAYED
	selFetch  []fetchItem       // MessageNew's fetch-att
	groups    []notifyGroup     // the other groups
	snap      map[string]mbSnap // full name -> last seen state
	// own are the mailboxes the running command changes itself: the
	// next poll absorbs their changes without reporting them.
	own []string
}

type mbSnap struct {
	info       storage.MailboxInfo
	st         storage.Status
	hasStatus  bool
	subscribed bool
}

// cmdNotify: RFC 5465 §3.1.
func cmdNotify(s *Session, c *cmdCtx) error {
	nc, err := imap.ParseNotify(c.args)
	if err != nil {
		return err
	}
	if nc.None {
		s.notify = nil
		return nil
	}
	var unsupported bool
	for _, g := range nc.Groups {
		if len(g.Unknown) > 0 || g.Events&^supportedEvents != 0 {
			unsupported = true
		}
	}
	if unsupported {
		// The previous NOTIFY SET stays in force.
		return no("BADEVENT ("+imap.EventNames(supportedEvents)+")", "Unsupported event.")
	}
	ns := &notifyState{}
	for _, g := range nc.Groups {
		switch g.Filter {
		case imap.NotifySelected, imap.NotifySelectedDelayed:
			ns.selEvents = g.Events
			ns.delayed = g.Filter == imap.NotifySelectedDelayed
			ns.selFetch = nil
			if g.FetchAtt != nil {
				items, err := parseFetchItems(*g.FetchAtt)
				if err != nil {
					return err
				}
				ns.selFetch = s.condStoreItems(items, imap.FetchModifiers{})
			}
		default:
			ng := notifyGroup{filter: g.Filter, events: g.Events}
			for _, n := range g.Mailboxes {
				name, err := s.mailboxArg(imap.Arg{Kind: imap.String, Value: n})
				if err != nil {
					return err
				}
				ng.names = append(ng.names, name)
			}
			ns.groups = append(ns.groups, ng)
		}
	}
	snap, err := s.notifySnapshot(ns)
	if err != nil {
		return err
	}
	if snap == nil {
		s.notifyOverflow()
		return nil
	}
	ns.snap = snap
	s.notify = ns
	if nc.Status {
		// §3.1: the current state of every mailbox with message
		// events, but the selected one. MESSAGES, UIDNEXT, UIDVALIDITY
		// and UNSEEN, as Dovecot sends, which covers MessageNew and
		// MessageExpunge; with FlagChange also HIGHESTMODSEQ (CONDSTORE
		// is always supported).
		for _, name := range sortedNames(snap) {
			e := snap[name]
			ev := s.notifyEvents(name, e.subscribed)
			if !e.hasStatus || s.isSelected(name) || ev&imap.EventMessageNew == 0 {
				continue
			}
			items := statMessages | statUIDNext | statUIDValidity | statUnseen
			if ev&imap.EventFlagChange != 0 {
				items |= statHighestModSeq
			}
			s.writeNotifyStatus(name, e.st, items)
		}
	}
	return nil
}

// notifyOverflow ends NOTIFY: RFC 5465 §5.8, the server then acts as
// after NOTIFY NONE.
func (s *Session) notifyOverflow() {
	s.notify = nil
	s.w.WriteString("* OK [NOTIFICATIONOVERFLOW] Too many mailboxes to watch.\r\n")
}

// notifyEvents is the union of the events the non-selected groups ask
// for a mailbox.
func (s *Session) notifyEvents(name string, subscribed bool) imap.NotifyEvents {
	var ev imap.NotifyEvents
	for _, g := range s.notify.groups {
		match := false
		switch g.filter {
		case imap.NotifyPersonal, imap.NotifyInboxes:
			// §6.3: a server that cannot tell where mail may be
			// delivered MUST treat INBOXES as PERSONAL. Delivery may
			// target any mailbox here (lmtp_save_to_detail_mailbox,
			// deliver -m), and every namespace is the user's own.
			match = true
		case imap.NotifySubscribed:
			match = subscribed
		case imap.NotifyMailboxes:
			for _, n := range g.names {
				match = match || n == name
			}
		case imap.NotifySubtree:
			sep := s.sepOf(name)
			for _, n := range g.names {
				match = match || n == name || (sep != 0 && strings.HasPrefix(name, n+string(sep)))
			}
		}
		if match {
			ev |= g.events
		}
	}
	return ev
}

// sepOf is the hierarchy separator of a name's namespace (0 if none).
func (s *Session) sepOf(name string) byte {
	if ns := s.nsOf(name); ns != nil {
		return ns.Sep
	}
	return 0
}

// notifySnapshot reads the user's mailboxes; nil (no error) when there
// are too many.
func (s *Session) notifySnapshot(ns *notifyState) (map[string]mbSnap, error) {
	if len(ns.groups) == 0 {
		return map[string]mbSnap{}, nil
	}
	// A listing taken while a mailbox is renamed or deleted may show
	// the old name (and the new one) with the old one's directory gone:
	// Status fails for it. Such a snapshot would report a rename as a
	// new mailbox plus a deletion, so it is taken again.
	for try := 0; ; try++ {
		snap, unstable, err := s.readSnapshot()
		if err != nil || !unstable || try == 2 {
			return snap, err
		}
	}
}

// readSnapshot is one attempt of notifySnapshot; unstable reports that
// a listed selectable mailbox could not be read.
func (s *Session) readSnapshot() (_ map[string]mbSnap, unstable bool, _ error) {
	infos, err := s.user.List()
	if err != nil {
		return nil, false, err
	}
	subs, err := s.user.Subscriptions()
	if err != nil {
		return nil, false, err
	}
	if len(infos) > maxNotifyMailboxes {
		return nil, false, nil
	}
	subSet := make(map[string]bool, len(subs))
	for _, n := range subs {
		subSet[n] = true
	}
	snap := make(map[string]mbSnap, len(infos)+len(subs))
	for _, mi := range infos {
		e := mbSnap{info: mi, subscribed: subSet[mi.Name]}
		if !mi.NoSelect {
			// A mailbox deleted between List and Status is left
			// without counters if retries do not settle it; the next
			// poll sees it gone.
			if st, err := s.user.Status(mi.Name); err == nil {
				e.st, e.hasStatus = st, true
			} else {
				unstable = true
			}
		}
		snap[mi.Name] = e
	}
	// Subscriptions of mailboxes that do not exist (RFC 9051 §6.3.9).
	for n := range subSet {
		if _, ok := snap[n]; !ok {
			snap[n] = mbSnap{info: storage.MailboxInfo{Name: n, NonExistent: true, NoSelect: true}, subscribed: true}
		}
	}
	return snap, unstable, nil
}

// notifyPoll compares the other mailboxes with the snapshot and reports
// the differences the groups ask for.
func (s *Session) notifyPoll() error {
	ns := s.notify
	if ns == nil || len(ns.groups) == 0 {
		return nil
	}
	own := ns.own
	ns.own = nil
	snap, err := s.notifySnapshot(ns)
	if err != nil {
		return err
	}
	if snap == nil {
		s.notifyOverflow()
		return nil
	}
	old := ns.snap
	ns.snap = snap
	exists := func(e mbSnap, ok bool) bool { return ok && !e.info.NonExistent }
	// Renames: a MAILBOXID that moved from a vanished name to a new one.
	byID := make(map[string]string)
	for name, e := range old {
		if n, ok := snap[name]; !exists(n, ok) && e.hasStatus && e.st.MailboxID != "" {
			byID[e.st.MailboxID] = name
		}
	}
	renamedFrom := make(map[string]bool)
	for _, name := range sortedNames(snap) {
		e := snap[name]
		o, had := old[name]
		if s.notifyOwn(own, name) {
			continue
		}
		ev := s.notifyEvents(name, e.subscribed)
		switch {
		case exists(e, true) && !exists(o, had):
			oldName := ""
			if e.hasStatus && e.st.MailboxID != "" {
				oldName = byID[e.st.MailboxID]
			}
			if oldName != "" {
				renamedFrom[oldName] = true
				if (ev|s.notifyEvents(oldName, old[oldName].subscribed))&imap.EventMailboxName != 0 {
					s.writeNotifyList(name, e, oldName)
				}
			} else if ev&imap.EventMailboxName != 0 {
				s.writeNotifyList(name, e, "")
			}
			continue
		case e.subscribed != o.subscribed && had && ev&imap.EventSubscriptionChange != 0:
			s.writeNotifyList(name, e, "")
		case e.subscribed && !had && ev&imap.EventSubscriptionChange != 0:
			s.writeNotifyList(name, e, "")
		}
		if !e.hasStatus || !o.hasStatus || s.isSelected(name) {
			continue
		}
		if items := s.notifyStatusItems(ev, o.st, e.st); items != 0 {
			s.writeNotifyStatus(name, e.st, items)
		}
	}
	for _, name := range sortedNames(old) {
		o := old[name]
		n, ok := snap[name]
		if !exists(o, true) || exists(n, ok) || renamedFrom[name] || s.notifyOwn(own, name) {
			continue
		}
		ev := s.notifyEvents(name, o.subscribed)
		if ev&imap.EventMailboxName != 0 {
			// §5.4: a deleted mailbox is listed \NonExistent.
			gone := mbSnap{info: storage.MailboxInfo{Name: name, NonExistent: true}, subscribed: ok && n.subscribed}
			s.writeNotifyList(name, gone, "")
		} else if o.subscribed && !(ok && n.subscribed) && ev&imap.EventSubscriptionChange != 0 {
			s.writeNotifyList(name, mbSnap{info: storage.MailboxInfo{Name: name, NonExistent: true}}, "")
		}
	}
	return nil
}

// notifyStatusItems is what a STATUS response for a changed mailbox
// carries, as Dovecot chooses them within RFC 5465's minimums: a new
// UIDVALIDITY all counters; arrivals and expunges MESSAGES, UIDNEXT and
// UNSEEN (§5.2, §5.3 ask UIDNEXT and MESSAGES); a flag change UNSEEN if
// it changed and, with CONDSTORE enabled, HIGHESTMODSEQ and UIDVALIDITY
// (§5.1; Dovecot leaves UIDVALIDITY out); with CONDSTORE enabled every
// STATUS has HIGHESTMODSEQ (§5.2, §5.3). A flag change that moved
// neither UNSEEN nor, for a CONDSTORE client, anything reported sends
// nothing, as in Dovecot.
func (s *Session) notifyStatusItems(ev imap.NotifyEvents, o, e storage.Status) int {
	items := 0
	if ev&(imap.EventMessageNew|imap.EventMessageExpunge|imap.EventFlagChange) != 0 && e.UIDValidity != o.UIDValidity {
		items |= statMessages | statUIDNext | statUIDValidity | statUnseen
	}
	if ev&imap.EventMessageNew != 0 && (e.UIDNext != o.UIDNext || e.Messages > o.Messages) {
		items |= statMessages | statUIDNext | statUnseen
	}
	if ev&imap.EventMessageExpunge != 0 && e.Messages < o.Messages {
		items |= statMessages | statUIDNext | statUnseen
	}
	if ev&imap.EventFlagChange != 0 {
		if e.Unseen != o.Unseen {
			items |= statUnseen
		}
		// An arrival or expunge moves HIGHESTMODSEQ too: only a
		// change without one is a flag change.
		if s.condstore && e.HighestModSeq != o.HighestModSeq && e.UIDNext == o.UIDNext && e.Messages == o.Messages {
			items |= statUIDValidity | statHighestModSeq
		}
	}
	if items != 0 && s.condstore {
		items |= statHighestModSeq
	}
	return items
}

// notifyOwn reports whether name is, or lies below, a mailbox the last
// command changed itself (RFC 5465 §5).
func (s *Session) notifyOwn(own []string, name string) bool {
	for _, n := range own {
		if n == name {
			return true
		}
		if sep := s.sepOf(n); sep != 0 && strings.HasPrefix(name, n+string(sep)) {
			return true
		}
	}
	return false
}

// ownChangeArgs are the commands that change other mailboxes by name,
// with the arguments that name them.
var ownChangeArgs = map[string][]int{
	"CREATE": {0}, "DELETE": {0}, "RENAME": {0, 1}, "SUBSCRIBE": {0}, "UNSUBSCRIBE": {0},
	"APPEND": {0}, "COPY": {1}, "MOVE": {1}, "UID COPY": {1}, "UID MOVE": {1},
}

// notifyBefore runs before every command: for one that changes other
// mailboxes itself, the changes so far (others') are reported now and
// the mailboxes it names are marked, so that the poll after it does not
// report the command's own changes (RFC 5465 §5 SHOULD). A change by
// another session to the same mailbox while the command runs is
// absorbed with it.
func (s *Session) notifyBefore(c *cmdCtx) {
	if s.notify == nil || len(s.notify.groups) == 0 {
		return
	}
	idx, ok := ownChangeArgs[c.name]
	if !ok {
		return
	}
	if err := s.notifyPoll(); err != nil {
		s.log.Warn("notify poll failed", zapErr(err))
	}
	if s.notify == nil {
		return // overflow
	}
	for _, i := range idx {
		if i < len(c.args) {
			if name, err := s.mailboxArg(c.args[i]); err == nil {
				s.notify.own = append(s.notify.own, name)
			}
		}
	}
}

// writeNotifyStatus is RFC 5465 §5.1-5.3's STATUS for a mailbox that is
// not selected, with the given items.
func (s *Session) writeNotifyStatus(name string, st storage.Status, items int) {
	s.w.WriteString("* STATUS ")
	s.w.AString(s.mailboxOut(name))
	var parts []string
	if items&statMessages != 0 {
		parts = append(parts, "MESSAGES "+itoa(st.Messages))
	}
	if items&statUIDNext != 0 {
		parts = append(parts, "UIDNEXT "+itoa(st.UIDNext))
	}
	if items&statUIDValidity != 0 {
		parts = append(parts, "UIDVALIDITY "+itoa(st.UIDValidity))
	}
	if items&statUnseen != 0 {
		parts = append(parts, "UNSEEN "+itoa(st.Unseen))
	}
	if items&statHighestModSeq != 0 {
		parts = append(parts, "HIGHESTMODSEQ "+strconv.FormatUint(max(st.HighestModSeq, 1), 10))
	}
	s.w.WriteString(" (" + strings.Join(parts, " ") + ")\r\n")
}

// writeNotifyList is RFC 5465 §5.4-5.5's LIST: a new, deleted
// (\NonExistent), renamed (OLDNAME, RFC 5258 §3.5 extended data) or
// (un)subscribed mailbox.
func (s *Session) writeNotifyList(name string, e mbSnap, oldName string) {
	attrs := s.listAttrs(e.info, !e.info.NonExistent, e.subscribed, listOpts{retSubscribed: true, extended: true})
	s.w.WriteString("* LIST (" + strings.Join(attrs, " ") + ") " + s.sepQuoted(name) + " ")
	s.w.AString(s.mailboxOut(name))
	if oldName != "" {
		s.w.WriteString(` ("OLDNAME" (`)
		s.w.String(s.mailboxOut(oldName))
		s.w.WriteString("))")
	}
	s.w.WriteString("\r\n")
}

// notifyNewMessages sends MessageNew's fetch-att for the messages with
// sequence numbers from..to (RFC 5465 §5.2). It does not set \Seen.
func (s *Session) notifyNewMessages(from, to uint32) error {
	if s.notify == nil || len(s.notify.selFetch) == 0 || from > to {
		return nil
	}
	uids, err := s.resolveSet(itoa(from)+":"+itoa(to), false)
	if err != nil {
		return err
	}
	items := s.notify.selFetch
	needPart, needRaw := false, false
	for _, it := range items {
		needPart = needPart || it.needsPart()
		needRaw = needRaw || it.needsRaw()
	}
	c := &cmdCtx{ctx: context.Background(), name: "FETCH", uid: true}
	return s.mbox.Messages(uids, func(m storage.Message) error {
		if err := s.fetchOne(c, m, items, needPart, needRaw, false); err != nil && isIOError(err) {
			return err
		}
		return nil
	})
}

// notifyQuiet reports whether the selected mailbox's changes must not
// be pushed outside a command: NOTIFY is in force and its selected
// group (absent means NONE, §3.1) has no events.
func (s *Session) notifyQuiet() bool {
	return s.notify != nil && s.notify.selEvents == 0
}

// notifyFlags reports whether FETCH FLAGS for others' flag changes may
// be pushed outside a command.
func (s *Session) notifyFlags() bool {
	return s.notify == nil || s.notify.selEvents&imap.EventFlagChange != 0
}

// notifyPollC is the poll ticker channel for the other mailboxes, nil
// without NOTIFY groups for them.
func (s *Session) notifyPollC() (<-chan time.Time, func()) {
	if s.notify == nil || len(s.notify.groups) == 0 {
		return nil, func() {}
	}
	t := time.NewTicker(s.cfg.NotifyPoll)
	return t.C, t.Stop
}

// notifyWait waits for the start of the client's next command while
// NOTIFY asks for events, and sends them as they happen (RFC 5465 §1,
// §6.1.1; Dovecot does the same). A helper goroutine reads what the
// client sends next straight from the connection and hands it to the
// session's reader (flushReader.pend); only this goroutine writes. The
// read deadline in force (the idle timeout, or the shutdown's) ends the
// wait like any read. An error is an I/O error writing.
func (s *Session) notifyWait() error {
	ns := s.notify
	if ns == nil || s.r.Buffered() > 0 || s.in.pending() {
		return nil
	}
	sel := s.mbox != nil && ns.selEvents != 0 && !ns.delayed
	if !sel && len(ns.groups) == 0 {
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	type readResult struct {
		b   []byte
		err error
	}
	got := make(chan readResult, 1)
	src := s.in.r
	go func() {
		b := make([]byte, 4096)
		n, err := src.Read(b)
		got <- readResult{b[:n], err}
	}()
	poll, stopPoll := s.notifyPollC()
	defer stopPoll()
	var changed <-chan struct{}
	if sel {
		changed = s.mbox.Notify()
	}
	for {
		select {
		case r := <-got:
			s.in.pend, s.in.pendErr = r.b, r.err
			return nil
		case <-changed:
			if err := s.pushChanges(s.syncSelected); err != nil {
				return err
			}
		case <-poll:
			if err := s.pushPoll(); err != nil {
				return err
			}
			if s.notify == nil {
				// Overflow: NOTIFY is off, and so is the wait.
				if err := s.flush(); err != nil {
					return err
				}
				r := <-got
				s.in.pend, s.in.pendErr = r.b, r.err
				return nil
			}
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// pushChanges reports the selected mailbox's changes with sync (a store
// notification arrived while the session waits: IDLE, or NOTIFY between
// commands); only an I/O error ends the wait, a store error is logged.
func (s *Session) pushChanges(sync func(force, allowExpunge bool) error) error {
	s.needSync = true
	if err := sync(false, true); err != nil {
		if isIOError(err) {
			return err
		}
		s.log.Warn("mailbox sync failed", zapErr(err))
	}
	return nil
}

// pushPoll compares the other mailboxes with the NOTIFY snapshot while the
// session waits; only an I/O error ends the wait.
func (s *Session) pushPoll() error {
	if err := s.notifyPoll(); err != nil {
		if isIOError(err) {
			return err
		}
		s.log.Warn("notify poll failed", zapErr(err))
	}
	return nil
}

func sortedNames(m map[string]mbSnap) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
