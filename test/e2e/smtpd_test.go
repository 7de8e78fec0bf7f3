package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/testkit"
)

// startSMTPSuite boots a suite with the MTA (protocol smtp) next to IMAP
// and LMTP: users with userPassword in a passwd-file passdb, example.com in
// mydestination, and mynetworks that leave out loopback, so the tests'
// clients are strangers on port 25. The spool lives in the temp tree.
func startSMTPSuite(t *testing.T, users ...string) (*testkit.Suite, string) {
	t.Helper()
	return startSMTPSuiteExtra(t, "", users...)
}

// startSMTPSuiteExtra is startSMTPSuite with extra configuration text; it
// returns the spool directory too (the master creates it for the queue).
func startSMTPSuiteExtra(t *testing.T, extra string, users ...string) (*testkit.Suite, string) {
	t.Helper()
	s := startQueueSuite(t, extra, users...)
	return s, filepath.Join(s.Dir(), "spool")
}

// waitForMessage waits until a file under one of dirs holds subject: the
// spool's active/ (or deferred/) when the queue is not delivering, a
// Maildir when it is.
func waitForMessage(t *testing.T, subject string, dirs ...string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, d := range dirs {
			var found string
			filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() || found != "" {
					return nil
				}
				if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), "Subject: "+subject+"\r\n") {
					found = p
				}
				return nil
			})
			if found != "" {
				return found
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message with subject %q under %v", subject, dirs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSMTPDWithSmtplib drives the real smtpd with Python's smtplib, an
// independent client: port 25 from a stranger (local user accepted, unknown
// user and relay refused), 587 with STARTTLS and AUTH LOGIN (no AUTH before
// TLS, sender must match the login, authenticated relay), 465 with
// implicit TLS.
func TestSMTPDWithSmtplib(t *testing.T) {
	py := testkit.RequireTool(t, "python3", "python3")
	s, spool := startSMTPSuite(t, "alice@example.com", "bob@example.com")
	mx := s.Addr("smtpd", "smtp")
	sub := s.Addr("smtpd", "submission")
	subs := s.Addr("smtpd", "submissions")
	script := `
import smtplib, ssl, sys
def hp(a):
    h, p = a.rsplit(":", 1)
    return h, int(p)
mx, sub, subs, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def msg(subject):
    return ("From: x@example.com\r\nSubject: %s\r\n\r\nhello\r\n" % subject).encode()
ctx = ssl._create_unverified_context()

s = smtplib.SMTP(*hp(mx), local_hostname="client.example")
s.ehlo()
print("25 auth offered:", s.has_extn("auth"), "starttls:", s.has_extn("starttls"), "size:", s.has_extn("size"))
refused = s.sendmail("sender@remote.example", ["alice@example.com", "nobody@example.com", "victim@other.example"], msg("via 25"))
for rcpt, (code, text) in sorted(refused.items()):
    print(rcpt, code, text.decode())
s.quit()

s = smtplib.SMTP(*hp(sub), local_hostname="client.example")
s.ehlo()
print("587 auth before tls:", s.has_extn("auth"))
s.starttls(context=ctx)
s.ehlo()
print("587 auth after tls:", s.esmtp_features.get("auth", "").strip())
s.login("alice@example.com", pw)
try:
    s.sendmail("bob@example.com", ["friend@other.example"], msg("forged"))
except smtplib.SMTPSenderRefused as e:
    print("forged sender:", e.smtp_code, e.smtp_error.decode())
s.sendmail("alice@example.com", ["bob@example.com", "friend@other.example"], msg("via 587"))
s.quit()

s = smtplib.SMTP_SSL(*hp(subs), local_hostname="client.example", context=ctx)
s.login("alice@example.com", pw)
s.sendmail("alice@example.com", ["bob@example.com"], msg("via 465"))
s.quit()
print("done")
`
	out, err := exec.Command(py, "-c", script, mx, sub, subs, userPassword("alice@example.com")).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	want := `25 auth offered: False starttls: True size: True
nobody@example.com 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table
victim@other.example 554 5.7.1 <victim@other.example>: Relay access denied
587 auth before tls: False
587 auth after tls: LOGIN PLAIN
forged sender: 553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com
done`
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("smtplib session:\n%s\nwant:\n%s", got, want)
	}
	homes := filepath.Join(s.Dir(), "vmail")
	p := waitForMessage(t, "via 25", spool, homes)
	data, _ := os.ReadFile(p)
	if !strings.Contains(string(data), "Received: from client.example (unknown [127.0.0.1])\r\n\tby mx.example.com (cote) with ESMTP id ") {
		t.Errorf("no Received header in %s:\n%s", p, data)
	}
	waitForMessage(t, "via 587", spool, homes)
	waitForMessage(t, "via 465", spool, homes)
	if !settings.BuiltServices["queue"] {
		return // the messages stay in the spool
	}
	// The queue delivered through lmtp: the port 25 message is readable
	// over IMAP with smtpd's Received header.
	waitForMessage(t, "via 25", homes)
	c := openMailSession(t, s, "alice@example.com")
	if _, got := c.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
		t.Fatalf("SELECT: %q", got)
	}
	untagged, got := c.cmd("f", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT RECEIVED)])")
	all := strings.Join(untagged, "\n")
	if !strings.HasPrefix(got, "f OK") || !strings.Contains(all, "Subject: via 25") || !strings.Contains(all, "by mx.example.com (cote) with ESMTP id") {
		t.Fatalf("FETCH: %q\n%s", got, all)
	}
	c.cmd("z", "LOGOUT")
}

// TestSMTPDWithCurl submits with curl's SMTP client (a second independent
// implementation) to port 25: a local recipient is queued, a remote one
// is refused.
func TestSMTPDWithCurl(t *testing.T) {
	curl := testkit.RequireTool(t, "curl", "curl")
	s, spool := startSMTPSuite(t, "alice@example.com")
	mx := s.Addr("smtpd", "smtp")
	mail := filepath.Join(t.TempDir(), "mail.txt")
	os.WriteFile(mail, []byte("From: x@remote.example\r\nSubject: via curl\r\n\r\nhello\r\n"), 0o644)
	run := func(rcpt string) (string, error) {
		out, err := exec.Command(curl, "-sS", "--url", "smtp://"+mx, "--mail-from", "x@remote.example",
			"--mail-rcpt", rcpt, "-T", mail).CombinedOutput()
		return string(out), err
	}
	if out, err := run("alice@example.com"); err != nil {
		t.Fatalf("curl to a local user: %v\n%s", err, out)
	}
	if out, err := run("victim@other.example"); err == nil || !strings.Contains(out, "554") {
		t.Fatalf("curl relay attempt: err %v, output %q (want a 554 refusal)", err, out)
	}
	waitForMessage(t, "via curl", spool, filepath.Join(s.Dir(), "vmail"))
}

// TestSMTPDConnectionLimit checks smtpd_client_connection_count_limit
// through the real anvil (its anvil-smtp listener): with a limit of 1, a
// second concurrent connection from the same IP gets 421 at once.
func TestSMTPDConnectionLimit(t *testing.T) {
	s, _ := startSMTPSuiteExtra(t, "smtpd_client_connection_count_limit = 1\n", "alice@example.com")
	mx := s.Addr("smtpd", "smtp")
	first, err := net.Dial("tcp", mx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(first)
	// The banner comes after the connection was counted.
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first banner %q, %v", l, err)
	}
	second, err := net.Dial("tcp", mx)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(10 * time.Second))
	l, err := bufio.NewReader(second).ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "421 4.7.0 mx.example.com Error: too many connections from 127.0.0.1") {
		t.Fatalf("second connection: %q, %v", l, err)
	}
	// The first one is still served.
	fmt.Fprintf(first, "EHLO client.example\r\n")
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "250 ") {
			break
		}
	}
}

// TestSMTPDConnectionRateLimit: smtpd_client_connection_rate_limit counted
// by the suite's anvil: within anvil_rate_time_unit the third connection
// from a stranger gets Postfix's 421, even after the first two closed.
func TestSMTPDConnectionRateLimit(t *testing.T) {
	s, _ := startSMTPSuiteExtra(t, "smtpd_client_connection_rate_limit = 2\nanvil_rate_time_unit = 1h\n", "alice@example.com")
	mx := s.Addr("smtpd", "smtp")
	for i := 1; i <= 3; i++ {
		c, err := net.Dial("tcp", mx)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "QUIT\r\n")
		c.Close()
		want := "220 "
		if i == 3 {
			want = "421 4.7.0 mx.example.com Error: too many connections from 127.0.0.1\r\n"
		}
		if err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("connection %d: %q, %v; want %q", i, l, err, want)
		}
	}
}

// TestSMTPDThroughput measures accepted messages per second on port 25
// with Postfix's smtp-source (1 and 10 sessions, 4096-byte messages) into
// a real suite: every 250 is after the spool's fsyncs. It is a
// measurement, not a check: it runs only with COTE_SMTPD_THROUGHPUT=N (N
// messages per run).
func TestSMTPDThroughput(t *testing.T) {
	n := os.Getenv("COTE_SMTPD_THROUGHPUT")
	if n == "" {
		t.Skip("set COTE_SMTPD_THROUGHPUT=1000 to measure")
	}
	src := testkit.RequireTool(t, "smtp-source", "postfix")
	s, spool := startSMTPSuiteExtra(t, "smtpd_client_connection_count_limit = 0\n", "alice@example.com")
	mx := s.Addr("smtpd", "smtp")
	// Without -d smtp-source opens a connection per message (connect, banner, EHLO and QUIT
	// count); with -d each session sends all its messages over one connection.
	for _, run := range [][]string{{"-s", "1"}, {"-s", "10"}, {"-s", "1", "-d"}, {"-s", "10", "-d"}} {
		start := time.Now()
		args := append(append([]string{}, run...), "-m", n, "-l", "4096",
			"-f", "sender@example.org", "-t", "alice@example.com", mx)
		out, err := exec.Command(src, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("smtp-source: %v\n%s", err, out)
		}
		el := time.Since(start)
		var m float64
		fmt.Sscan(n, &m)
		t.Logf("smtp-source %s -m %s -l 4096: %v, %.0f msgs/s accepted", strings.Join(run, " "), n, el.Round(time.Millisecond), m/el.Seconds())
	}
	ents, _ := os.ReadDir(filepath.Join(spool, "active"))
	t.Logf("%d files in active/", len(ents))
}
