package e2e

import (
	"os/exec"
	"path/filepath"
	"slices"
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

// TestLMTPPreviewAtDelivery: lmtp caches every delivered message's RFC 8970
// preview, whatever the charset of its text, so the first FETCH PREVIEW
// (LAZY) over IMAP answers the text, never NIL (LAZY answers only what is
// cached).
func TestLMTPPreviewAtDelivery(t *testing.T) {
	py := testkit.RequireTool(t, "python3", "python3")
	s := startMailSuite(t, "carol@example.com")
	sock := filepath.Join(s.BaseDir(), "lmtp")
	script := `
import smtplib, sys
msgs = [
    b"Subject: a\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 cr\xe8me\r\n",
    b"Subject: b\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n",
    b"Subject: c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n> quoted\r\nplain text\r\n",
]
s = smtplib.LMTP(sys.argv[1])
for m in msgs:
    s.sendmail("sender@example.org", ["carol@example.com"], m)
s.quit()
print("done")
`
	if out, err := exec.Command(py, "-c", script, sock).CombinedOutput(); err != nil {
		t.Fatalf("smtplib.LMTP: %v\n%s", err, out)
	}
	c := openMailSession(t, s, "carol@example.com")
	if _, got := c.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
		t.Fatalf("SELECT: %q", got)
	}
	untagged, got := c.cmd("f", "FETCH 1:* (PREVIEW (LAZY))")
	if !strings.HasPrefix(got, "f OK") {
		t.Fatalf("FETCH: %q", got)
	}
	want := []string{
		// 8-bit text goes as a literal until the client ENABLEs
		// UTF8=ACCEPT (the session's reader splits at the literal).
		"* 1 FETCH (PREVIEW {12}", "café crème)",
		"* 2 FETCH (PREVIEW {12}", "Привет)",
		`* 3 FETCH (PREVIEW "plain text")`,
	}
	if !slices.Equal(untagged, want) {
		t.Fatalf("FETCH PREVIEW (LAZY):\n%q\nwant:\n%q", untagged, want)
	}
	c.cmd("z", "LOGOUT")
}
