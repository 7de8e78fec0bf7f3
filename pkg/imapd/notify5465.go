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
// The selected mailbox keeps its ordinary reporting (sync, notify.go):
// changes are reported after every command and pushed during IDLE.
// SELECTED and SELECTED-DELAYED both hold EXPUNGE back to the points
// where RFC 9051 §7.5.1 allows it, which is what SELECTED-DELAYED asks
// and a permitted choice for SELECTED (the client learns of expunges at
// its next command or in IDLE). The selected group's events gate what
// IDLE pushes: with NONE nothing is pushed until the next command, and
// without FlagChange flag changes are not pushed; MessageNew's fetch-att
// adds a FETCH for each new message after the EXISTS.
//
// Every other mailbox of the user (all namespaces are the user's own,
// so PERSONAL is every listed mailbox) is watched by a snapshot: names,
// MAILBOXIDs, subscriptions and STATUS counters, taken by NOTIFY SET and
// compared after every command and, during IDLE, every
// Config.NotifyPoll. Differences become STATUS responses (MessageNew,
// MessageExpunge, FlagChange) and LIST responses (MailboxName, with
// OLDNAME for a rename recognised by its MAILBOXID; SubscriptionChange).
// Changes made by this session are reported too: the snapshot does not
// know who made them, and RFC 5465 does not exempt them.

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

type notifyGroup struct {
	filter imap.NotifyFilter
	names  []string // decoded full names (SUBTREE, MAILBOXES)
	events imap.NotifyEvents
}

// notifyState is the session's NOTIFY SET.
type notifyState struct {
	selSet    bool              // a SELECTED or SELECTED-DELAYED group was given
	selEvents imap.NotifyEvents // its events
	selFetch  []fetchItem       // MessageNew's fetch-att
	groups    []notifyGroup     // the other groups
	snap      map[string]mbSnap // full name -> last seen state
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
			ns.selSet = true
			ns.selEvents = g.Events
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
		// §3.1: the current state of every watched mailbox at once.
		for _, name := range sortedNames(snap) {
			e := snap[name]
			if e.hasStatus && !s.isSelected(name) && s.notifyEvents(name, e.subscribed)&imap.EventMessageNew != 0 {
				s.writeNotifyStatus(name, e.st)
			}
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
		case imap.NotifyPersonal:
			match = true
		case imap.NotifyInboxes:
			// Mail is delivered only to INBOX here.
			match = storage.IsInbox(name)
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
	infos, err := s.user.List()
	if err != nil {
		return nil, err
	}
	subs, err := s.user.Subscriptions()
	if err != nil {
		return nil, err
	}
	if len(infos) > maxNotifyMailboxes {
		return nil, nil
	}
	subSet := make(map[string]bool, len(subs))
	for _, n := range subs {
		subSet[n] = true
	}
	snap := make(map[string]mbSnap, len(infos)+len(subs))
	for _, mi := range infos {
		e := mbSnap{info: mi, subscribed: subSet[mi.Name]}
		if !mi.NoSelect {
			// A mailbox deleted between List and Status is simply
			// left without counters; the next poll sees it gone.
			if st, err := s.user.Status(mi.Name); err == nil {
				e.st, e.hasStatus = st, true
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
	return snap, nil
}

// notifyPoll compares the other mailboxes with the snapshot and reports
// the differences the groups ask for.
func (s *Session) notifyPoll() error {
	ns := s.notify
	if ns == nil || len(ns.groups) == 0 {
		return nil
	}
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
		changed := false
		if ev&imap.EventMessageNew != 0 && (e.st.UIDNext != o.st.UIDNext || e.st.UIDValidity != o.st.UIDValidity || e.st.Messages > o.st.Messages) {
			changed = true
		}
		if ev&imap.EventMessageExpunge != 0 && e.st.Messages < o.st.Messages {
			changed = true
		}
		if ev&imap.EventFlagChange != 0 && (e.st.Unseen != o.st.Unseen || e.st.HighestModSeq != o.st.HighestModSeq) {
			changed = true
		}
		if changed {
			s.writeNotifyStatus(name, e.st)
		}
	}
	for _, name := range sortedNames(old) {
		o := old[name]
		n, ok := snap[name]
		if !exists(o, true) || exists(n, ok) || renamedFrom[name] {
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

// writeNotifyStatus is RFC 5465 §5.2-5.3's STATUS for a mailbox that is
// not selected: the counters a client needs to tell what changed.
func (s *Session) writeNotifyStatus(name string, st storage.Status) {
	s.w.WriteString("* STATUS ")
	s.w.AString(s.mailboxOut(name))
	s.w.WriteString(" (MESSAGES " + itoa(st.Messages) + " UIDNEXT " + itoa(st.UIDNext) +
		" UIDVALIDITY " + itoa(st.UIDValidity) + " UNSEEN " + itoa(st.Unseen))
	if s.condstore {
		s.w.WriteString(" HIGHESTMODSEQ " + strconv.FormatUint(max(st.HighestModSeq, 1), 10))
	}
	s.w.WriteString(")\r\n")
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

// notifyQuiet reports whether IDLE should not push the selected
// mailbox's changes: NOTIFY set the selected mailbox to NONE.
func (s *Session) notifyQuiet() bool {
	return s.notify != nil && s.notify.selSet && s.notify.selEvents == 0
}

// notifyFlags reports whether FETCH FLAGS for others' flag changes may
// be pushed outside a command.
func (s *Session) notifyFlags() bool {
	return s.notify == nil || !s.notify.selSet || s.notify.selEvents&imap.EventFlagChange != 0
}

// notifyPollC is IDLE's poll ticker channel, nil without NOTIFY groups
// for other mailboxes.
func (s *Session) notifyPollC() (<-chan time.Time, func()) {
	if s.notify == nil || len(s.notify.groups) == 0 {
		return nil, func() {}
	}
	t := time.NewTicker(s.cfg.NotifyPoll)
	return t.C, t.Stop
}

func sortedNames(m map[string]mbSnap) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
