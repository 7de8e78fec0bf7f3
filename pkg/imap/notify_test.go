package imap

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseNotify(t *testing.T) {
	type group struct {
		filter    NotifyFilter
		mailboxes []string
		events    NotifyEvents
		fetch     bool
		unknown   []string
	}
	tests := []struct {
		name   string
		in     string
		none   bool
		status bool
		groups []group
		bad    bool
	}{
		{name: "none", in: "NONE", none: true},
		// RFC 5465 §3.1 and §7 examples.
		{name: "rfc selected personal", in: "SET STATUS (selected MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge) (subtree Lists MessageNew)", bad: true},
		{
			name:   "rfc example",
			in:     "SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
			status: true,
			groups: []group{
				{filter: NotifySelected, events: EventMessageNew | EventMessageExpunge, fetch: true},
				{filter: NotifySubtree, mailboxes: []string{"Lists"}, events: EventMessageNew | EventMessageExpunge},
			},
		},
		{
			name: "personal mailbox events",
			in:   "SET (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)) (SELECTED-DELAYED NONE)",
			groups: []group{
				{filter: NotifyPersonal, events: EventMessageNew | EventMessageExpunge | EventFlagChange | EventMailboxName | EventSubscriptionChange},
				{filter: NotifySelectedDelayed},
			},
		},
		{
			name:   "mailboxes list and unknown event",
			in:     `SET (MAILBOXES (INBOX "a b") (MailboxName FooEvent))`,
			groups: []group{{filter: NotifyMailboxes, mailboxes: []string{"INBOX", "a b"}, events: EventMailboxName, unknown: []string{"FooEvent"}}},
		},
		{name: "new without expunge", in: "SET (SELECTED (MessageNew))", bad: true},
		{name: "expunge without new", in: "SET (PERSONAL (MessageExpunge))", bad: true},
		{name: "flags alone", in: "SET (PERSONAL (FlagChange))", bad: true},
		{name: "mailbox event on selected", in: "SET (SELECTED (MailboxName))", bad: true},
		{name: "fetch att on personal", in: "SET (PERSONAL (MessageNew (UID) MessageExpunge))", bad: true},
		{name: "unknown filter", in: "SET (EVERYWHERE (MailboxName))", bad: true},
		{name: "no groups", in: "SET STATUS", bad: true},
		{name: "subtree without mailbox", in: "SET (SUBTREE (MailboxName))", bad: true},
		{name: "none with args", in: "NONE (SELECTED NONE)", bad: true},
		{name: "unknown verb", in: "GET", bad: true},
		// §6.1: one selected filter per command (Dovecot: "Duplicate selected filter").
		{name: "selected twice", in: "SET (SELECTED NONE) (SELECTED-DELAYED NONE)", bad: true},
		{name: "selected-delayed twice", in: "SET (SELECTED-DELAYED NONE) (PERSONAL NONE) (SELECTED-DELAYED (MessageNew MessageExpunge))", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := ParseNotify(parseArgs(t, tc.in))
			if tc.bad {
				var ae *ArgError
				if !errors.As(err, &ae) || ae.Status != "BAD" {
					t.Fatalf("err = %v, want BAD", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if nc.None != tc.none || nc.Status != tc.status || len(nc.Groups) != len(tc.groups) {
				t.Fatalf("got %+v", nc)
			}
			for i, g := range tc.groups {
				got := nc.Groups[i]
				if got.Filter != g.filter || !slices.Equal(got.Mailboxes, g.mailboxes) || got.Events != g.events ||
					(got.FetchAtt != nil) != g.fetch || !slices.Equal(got.Unknown, g.unknown) {
					t.Errorf("group %d = %+v, want %+v", i, got, g)
				}
			}
		})
	}
}

func TestEventNames(t *testing.T) {
	if got := EventNames(EventMailboxName | EventMessageNew | EventFlagChange); got != "MessageNew FlagChange MailboxName" {
		t.Errorf("EventNames = %q", got)
	}
}

// FuzzNotify: NOTIFY arguments never panic and fail only with *ArgError.
func FuzzNotify(f *testing.F) {
	for _, s := range []string{
		"SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
		"NONE", `SET (MAILBOXES (INBOX "a b") (MailboxName SubscriptionChange)) (SELECTED-DELAYED NONE)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader("t NOTIFY "+in+"\r\n"), Limits{MaxLine: 4096, MaxCommand: 8192})
		c, err := r.ReadCommand()
		if err != nil {
			return
		}
		var ae *ArgError
		if _, err := ParseNotify(c.Args); err != nil && !errors.As(err, &ae) {
			t.Fatalf("error %v is not an *ArgError", err)
		}
	})
}
