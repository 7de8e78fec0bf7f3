package e2e

import (
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestIMAPLoginEvictsOldest: with imap-login at process_limit and every
// slot taken, a new client is not left waiting: the master says
// "overflow", the login process ends its oldest unauthenticated client
// with Dovecot's "* BYE Connection queue full", and the freed slot greets
// the newcomer. The younger idle client is untouched.
func TestIMAPLoginEvictsOldest(t *testing.T) {
	s := start(t, testkit.Options{Extra: `service imap-login {
  process_limit = 1
  client_limit = 2
  process_min_avail = 1
}
`})
	addr := s.Addr("imap-login", "imap")
	greet := func(name string) *client {
		c := dial(t, addr)
		if l := c.line(); !strings.HasPrefix(l, "* OK ") {
			t.Fatalf("%s: greeting %q", name, l)
		}
		return c
	}
	oldest := greet("first client")
	younger := greet("second client")

	// The third client waits in the listener's backlog until the oldest
	// is evicted; its greeting is read only after the BYE, so nothing
	// here depends on timing.
	third := dial(t, addr)
	if l := oldest.line(); l != "* BYE Connection queue full" {
		t.Fatalf("oldest client: %q, want the eviction", l)
	}
	if l := third.line(); !strings.HasPrefix(l, "* OK ") {
		t.Fatalf("third client: greeting %q", l)
	}
	if _, got := younger.cmd("a", "NOOP"); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("second client after the eviction: NOOP = %q", got)
	}
	if _, got := third.cmd("b", "NOOP"); !strings.HasPrefix(got, "b OK") {
		t.Fatalf("third client: NOOP = %q", got)
	}
}
