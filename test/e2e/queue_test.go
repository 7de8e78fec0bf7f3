package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/testkit"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// TestQueueEndToEnd sends through the whole MTA: Python's smtplib to the real smtpd on port
// 25, then the queue delivers over LMTP; and a local submission on base_dir/pickup (the
// client's uid read with SO_PEERCRED becomes the default sender). Each user reads the
// message over IMAP exactly once.
func TestQueueEndToEnd(t *testing.T) {
	py := testkit.RequireTool(t, "python3", "python3")
	s := startQueueSuite(t, "", "alice@example.com", "bob@example.com")
	script := `
import smtplib, sys
h, p = sys.argv[1].rsplit(":", 1)
s = smtplib.SMTP(h, int(p), local_hostname="client.example")
s.sendmail("sender@remote.example", ["alice@example.com"], b"From: sender@remote.example\r\nSubject: queued e2e\r\n\r\nhello\r\n")
s.quit()
print("sent")
`
	if out, err := exec.Command(py, "-c", script, s.Addr("smtpd", "smtp")).CombinedOutput(); err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	conn, err := net.Dial("unix", filepath.Join(s.BaseDir(), "pickup"))
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClient(conn)
	if err := c.SendMail("", []string{"bob@example.com"}, strings.NewReader("Subject: picked up\r\n\r\nlocal\r\n")); err != nil {
		t.Fatalf("pickup: %v", err)
	}
	c.Quit()
	waitIMAP(t, s, "alice@example.com", "queued e2e", "sender@remote.example")
	waitIMAP(t, s, "bob@example.com", "picked up", "root@mx.example.com")
}

// waitIMAP waits for the queue's delivery (it runs asynchronously after the 250), then checks
// that INBOX holds exactly one message with the subject and Return-Path.
func waitIMAP(t *testing.T, s *testkit.Suite, user, subject, returnPath string) {
	t.Helper()
	homes := filepath.Join(s.Dir(), "vmail") // mailRoot's directory
	local, domain, _ := strings.Cut(user, "@")
	waitForMessage(t, subject, filepath.Join(homes, domain, local, "Maildir"))
	c := openMailSession(t, s, user)
	if _, got := c.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
		t.Fatalf("%s: SELECT: %q", user, got)
	}
	untagged, got := c.cmd("f", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (RETURN-PATH SUBJECT)])")
	if !strings.HasPrefix(got, "f OK") {
		t.Fatalf("%s: FETCH: %q", user, got)
	}
	all := strings.Join(untagged, "\n")
	if n := strings.Count(all, "FETCH ("); n != 1 {
		t.Fatalf("%s: %d messages, want 1:\n%s", user, n, all)
	}
	for _, want := range []string{"Return-Path: <" + returnPath + ">", "Subject: " + subject} {
		if !strings.Contains(all, want) {
			t.Errorf("%s: headers lack %q:\n%s", user, want, all)
		}
	}
	c.cmd("z", "LOGOUT")
}

// TestQueueRemoteAndBounce points the queue at a fake DNS server (miekg/dns) and a fake MX
// (go-smtp) in this process: mail to remote.example reaches the fake MX; mail to
// dead.example (its MX has no listener) is retried every second until
// maximal_queue_lifetime, then the RFC 3464 bounce lands in the sender's INBOX.
func TestQueueRemoteAndBounce(t *testing.T) {
	mx := &recordingMX{got: make(chan string, 4)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gosmtp.NewServer(mx)
	srv.Domain = "mx.remote.example"
	go srv.Serve(l)
	defer srv.Close()
	dnsAddr := fakeDNS(t, map[string]string{
		"remote.example.":    "MX 10 mx.remote.example.",
		"mx.remote.example.": "A 127.0.0.1",
		"dead.example.":      "MX 10 mx.dead.example.",
		"mx.dead.example.":   "A 127.0.0.2",
	})
	s := startQueueSuite(t, fmt.Sprintf(`queue_dns_resolver = %s
queue_smtp_port = %d
minimal_backoff_time = 1s
maximal_backoff_time = 1s
maximal_queue_lifetime = 3s
`, dnsAddr, l.Addr().(*net.TCPAddr).Port), "alice@example.com")
	conn, err := net.Dial("unix", filepath.Join(s.BaseDir(), "pickup"))
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClient(conn)
	if err := c.SendMail("alice@example.com", []string{"bob@remote.example", "carol@dead.example"},
		strings.NewReader("From: alice@example.com\r\nSubject: to the world\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("pickup: %v", err)
	}
	c.Quit()
	select {
	case rcpt := <-mx.got:
		if rcpt != "bob@remote.example" {
			t.Fatalf("fake MX got %q", rcpt)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nothing reached the fake MX")
	}
	waitIMAP(t, s, "alice@example.com", "Undelivered Mail Returned to Sender", "")
	data, _ := os.ReadFile(waitForMessage(t, "Undelivered Mail Returned to Sender", filepath.Join(s.Dir(), "vmail")))
	for _, want := range []string{"Content-Type: multipart/report", "report-type=delivery-status", "Final-Recipient: rfc822; carol@dead.example",
		"Action: failed", "Status: 4.4.7", "Subject: to the world"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("bounce lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "bob@remote.example") && strings.Contains(string(data), "Final-Recipient: rfc822; bob") {
		t.Errorf("bounce names the delivered recipient:\n%s", data)
	}
}

// recordingMX is a fake remote MX: it accepts everything and reports each recipient.
type recordingMX struct{ got chan string }

func (m *recordingMX) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &mxSession{m: m}, nil }

type mxSession struct {
	m     *recordingMX
	rcpts []string
}

func (s *mxSession) Reset()                                 { s.rcpts = nil }
func (s *mxSession) Logout() error                          { return nil }
func (s *mxSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *mxSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *mxSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	for _, rc := range s.rcpts {
		s.m.got <- rc
	}
	return nil
}

// fakeDNS answers from zone (name -> "TYPE rdata") on 127.0.0.1:0 over UDP; other names are
// NXDOMAIN, other types of a known name an empty answer.
func fakeDNS(t *testing.T, zone map[string]string) string {
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		rec, ok := zone[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		} else if typ, _, _ := strings.Cut(rec, " "); dns.StringToType[typ] == q.Qtype {
			rr, err := dns.NewRR(q.Name + " 60 IN " + rec)
			if err == nil {
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: mux, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// startQueueSuite boots a suite with the MTA (smtpd and queue) next to IMAP and LMTP: users
// in a passwd-file passdb, example.com local, the spool in the temp tree (the master creates
// it for the queue service).
func startQueueSuite(t testing.TB, extra string, users ...string) *testkit.Suite {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	testkit.RequireUser(t, "cote-smtp")
	s := testkit.New(t, testkit.Options{})
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	var sb strings.Builder
	for _, u := range users {
		h, err := passwd.Hash("SSHA256", u, userPassword(u), passwd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s:%s::::::\n", u, h)
	}
	if err := os.WriteFile(usersFile, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(t, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	homes := mailRoot(t, s)
	s.Rewrite(fmt.Sprintf(`protocols = imap lmtp smtp
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%d/%%n
}
queue_directory = %s
myhostname = mx.example.com
mydestination = mx.example.com, example.com
mynetworks = 192.0.2.0/24
postscreen_greet_wait = 0
%s
%s`, usersFile, homes, filepath.Join(s.Dir(), "spool"), mailNamespace, extra))
	s.Start()
	return s
}

// BenchmarkQueueThroughput measures enqueue+deliver: b.N messages sent over 1 or 10
// concurrent SMTP sessions to the real smtpd (port 25), queued, and delivered by the queue
// over LMTP into a Maildir; the clock stops when the last one is in the Maildir. Boot costs
// ~1 s per run, so use a fixed count:
//
//	go test -run XXX -bench QueueThroughput -benchtime 400x ./test/e2e/
func BenchmarkQueueThroughput(b *testing.B) {
	for _, sessions := range []int{1, 10} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			s := startQueueSuite(b, "", "alice@example.com")
			maildir := filepath.Join(s.Dir(), "vmail", "example.com", "alice", "Maildir", "new")
			addr := s.Addr("smtpd", "smtp")
			body := "From: b@remote.example\r\nSubject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 32)
			work := make(chan int, b.N)
			for i := 0; i < b.N; i++ {
				work <- i
			}
			close(work)
			b.ResetTimer()
			errs := make(chan error, sessions)
			for k := 0; k < sessions; k++ {
				go func() {
					c, err := gosmtp.Dial(addr)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					if err := c.Hello("bench.example"); err != nil {
						errs <- err
						return
					}
					for range work {
						if err := c.SendMail("b@remote.example", []string{"alice@example.com"}, strings.NewReader(body)); err != nil {
							errs <- err
							return
						}
					}
					c.Quit()
					errs <- nil
				}()
			}
			for k := 0; k < sessions; k++ {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			sent := b.Elapsed()
			deadline := time.Now().Add(2 * time.Minute)
			for {
				ents, _ := os.ReadDir(maildir)
				if len(ents) >= b.N {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d delivered", len(ents), b.N)
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/sent.Seconds(), "accepted/s")
		})
	}
}
