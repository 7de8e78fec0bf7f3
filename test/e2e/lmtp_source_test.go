package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/testkit"
)

// startLMTPSuite boots a suite like startMailSuite (passwd-file users,
// static vmail userdb, maildir) with lmtp's inet listener on a free
// loopback port and svc inside its service section; it returns the
// suite, that address and the mail root (homes are root/domain/name).
func startLMTPSuite(t *testing.T, users []string, svc string) (*testkit.Suite, string, string) {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
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
	port := testkit.FreePort(t)
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%d/%%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %d
  }
%s}
`, usersFile, homes, port, svc))
	s.Start()
	return s, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), homes
}

// maildirMessages reads every message of a Maildir's INBOX.
func maildirMessages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

var messageIDRe = regexp.MustCompile(`(?mi)^Message-Id: (<[^>]+>)\r$`)

// TestLMTPSmtpSource delivers with Postfix's smtp-source in LMTP mode: N
// messages, each to M users (smtp-source sends -t as the last recipient
// and numbers the others: 3u, 2u, u), over two concurrent sessions on the inet listener. Every user's
// Maildir then holds each message exactly once with the trace headers.
func TestLMTPSmtpSource(t *testing.T) {
	src := testkit.RequireTool(t, "smtp-source", "postfix")
	const n, m = 20, 3
	local := func(i int) string {
		if i == 1 {
			return "u"
		}
		return strconv.Itoa(i) + "u"
	}
	var users []string
	for i := 1; i <= m; i++ {
		users = append(users, local(i)+"@example.com")
	}
	_, addr, homes := startLMTPSuite(t, users, "")
	out, err := exec.Command(src, "-L", "-s", "2", "-m", strconv.Itoa(n), "-r", strconv.Itoa(m), "-l", "2048",
		"-f", "sender@example.org", "-t", "u@example.com", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	var first map[string]bool
	for i := 1; i <= m; i++ {
		user := local(i) + "@example.com"
		msgs := maildirMessages(t, filepath.Join(homes, "example.com", local(i), "Maildir"))
		if len(msgs) != n {
			t.Fatalf("%s holds %d messages, want %d", user, len(msgs), n)
		}
		ids := map[string]bool{}
		for _, msg := range msgs {
			for _, h := range []string{"Return-Path: <sender@example.org>\r\n", "\tby ", "with LMTP\r\n", "(envelope-from <sender@example.org>); "} {
				if !strings.Contains(msg, h) {
					t.Fatalf("%s: message lacks %q:\n%.400s", user, h, msg)
				}
			}
			// m recipients per transaction: the trace fields name none
			// of them (Dovecot's lmtp_hdr_delivery_address "none").
			if strings.Contains(msg, "Delivered-To: ") || strings.Contains(msg, "\tfor <") {
				t.Fatalf("%s: per-recipient trace fields in a shared message:\n%.400s", user, msg)
			}
			if !strings.HasPrefix(msg, "Return-Path: ") {
				t.Fatalf("%s: trace headers not first:\n%.300s", user, msg)
			}
			id := messageIDRe.FindStringSubmatch(msg)
			if id == nil {
				t.Fatalf("%s: no Message-Id:\n%.400s", user, msg)
			}
			if ids[id[1]] {
				t.Fatalf("%s: %s delivered twice", user, id[1])
			}
			ids[id[1]] = true
		}
		if first == nil {
			first = ids
		} else {
			for id := range first {
				if !ids[id] {
					t.Fatalf("%s lacks %s", user, id)
				}
			}
		}
	}
}

// lmtpDeliver runs one LMTP transaction on an open connection: one
// recipient, the message; it returns the final reply line.
func lmtpDeliver(w *bufio.Writer, r *bufio.Reader, rcpt, msg string) (string, error) {
	fmt.Fprintf(w, "MAIL FROM:<crash@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n", rcpt)
	if err := w.Flush(); err != nil {
		return "", err
	}
	for i := 0; i < 3; i++ { // MAIL, RCPT, DATA (354)
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line[0] != '2' && line[0] != '3' {
			return line, nil
		}
	}
	fmt.Fprintf(w, "%s.\r\n", msg)
	if err := w.Flush(); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

// TestLMTPCrash SIGKILLs the lmtp process while a client streams
// deliveries: every message that got its 250 is in the Maildir and shows
// over IMAP with a UID.
func TestLMTPCrash(t *testing.T) {
	const user = "crash@example.com"
	s, addr, homes := startLMTPSuite(t, []string{user}, "")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "LHLO crash.test\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "250 ") {
			break
		}
	}
	s.WaitChildren("lmtp", 1)
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 64)
	var acked []string
	killed := false
	for i := 0; i < 1000; i++ {
		subj := fmt.Sprintf("crash-%04d", i)
		reply, err := lmtpDeliver(w, r, user, "Subject: "+subj+"\r\n\r\n"+body)
		if err != nil {
			if !killed {
				t.Fatalf("delivery %d: %v", i, err)
			}
			break
		}
		if !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("delivery %d: %q", i, reply)
		}
		acked = append(acked, subj)
		if len(acked) == 20 && !killed {
			// Kill with the next transaction on its way: send it first,
			// so the process dies with a delivery in flight.
			fmt.Fprintf(w, "MAIL FROM:<crash@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n", user)
			w.Flush()
			// Every lmtp process of the suite: the one serving this
			// connection is among them.
			for _, p := range s.ServiceChildren("lmtp") {
				if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			killed = true
			// Drain: the connection breaks, possibly after replies.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if _, err := r.ReadString('\n'); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the connection survived the kill of every lmtp process")
					}
					break
				}
			}
			break
		}
	}
	if !killed {
		t.Fatal("never killed lmtp")
	}
	msgs := maildirMessages(t, filepath.Join(homes, "example.com", "crash", "Maildir"))
	stored := map[string]int{}
	for _, m := range msgs {
		if i := strings.Index(m, "Subject: crash-"); i >= 0 {
			stored[m[i+9:i+19]]++
		}
	}
	for _, subj := range acked {
		if stored[subj] != 1 {
			t.Errorf("%s acknowledged but stored %d times", subj, stored[subj])
		}
	}
	ic := openMailSession(t, s, user)
	if _, got := ic.cmd("s", "SELECT INBOX"); !strings.HasPrefix(got, "s OK") {
		t.Fatalf("SELECT: %q", got)
	}
	untagged, got := ic.cmd("f", "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(got, "f OK") {
		t.Fatalf("FETCH: %q", got)
	}
	all := strings.Join(untagged, "\n")
	uidRe := regexp.MustCompile(`UID ([1-9][0-9]*)`)
	for _, subj := range acked {
		if !strings.Contains(all, "Subject: "+subj) {
			t.Errorf("%s not visible over IMAP", subj)
		}
	}
	if n := len(uidRe.FindAllString(all, -1)); n < len(acked) {
		t.Errorf("%d UIDs for %d acknowledged messages:\n%s", n, len(acked), all)
	}
	ic.cmd("z", "LOGOUT")
}

// TestLMTPAsRoot runs lmtp as root (service lmtp { user = root }, for
// system users): each recipient is delivered by the deliver helper as the
// userdb uid, so the Maildir belongs to vmail, and the message reads back
// over IMAP.
func TestLMTPAsRoot(t *testing.T) {
	const user = "sys@example.com"
	s, addr, homes := startLMTPSuite(t, []string{user}, "  user = root\n")
	// The helper runs as vmail and must reach the deliver binary, as it
	// does under /usr/libexec/cote; testkit's build cache is 0700.
	for _, d := range []string{filepath.Dir(s.Binary("deliver")), filepath.Dir(filepath.Dir(s.Binary("deliver")))} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	fmt.Fprintf(w, "LHLO root.test\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "250 ") {
			break
		}
	}
	if reply, err := lmtpDeliver(w, r, user, "Subject: as root\r\n\r\nhello\r\n"); err != nil || !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("delivery: %q %v", reply, err)
	}
	vuid, _, _ := testkit.UserCreds(t, "vmail")
	st, err := os.Stat(filepath.Join(homes, "example.com", "sys", "Maildir"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Sys().(*syscall.Stat_t).Uid; int(got) != vuid {
		t.Fatalf("Maildir owned by uid %d, want vmail (%d)", got, vuid)
	}
	ic := openMailSession(t, s, user)
	ic.cmd("s", "SELECT INBOX")
	untagged, got := ic.cmd("f", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(got, "f OK") || !strings.Contains(strings.Join(untagged, "\n"), "Subject: as root") {
		t.Fatalf("FETCH: %q %q", untagged, got)
	}
	ic.cmd("z", "LOGOUT")
}

// TestDeliverLDA runs the LDA against the real suite's auth-userdb, as
// root (so it re-executes itself as vmail): exit 0 and the message over
// IMAP, 67 for an unknown user.
func TestDeliverLDA(t *testing.T) {
	const user = "lda@example.com"
	s, _, _ := startLMTPSuite(t, []string{user}, "")
	bin := s.Binary("deliver")
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		user string
		want int
	}{
		{"delivered", user, 0},
		{"unknown user", "nobody@example.com", 67},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-c", s.ConfigPath(), "-e", "-d", tc.user, "-f", "sender@example.org")
			cmd.Stdin = strings.NewReader("Subject: via lda\n\nhello\n")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				t.Fatalf("exit %d, want %d: %s", code, tc.want, out)
			}
		})
	}
	ic := openMailSession(t, s, user)
	ic.cmd("s", "SELECT INBOX")
	untagged, got := ic.cmd("f", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (RETURN-PATH DELIVERED-TO SUBJECT)])")
	all := strings.Join(untagged, "\n")
	if !strings.HasPrefix(got, "f OK") || strings.Count(all, "FETCH (") != 1 {
		t.Fatalf("FETCH: %q %q", untagged, got)
	}
	for _, want := range []string{"Return-Path: <sender@example.org>", "Delivered-To: " + user, "Subject: via lda"} {
		if !strings.Contains(all, want) {
			t.Errorf("headers lack %q:\n%s", want, all)
		}
	}
	ic.cmd("z", "LOGOUT")
}
