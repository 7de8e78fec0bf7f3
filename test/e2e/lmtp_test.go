package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestLMTPDelivery delivers through the real lmtp service with Python's
// smtplib.LMTP, an independent client, on the lmtp unix socket: two known
// recipients and an unknown one in one transaction. Each known user then
// finds the message exactly once in INBOX over IMAP, with the headers lmtp
// adds.
func TestLMTPDelivery(t *testing.T) {
	py := testkit.RequireTool(t, "python3", "python3")
	s := startMailSuite(t, "alice@example.com", "bob@example.com")
	sock := filepath.Join(s.BaseDir(), "lmtp")
	script := `
import smtplib, sys
s = smtplib.LMTP(sys.argv[1])
# sendmail returns the refused recipients when at least one was accepted.
refused = s.sendmail("sender@example.org", ["alice@example.com", "nobody@example.com", "bob@example.com"],
    b"From: sender@example.org\r\nSubject: via lmtp\r\n\r\nhello\r\n")
s.quit()
for rcpt, (code, msg) in sorted(refused.items()):
    print(rcpt, code, msg.decode())
print("done")
`
	out, err := exec.Command(py, "-c", script, sock).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib.LMTP: %v\n%s", err, out)
	}
	want := "nobody@example.com 550 5.1.1 <nobody@example.com> User doesn't exist: nobody@example.com\ndone"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("LMTP refusals:\n%s\nwant:\n%s", got, want)
	}
	for _, user := range []string{"alice@example.com", "bob@example.com"} {
		c := openMailSession(t, s, user)
		if _, got := c.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
			t.Fatalf("%s: SELECT: %q", user, got)
		}
		untagged, got := c.cmd("f", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (DELIVERED-TO RETURN-PATH SUBJECT)])")
		if !strings.HasPrefix(got, "f OK") {
			t.Fatalf("%s: FETCH: %q", user, got)
		}
		all := strings.Join(untagged, "\n")
		if n := strings.Count(all, "FETCH ("); n != 1 {
			t.Fatalf("%s: %d messages in INBOX, want exactly 1:\n%s", user, n, all)
		}
		for _, want := range []string{"Return-Path: <sender@example.org>", "Subject: via lmtp"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: headers lack %q:\n%s", user, want, all)
			}
		}
		// Two accepted recipients: no Delivered-To (Dovecot's
		// lmtp_hdr_delivery_address is "none" for several recipients).
		if strings.Contains(all, "Delivered-To") {
			t.Errorf("%s: Delivered-To in a transaction with several recipients:\n%s", user, all)
		}
		c.cmd("z", "LOGOUT")
	}
}
