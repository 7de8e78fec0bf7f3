package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/testkit"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// startSMTPSink runs Postfix's smtp-sink as the remote MX on addr (another
// loopback address): it accepts every message and dumps each transaction
// into its own file under the returned directory (-d). As root it must
// drop to a user (-u nobody), so the dump directory is nobody's. It
// returns once the sink accepts connections.
func startSMTPSink(t *testing.T, addr string) string {
	t.Helper()
	sink := testkit.RequireTool(t, "smtp-sink", "postfix")
	dir := filepath.Join(t.TempDir(), "sink")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(t, "nobody")
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	// nobody must traverse the temp directories above the dump directory.
	stop := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); p != stop && p != "/" && strings.HasPrefix(p, stop); p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sink, "-u", "nobody", "-h", "mx.remote.example", "-d", dir+"/", addr, "16")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("smtp-sink output:\n%s", out)
		}
	})
	// smtp-sink says nothing when it is ready: wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return dir
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForSinkMessage waits for smtp-sink's dump of the message with
// subject (smtp-sink writes LF line ends) and returns it.
func waitForSinkMessage(t *testing.T, dir, subject string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil && strings.Contains(strings.ReplaceAll(string(data), "\r\n", "\n"), "\nSubject: "+subject+"\n") {
				return string(data)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink got no message with subject %q (%d files)", subject, len(ents))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// submit sends one message over the suite's submission port (STARTTLS,
// AUTH PLAIN) as user, with the DSN parameters given.
func submit(t *testing.T, s *testkit.Suite, user string, mail *gosmtp.MailOptions, rcpts map[string]*gosmtp.RcptOptions, body string) {
	t.Helper()
	c, err := gosmtp.DialStartTLS(s.Addr("smtpd", "submission"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, userPassword(user))); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail(user, mail); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for rcpt, opt := range rcpts {
		if err := c.Rcpt(rcpt, opt); err != nil {
			t.Fatalf("RCPT %s: %v", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	c.Quit()
}

// TestMTARemoteMX delivers to other domains through the real suite, with a
// fake DNS server (miekg/dns) answering MX and A queries: remote.example's
// MX is Postfix's smtp-sink on 127.0.0.2, dead.example's MX is 127.0.0.3
// where nothing listens. Submitted on 587 with DSN parameters:
//   - mail to dave@remote.example reaches the sink;
//   - mail to carol@dead.example (RET=HDRS, ENVID) is retried, then after
//     maximal_queue_lifetime bounced with an RFC 3464 report that carries
//     the envelope id and the original headers but not the body;
//   - mail to bob@example.com with NOTIFY=SUCCESS gets alice a "delivered"
//     report.
func TestMTARemoteMX(t *testing.T) {
	port := testkit.FreePort(t)
	sinkDir := startSMTPSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	dnsAddr := fakeDNS(t, map[string]string{
		"remote.example.":    "MX 10 mx.remote.example.",
		"mx.remote.example.": "A 127.0.0.2",
		"dead.example.":      "MX 10 mx.dead.example.",
		"mx.dead.example.":   "A 127.0.0.3",
	})
	s := startQueueSuite(t, fmt.Sprintf(`queue_dns_resolver = %s
queue_smtp_port = %d
minimal_backoff_time = 1s
maximal_backoff_time = 1s
maximal_queue_lifetime = 3s
`, dnsAddr, port), "alice@example.com", "bob@example.com")
	mark := s.LogMark()

	submit(t, s, "alice@example.com", nil, map[string]*gosmtp.RcptOptions{"dave@remote.example": nil},
		"From: alice@example.com\r\nSubject: to the sink\r\n\r\nover the wire\r\n")
	data := waitForSinkMessage(t, sinkDir, "to the sink")
	for _, want := range []string{"X-Mail-Args: <alice@example.com>", "X-Rcpt-Args: <dave@remote.example>",
		"by mx.example.com (cote) with ESMTP", "over the wire"} {
		if !strings.Contains(data, want) {
			t.Errorf("the sink's copy lacks %q:\n%s", want, data)
		}
	}

	submit(t, s, "alice@example.com", &gosmtp.MailOptions{Return: gosmtp.DSNReturnHeaders, EnvelopeID: "env-dead-1"},
		map[string]*gosmtp.RcptOptions{"carol@dead.example": nil},
		"From: alice@example.com\r\nSubject: to the dead MX\r\n\r\nSECRET-BODY-LINE\r\n")
	submit(t, s, "alice@example.com", nil,
		map[string]*gosmtp.RcptOptions{"bob@example.com": {Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess},
			OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "bob@example.com"}},
		"From: alice@example.com\r\nSubject: tell me it arrived\r\n\r\nhi bob\r\n")

	alice := filepath.Join(s.Dir(), "vmail", "example.com", "alice", "Maildir")
	waitForMessage(t, "tell me it arrived", filepath.Join(s.Dir(), "vmail", "example.com", "bob", "Maildir"))
	report, _ := os.ReadFile(waitForMessage(t, "Successful Mail Delivery Report", alice))
	for _, want := range []string{"report-type=delivery-status", "Final-Recipient: rfc822; bob@example.com",
		"Original-Recipient: rfc822; bob@example.com", "Action: delivered", "Status: 2."} {
		if !strings.Contains(string(report), want) {
			t.Errorf("success report lacks %q:\n%s", want, report)
		}
	}

	bounce, _ := os.ReadFile(waitForMessage(t, "Undelivered Mail Returned to Sender", alice))
	for _, want := range []string{"report-type=delivery-status", "Original-Envelope-Id: env-dead-1",
		"Final-Recipient: rfc822; carol@dead.example", "Action: failed", "Status: 4.4.7",
		"Content-Type: text/rfc822-headers", "Subject: to the dead MX"} {
		if !strings.Contains(string(bounce), want) {
			t.Errorf("bounce lacks %q:\n%s", want, bounce)
		}
	}
	if strings.Contains(string(bounce), "SECRET-BODY-LINE") {
		t.Errorf("RET=HDRS bounce returns the body:\n%s", bounce)
	}
	// It was retried before it expired: at least two deferrals logged.
	s.WaitLogAfter(mark, `queue\[\d+\]: deferred .*attempts=2`)
	// Everything is done: the spool is empty once the reports are delivered.
	waitIMAP(t, s, "bob@example.com", "tell me it arrived", "alice@example.com")
}
