package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

func imapPort(port int) string {
	return fmt.Sprintf("service imap-login {\n  inet_listener imap {\n    port = %d\n  }\n}\n", port)
}

// openSession connects to addr, reads the greeting and checks that NOOP
// works: a session that must survive a reload.
func openSession(t *testing.T, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	if g := c.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	if _, tagged := c.cmd("a1", "NOOP"); !strings.HasPrefix(tagged, "a1 OK") {
		t.Fatalf("NOOP: %q", tagged)
	}
	return c
}

// TestReload moves the imap listener to a new port, by SIGHUP and by the
// file watcher alone: afterwards the new port greets, and a client that was
// connected on the old port before the reload still gets answers.
func TestReload(t *testing.T) {
	tests := []struct {
		name   string
		signal bool
		reason string // the reason the master logs
	}{
		{name: "SIGHUP", signal: true, reason: "SIGHUP"},
		{name: "file watcher", signal: false, reason: ".*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, testkit.Options{})
			oldAddr := s.Addr("imap-login", "imap")
			old := openSession(t, oldAddr)

			mark := s.LogMark()
			newPort := testkit.FreePort(t)
			s.Rewrite(imapPort(newPort))
			if tc.signal {
				s.Signal(syscall.SIGHUP)
			}
			s.WaitLogAfter(mark, `reloading reason=`+tc.reason)
			// The watcher may see the rewrite as well as the signal: wait for
			// the reload that serves the new port.
			s.WaitLogAfter(mark, `\breloaded\b`)
			newAddr := s.Addr("imap-login", "imap")
			if newAddr == oldAddr {
				t.Fatalf("the listener did not move: %s", newAddr)
			}
			if !strings.HasSuffix(newAddr, fmt.Sprint(":", newPort)) {
				t.Fatalf("new address %s, want port %d", newAddr, newPort)
			}
			if g := greeting(t, newAddr); !strings.HasPrefix(g, "* OK") {
				t.Errorf("greeting on the new port: %q", g)
			}
			if _, tagged := old.cmd("a2", "NOOP"); !strings.HasPrefix(tagged, "a2 OK") {
				t.Errorf("NOOP on the session opened before the reload: %q", tagged)
			}
			if _, tagged := old.cmd("a3", "LOGOUT"); !strings.HasPrefix(tagged, "a3 OK") {
				t.Errorf("LOGOUT on the old session: %q", tagged)
			}
		})
	}
}

// TestInvalidEditKeepsConfig saves a broken edit: the master logs the error
// with file:line, keeps the running configuration, and still serves; a
// later valid edit is applied.
func TestInvalidEditKeepsConfig(t *testing.T) {
	s := start(t, testkit.Options{})
	addr := s.Addr("imap-login", "imap")
	children := s.Children()
	old := openSession(t, addr)

	mark := s.LogMark()
	s.Rewrite("no_such_setting = 1\n")
	s.WaitLogAfter(mark, `reload failed; keeping the running configuration`)
	s.WaitLogAfter(mark, regexp.QuoteMeta(s.Dir()+"/etc/local.conf")+`:\d+: no_such_setting: `)

	if g := greeting(t, addr); !strings.HasPrefix(g, "* OK") {
		t.Errorf("greeting after the invalid edit: %q", g)
	}
	if _, tagged := old.cmd("a2", "NOOP"); !strings.HasPrefix(tagged, "a2 OK") {
		t.Errorf("NOOP after the invalid edit: %q", tagged)
	}
	for _, c := range children {
		if p, err := testkit.ReadProc(c.PID); err != nil || p.State == "Z" {
			t.Errorf("%s pid %d ended after an invalid edit", c.Service, c.PID)
		}
	}

	// Fixed again: the next reload applies.
	mark = s.LogMark()
	newPort := testkit.FreePort(t)
	s.Rewrite(imapPort(newPort))
	s.Signal(syscall.SIGHUP)
	s.WaitLogAfter(mark, `\breloaded\b`)
	if g := greeting(t, s.Addr("imap-login", "imap")); !strings.HasPrefix(g, "* OK") {
		t.Errorf("greeting after the fix: %q", g)
	}
}
