package imap

import "strings"

// NOTIFY (RFC 5465) wire pieces: the command's arguments parsed into
// event groups. What the server supports is the session's business; this
// file only checks the grammar of RFC 5465 §8 and the combination rules
// every server must enforce with BAD.

// NotifyFilter is a filter-mailboxes keyword (RFC 5465 §6).
type NotifyFilter int

const (
	NotifySelected NotifyFilter = iota
	NotifySelectedDelayed
	NotifyInboxes
	NotifyPersonal
	NotifySubscribed
	NotifySubtree
	NotifyMailboxes
)

// NotifyEvents is a set of events (RFC 5465 §5).
type NotifyEvents uint16

const (
	EventMessageNew NotifyEvents = 1 << iota
	EventMessageExpunge
	EventFlagChange
	EventAnnotationChange
	EventMailboxName
	EventSubscriptionChange
	EventMailboxMetadataChange
	EventServerMetadataChange
)

// messageEvents are the events about messages, the only ones a
// SELECTED or SELECTED-DELAYED group may name.
const messageEvents = EventMessageNew | EventMessageExpunge | EventFlagChange | EventAnnotationChange

var eventNames = []struct {
	name string
	ev   NotifyEvents
}{
	{"MessageNew", EventMessageNew},
	{"MessageExpunge", EventMessageExpunge},
	{"FlagChange", EventFlagChange},
	{"AnnotationChange", EventAnnotationChange},
	{"MailboxName", EventMailboxName},
	{"SubscriptionChange", EventSubscriptionChange},
	{"MailboxMetadataChange", EventMailboxMetadataChange},
	{"ServerMetadataChange", EventServerMetadataChange},
}

// EventNames renders a set of events in RFC 5465 spelling, in the
// order of §5 (for [BADEVENT (...)]).
func EventNames(ev NotifyEvents) string {
	var parts []string
	for _, e := range eventNames {
		if ev&e.ev != 0 {
			parts = append(parts, e.name)
		}
	}
	return strings.Join(parts, " ")
}

// NotifyGroup is one event-group: a filter, its mailboxes (SUBTREE and
// MAILBOXES, as written: the session decodes the names) and its events.
type NotifyGroup struct {
	Filter    NotifyFilter
	Mailboxes []string
	Events    NotifyEvents // 0 for NONE
	// FetchAtt is the MessageNew fetch-att list (Kind List), if any.
	FetchAtt *Arg
	// Unknown are event names this parser does not know (event-ext):
	// the server refuses them with [BADEVENT].
	Unknown []string
}

// NotifyCommand is a parsed NOTIFY command.
type NotifyCommand struct {
	None   bool // NOTIFY NONE
	Status bool // NOTIFY SET STATUS
	Groups []NotifyGroup
}

// maxNotifyGroups bounds the event groups of one command; there are
// seven filters, so a longer command repeats itself.
const maxNotifyGroups = 64

// ParseNotify parses the arguments of NOTIFY (RFC 5465 §8). Syntax
// errors and the combinations §5 forbids are BAD (*ArgError).
func ParseNotify(args []Arg) (NotifyCommand, error) {
	var nc NotifyCommand
	if len(args) == 0 || args[0].Kind != Atom {
		return nc, badArg("Missing NOTIFY argument")
	}
	switch strings.ToUpper(args[0].Value) {
	case "NONE":
		if len(args) != 1 {
			return nc, badArg("Unexpected arguments after NONE")
		}
		nc.None = true
		return nc, nil
	case "SET":
	default:
		return nc, badArg("Unknown NOTIFY argument")
	}
	rest := args[1:]
	if len(rest) > 0 && rest[0].Kind == Atom && strings.EqualFold(rest[0].Value, "STATUS") {
		nc.Status = true
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return nc, badArg("Missing event groups")
	}
	if len(rest) > maxNotifyGroups {
		return nc, badArg("Too many event groups")
	}
	selected := false
	for _, a := range rest {
		g, err := parseNotifyGroup(a)
		if err != nil {
			return nc, err
		}
		if g.Filter == NotifySelected || g.Filter == NotifySelectedDelayed {
			// §6.1: only one of SELECTED and SELECTED-DELAYED, once.
			if selected {
				return nc, badArg("Duplicate selected filter")
			}
			selected = true
		}
		nc.Groups = append(nc.Groups, g)
	}
	return nc, nil
}

func parseNotifyGroup(a Arg) (NotifyGroup, error) {
	var g NotifyGroup
	if a.Kind != List || len(a.List) < 2 || a.List[0].Kind != Atom {
		return g, badArg("Invalid event group")
	}
	items := a.List
	switch strings.ToUpper(items[0].Value) {
	case "SELECTED":
		g.Filter = NotifySelected
	case "SELECTED-DELAYED":
		g.Filter = NotifySelectedDelayed
	case "INBOXES":
		g.Filter = NotifyInboxes
	case "PERSONAL":
		g.Filter = NotifyPersonal
	case "SUBSCRIBED":
		g.Filter = NotifySubscribed
	case "SUBTREE":
		g.Filter = NotifySubtree
	case "MAILBOXES":
		g.Filter = NotifyMailboxes
	default:
		return g, badArg("Unknown filter " + items[0].Value)
	}
	items = items[1:]
	if g.Filter == NotifySubtree || g.Filter == NotifyMailboxes {
		// one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
		mb := items[0]
		if mb.Kind == List {
			if len(mb.List) == 0 {
				return g, badArg("Empty mailbox list")
			}
			for _, m := range mb.List {
				v, ok := m.AString()
				if !ok {
					return g, badArg("Invalid mailbox name")
				}
				g.Mailboxes = append(g.Mailboxes, v)
			}
		} else {
			v, ok := mb.AString()
			if !ok {
				return g, badArg("Invalid mailbox name")
			}
			g.Mailboxes = append(g.Mailboxes, v)
		}
		items = items[1:]
	}
	if len(items) != 1 {
		return g, badArg("Invalid events")
	}
	ev := items[0]
	if ev.Kind == Atom && strings.EqualFold(ev.Value, "NONE") {
		return g, nil
	}
	if ev.Kind != List || len(ev.List) == 0 {
		return g, badArg("Invalid events")
	}
	for i := 0; i < len(ev.List); i++ {
		e := ev.List[i]
		if e.Kind != Atom {
			return g, badArg("Invalid event")
		}
		var bit NotifyEvents
		for _, n := range eventNames {
			if strings.EqualFold(e.Value, n.name) {
				bit = n.ev
			}
		}
		if bit == 0 {
			g.Unknown = append(g.Unknown, e.Value)
			continue
		}
		g.Events |= bit
		if bit == EventMessageNew && i+1 < len(ev.List) && ev.List[i+1].Kind == List {
			fa := ev.List[i+1]
			if len(fa.List) == 0 {
				return g, badArg("Empty fetch-att list")
			}
			g.FetchAtt = &fa
			i++
		}
	}
	selected := g.Filter == NotifySelected || g.Filter == NotifySelectedDelayed
	switch {
	case g.Events&(EventMessageNew|EventMessageExpunge) != 0 &&
		g.Events&(EventMessageNew|EventMessageExpunge) != EventMessageNew|EventMessageExpunge:
		// RFC 5465 §5.2, §5.3: one without the other would leave the
		// client's message count wrong.
		return g, badArg("MessageNew and MessageExpunge must be given together")
	case g.Events&(EventFlagChange|EventAnnotationChange) != 0 && g.Events&EventMessageNew == 0:
		// §5.1: flag changes need the message events.
		return g, badArg("FlagChange and AnnotationChange need MessageNew and MessageExpunge")
	case selected && g.Events&^messageEvents != 0:
		return g, badArg("Only message events are allowed for the selected mailbox")
	case !selected && g.FetchAtt != nil:
		// §5.2: fetch-att describes FETCH responses, which exist only
		// for the selected mailbox.
		return g, badArg("MessageNew fetch-att is only allowed for the selected mailbox")
	}
	return g, nil
}
