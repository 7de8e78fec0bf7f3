package storage

import (
	"github.com/cote-mail/cote/pkg/settings"
)

// NamespacesFromSettings converts the `namespace {}` sections (with their
// `mailbox {}` sections) of a configuration root into NamespaceConfigs.
// Every setting of those sections that the schema accepts at a non-Dovecot
// default is honoured here or by User.
func NamespacesFromSettings(root *settings.Section) []NamespaceConfig {
	var out []NamespaceConfig
	for _, s := range root.Children(settings.KindNamespace) {
		nc := NamespaceConfig{
			Name:          s.Name,
			Prefix:        s.Get("prefix"),
			Separator:     s.Get("separator"),
			Location:      s.Get("location"),
			Inbox:         s.Bool("inbox"),
			Hidden:        s.Bool("hidden"),
			List:          s.Get("list"),
			Subscriptions: s.Bool("subscriptions"),
		}
		for _, m := range s.Children(settings.KindMailbox) {
			nc.Mailboxes = append(nc.Mailboxes, MailboxConfig{
				Name:       m.Name,
				SpecialUse: m.List("special_use"),
				Auto:       m.Get("auto"),
			})
		}
		out = append(out, nc)
	}
	return out
}
