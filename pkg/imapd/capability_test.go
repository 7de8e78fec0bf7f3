package imapd

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

// TestCapabilityOverride: imap_capability (Config.Capability) changes the
// list in the greeting's CAPABILITY code and in CAPABILITY, adding to it
// or replacing it; "" keeps the engine's own list.
func TestCapabilityOverride(t *testing.T) {
	cases := []struct {
		name, setting string
		has, lacks    []string
	}{
		{"own", "", []string{"IMAP4rev1", "IDLE", "NOTIFY"}, []string{"XFOO"}},
		{"added", "+XFOO", []string{"IMAP4rev1", "IDLE", "NOTIFY", "XFOO"}, nil},
		{"replaced", "IMAP4rev1 IDLE XFOO", []string{"IMAP4rev1", "IDLE", "XFOO"}, []string{"NOTIFY", "QRESYNC"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Capability: c.setting})
			conn := ts.dial(t)
			l := &lineConn{t: t, br: bufio.NewReader(conn), w: conn}
			greet := l.until("* ")[0]
			l.send("c CAPABILITY")
			lines := l.until("c ")
			for _, got := range []string{greet, lines[0]} {
				words := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(got))
				for _, w := range c.has {
					if !slices.Contains(words, w) {
						t.Errorf("%q lacks %s", got, w)
					}
				}
				for _, w := range c.lacks {
					if slices.Contains(words, w) {
						t.Errorf("%q has %s", got, w)
					}
				}
			}
		})
	}
}
