package e2e

import (
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestIMAPUserIPLimit: the imap process counts its sessions with anvil,
// so `coteadm who` lists them and the login past
// mail_max_userip_connections (Dovecot's default, 10) is refused with
// Dovecot's words; a session that ends frees its slot.
func TestIMAPUserIPLimit(t *testing.T) {
	s := startHandoffSuite(t)
	addr := s.Addr("imap-login", "imap")
	const limit = 10
	login := func(t *testing.T) (*client, string) {
		c := dial(t, addr)
		c.line()
		_, got := c.cmd("a", "LOGIN alice@example.com alice-pw")
		return c, got
	}
	var clients []*client
	for i := range limit {
		c, got := login(t)
		if !strings.HasPrefix(got, "a OK [CAPABILITY ") {
			t.Fatalf("login %d: %q", i+1, got)
		}
		clients = append(clients, c)
	}

	t.Run("coteadm who", func(t *testing.T) {
		out, err := exec.Command(s.Binary("coteadm"), "-c", s.ConfigPath(), "who").CombinedOutput()
		if err != nil {
			t.Fatalf("coteadm who: %v\n%s", err, out)
		}
		want := regexp.MustCompile(`(?m)^alice@example\.com +10 +imap +\(\d+( \d+)*\) +\(127\.0\.0\.1\)$`)
		if !want.Match(out) {
			t.Errorf("coteadm who:\n%s\nwant a line matching %s", out, want)
		}
	})

	t.Run("refused over the limit", func(t *testing.T) {
		_, got := login(t)
		if want := "a NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)"; got != want {
			t.Errorf("login %d: %q, want %q", limit+1, got, want)
		}
	})

	t.Run("a logout frees a slot", func(t *testing.T) {
		c := clients[0]
		if _, got := c.cmd("z", "LOGOUT"); !strings.HasPrefix(got, "z OK") {
			t.Fatalf("LOGOUT: %q", got)
		}
		// The imap process closes the connection after anvil has
		// counted the session out, so EOF is the signal to go on.
		c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
		if rest, err := io.ReadAll(c.br); err != nil {
			t.Fatalf("after LOGOUT: %v (%q)", err, rest)
		}
		if _, got := login(t); !strings.HasPrefix(got, "a OK [CAPABILITY ") {
			t.Errorf("login after a logout: %q", got)
		}
	})
}
