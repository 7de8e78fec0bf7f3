package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestMTAWithSwaks drives the whole MTA (smtpd, queue, lmtp) with swaks, an
// independent SMTP client: submission on 587 with STARTTLS and AUTH PLAIN
// and LOGIN, 465 with implicit TLS, port 25 from a stranger to a local user;
// a relay attempt without AUTH and a sender that is not the login's are
// refused. Each accepted message is read back over IMAP.
func TestMTAWithSwaks(t *testing.T) {
	swaks := testkit.RequireTool(t, "swaks", "swaks")
	s := startQueueSuite(t, "", "alice@example.com", "bob@example.com")
	pw := userPassword("alice@example.com")
	// swaks prints its transcript; the exit status says which step failed
	// (0 delivered, 23 MAIL refused, 24 every RCPT refused, 28 AUTH, 29 TLS).
	run := func(subject string, args ...string) (string, int) {
		t.Helper()
		base := []string{"--ehlo", "client.example", "--timeout", "15",
			"--header", "Subject: " + subject, "--body", "hello from swaks"}
		out, err := exec.Command(swaks, append(base, args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("swaks: %v", err)
		}
		return string(out), 0
	}
	hostPort := func(addr string) []string {
		h, p, _ := strings.Cut(addr, ":")
		return []string{"--server", h, "--port", p}
	}
	sub := hostPort(s.Addr("smtpd", "submission"))
	subs := hostPort(s.Addr("smtpd", "submissions"))
	mx := hostPort(s.Addr("smtpd", "smtp"))
	auth := func(mech string) []string {
		return []string{"--auth", mech, "--auth-user", "alice@example.com", "--auth-password", pw}
	}
	cat := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	cases := []struct {
		name    string
		subject string
		args    []string
		code    int    // swaks exit status
		reply   string // a line the transcript must hold
		to      string // the IMAP user that must receive it (code 0)
	}{
		{"587 STARTTLS AUTH PLAIN", "swaks 587 plain",
			cat(sub, []string{"--tls", "--from", "alice@example.com", "--to", "bob@example.com"}, auth("PLAIN")),
			0, "<~  250 2.0.0 Ok: queued as ", "bob@example.com"},
		{"587 STARTTLS AUTH LOGIN", "swaks 587 login",
			cat(sub, []string{"--tls", "--from", "alice@example.com", "--to", "bob@example.com"}, auth("LOGIN")),
			0, "<~  235 2.0.0 Authentication succeeded", "bob@example.com"},
		{"465 implicit TLS", "swaks 465",
			cat(subs, []string{"--tls-on-connect", "--from", "alice@example.com", "--to", "bob@example.com"}, auth("PLAIN")),
			0, "<~  250 2.0.0 Ok: queued as ", "bob@example.com"},
		{"25 to a local user", "swaks 25",
			cat(mx, []string{"--from", "sender@remote.example", "--to", "alice@example.com"}),
			0, "<-  250 2.0.0 Ok: queued as ", "alice@example.com"},
		{"25 relay without AUTH", "swaks relay",
			cat(mx, []string{"--from", "sender@remote.example", "--to", "victim@other.example"}),
			24, "<** 554 5.7.1 <victim@other.example>: Relay access denied", ""},
		{"587 sender not the login's", "swaks forged",
			cat(sub, []string{"--tls", "--from", "bob@example.com", "--to", "bob@example.com"}, auth("PLAIN")),
			23, "<~* 553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(tc.subject, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.reply) {
				t.Fatalf("swaks exit %d (want %d), transcript lacks %q?\n%s", code, tc.code, tc.reply, out)
			}
			if tc.to != "" {
				local, domain, _ := strings.Cut(tc.to, "@")
				waitForMessage(t, tc.subject, filepath.Join(s.Dir(), "vmail", domain, local, "Maildir"))
			}
		})
	}
	// Over IMAP: bob holds the three submissions, alice the port 25 mail,
	// each exactly once; the refused ones are nowhere.
	want := map[string][]string{
		"bob@example.com":   {"swaks 587 plain", "swaks 587 login", "swaks 465"},
		"alice@example.com": {"swaks 25"},
	}
	for user, subjects := range want {
		c := openMailSession(t, s, user)
		if _, got := c.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
			t.Fatalf("%s: SELECT: %q", user, got)
		}
		untagged, got := c.cmd("f", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
		all := strings.Join(untagged, "\n")
		if !strings.HasPrefix(got, "f OK") || strings.Count(all, "FETCH (") != len(subjects) {
			t.Fatalf("%s: FETCH %q, want %d messages:\n%s", user, got, len(subjects), all)
		}
		for _, subj := range subjects {
			if strings.Count(all, "Subject: "+subj) != 1 {
				t.Errorf("%s: %q not there exactly once:\n%s", user, subj, all)
			}
		}
		c.cmd("z", "LOGOUT")
	}
}
