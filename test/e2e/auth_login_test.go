package e2e

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/xdg-go/scram"

	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/testkit"
)

// Users of the passwd-file passdb of these tests, each stored in a scheme
// that lets one mechanism work: SHA512-CRYPT verifies plaintext
// passwords (LOGIN, PLAIN), {CRAM-MD5} holds the HMAC context CRAM-MD5
// needs, {SCRAM-SHA-256} the keys SCRAM needs.
var authUsers = []struct{ user, scheme, pass string }{
	{"alice@example.com", "SHA512-CRYPT", "alice-pw"},
	{"carol@example.com", "CRAM-MD5", "carol-pw"},
	{"dave@example.com", "SCRAM-SHA-256", "dave-pw"},
}

// authFailDelay shortens auth_failure_delay so the failure cases stay fast;
// the lower bound on it is pkg/auth's test.
const authFailDelay = "100 ms"

// The replies to a login: authOKReply stands for the imap service's
// "OK [CAPABILITY ...] Logged in" (its capability list is imapd's), which
// authReplyIs matches.
const (
	authOKReply   = "OK [CAPABILITY ...] Logged in"
	authFailReply = "NO [AUTHENTICATIONFAILED] Authentication failed."
)

// authReplyIs reports whether got is tag's reply want (authOKReply or an
// exact reply).
func authReplyIs(got, tag, want string) bool {
	if want == authOKReply {
		return strings.HasPrefix(got, tag+" OK [CAPABILITY ") && strings.HasSuffix(got, "] Logged in")
	}
	return got == tag+" "+want
}

// startAuthSuite boots the suite with a passwd-file passdb (hashes made by
// pkg/passwd, as `coteadm pw` makes them) and a static userdb.
func startAuthSuite(t *testing.T, extra string) (*testkit.Suite, string) {
	t.Helper()
	testkit.RequireRoot(t)
	s := testkit.New(t, testkit.Options{})
	homes := mailRoot(t, s)
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	var b strings.Builder
	for _, u := range authUsers {
		h, err := passwd.Hash(u.scheme, u.user, u.pass, passwd.Options{})
		if err != nil {
			t.Fatalf("passwd.Hash %s: %v", u.scheme, err)
		}
		fmt.Fprintf(&b, "%s:%s::::::\n", u.user, h)
	}
	if err := os.WriteFile(usersFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Readable by the auth service's user only (Dovecot's advice for
	// passwd-file: owner the auth user, mode 0600).
	uid, gid, _ := testkit.UserCreds(t, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login cram-md5 scram-sha-256
auth_failure_delay = %s
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%d/%%n
}
`, authFailDelay, usersFile, homes) + extra)
	s.Start()
	return s, usersFile
}

func (c *client) send(raw string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write([]byte(raw + "\r\n")); err != nil {
		c.t.Fatalf("write %q: %v", raw, err)
	}
}

// challenge reads a "+ base64" line and decodes it.
func (c *client) challenge() []byte {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, "+ ") && l != "+" {
		c.t.Fatalf("want a continuation request, got %q", l)
	}
	d, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimPrefix(l, "+"), " "))
	if err != nil {
		c.t.Fatalf("continuation %q: %v", l, err)
	}
	return d
}

// dialFrom connects to addr from the loopback address 127.0.0.<n> (with
// TLS when cfg is set). Every subtest that fails a login uses its own
// address: the per-IP penalty of one would otherwise slow the next.
func dialFrom(t *testing.T, addr string, n int, cfg *tls.Config) *client {
	t.Helper()
	d := &net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if cfg != nil {
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake with %s: %v", addr, err)
		}
		conn = tc
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthIMAPLogin(t *testing.T) {
	// Loopback clients from other addresses than the server's are trusted,
	// so plaintext mechanisms work from each subtest's own address.
	s, usersFile := startAuthSuite(t, "login_trusted_networks = 127.0.0.0/8\n")
	imapAddr, imapsAddr := s.Addr("imap-login", "imap"), s.Addr("imap-login", "imaps")
	tlsCfg := s.Cert.ClientConfig("localhost")

	t.Run("Python imaplib", func(t *testing.T) {
		python := testkit.RequireTool(t, "python3", "python3")
		host, port, _ := net.SplitHostPort(imapAddr)
		out, err := exec.Command(python, "-c", `
import imaplib, sys
for user, pw in (("alice@example.com", "alice-pw"), ("alice@example.com", "bad")):
    m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=15)
    try:
        m.login(user, pw)
        print("login: OK")
        m.logout()
    except imaplib.IMAP4.error as e:
        msg = e.args[0]
        print("login:", msg.decode() if isinstance(msg, bytes) else msg)
`, host, port).CombinedOutput()
		if err != nil {
			t.Fatalf("python3: %v\n%s", err, out)
		}
		want := "login: OK\n" +
			"login: [AUTHENTICATIONFAILED] Authentication failed.\n"
		if string(out) != want {
			t.Errorf("imaplib:\n got %q\nwant %q", out, want)
		}
	})

	t.Run("imapclient", func(t *testing.T) {
		ic, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: tlsCfg})
		if err != nil {
			t.Fatal(err)
		}
		defer ic.Close()
		var ie *imap.Error
		if err := ic.Login("alice@example.com", "alice-pw").Wait(); err != nil {
			t.Errorf("right password: %v", err)
		}
		ic2, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: tlsCfg})
		if err != nil {
			t.Fatal(err)
		}
		defer ic2.Close()
		err = ic2.Login("alice@example.com", "nope").Wait()
		if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("wrong password: %v", err)
		}
	})

	t.Run("LOGIN", func(t *testing.T) {
		mark := s.LogMark()
		c := dial(t, imapAddr)
		c.line()
		if _, got := c.cmd("a", "LOGIN alice@example.com alice-pw"); !authReplyIs(got, "a", authOKReply) {
			t.Errorf("right password: %q", got)
		}
		s.WaitLogAfter(mark, `login: handed off to imap.*alice@example\.com`)
	})

	t.Run("no oracle", func(t *testing.T) {
		c := dialFrom(t, imapAddr, 3, nil)
		c.line()
		_, wrong := c.cmd("a", "LOGIN alice@example.com wrong-pw")
		_, unknown := c.cmd("a", "LOGIN nobody@example.com wrong-pw")
		if wrong != "a "+authFailReply || unknown != wrong {
			t.Errorf("wrong password %q, unknown user %q: want both %q", wrong, unknown, "a "+authFailReply)
		}
	})

	t.Run("AUTHENTICATE PLAIN with SASL-IR", func(t *testing.T) {
		c := dialFrom(t, imapAddr, 4, nil)
		c.line()
		if _, got := c.cmd("a", "AUTHENTICATE PLAIN "+b64("\x00alice@example.com\x00alice-pw")); !authReplyIs(got, "a", authOKReply) {
			t.Errorf("PLAIN: %q", got)
		}
		// The client now belongs to the imap service: the failure needs a
		// new connection.
		c = dialFrom(t, imapAddr, 4, nil)
		c.line()
		if _, got := c.cmd("b", "AUTHENTICATE PLAIN "+b64("\x00alice@example.com\x00nope")); got != "b "+authFailReply {
			t.Errorf("PLAIN wrong password: %q", got)
		}
	})

	t.Run("AUTHENTICATE LOGIN with continuations", func(t *testing.T) {
		c := dialFrom(t, imapAddr, 5, nil)
		c.line()
		c.send("a AUTHENTICATE LOGIN")
		c.challenge()
		c.send(b64("alice@example.com"))
		c.challenge()
		c.send(b64("alice-pw"))
		if got := c.line(); !authReplyIs(got, "a", authOKReply) {
			t.Errorf("LOGIN mechanism: %q", got)
		}
		c = dialFrom(t, imapAddr, 5, nil)
		c.line()
		c.send("b AUTHENTICATE LOGIN")
		c.challenge()
		c.send("*")
		if got := c.line(); got != "b BAD Authentication aborted by client." {
			t.Errorf("cancelled: %q", got)
		}
	})

	t.Run("CRAM-MD5", func(t *testing.T) {
		for i, tc := range []struct{ pass, want string }{{"carol-pw", authOKReply}, {"wrong", authFailReply}} {
			c := dialFrom(t, imapAddr, 6+i, nil)
			c.line()
			c.send("a AUTHENTICATE CRAM-MD5")
			ch := c.challenge()
			mac := hmac.New(md5.New, []byte(tc.pass))
			mac.Write(ch)
			c.send(b64("carol@example.com " + hex.EncodeToString(mac.Sum(nil))))
			if got := c.line(); !authReplyIs(got, "a", tc.want) {
				t.Errorf("CRAM-MD5 with %q: %q, want %q", tc.pass, got, tc.want)
			}
		}
	})

	t.Run("SCRAM-SHA-256 over TLS", func(t *testing.T) {
		for i, tc := range []struct{ pass, want string }{{"dave-pw", authOKReply}, {"wrong", authFailReply}} {
			c := dialFrom(t, imapsAddr, 8+i, tlsCfg)
			c.line()
			cl, err := scram.SHA256.NewClient("dave@example.com", tc.pass, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := scramExchange(t, c, "SCRAM-SHA-256", cl.NewConversation()); !authReplyIs(got, "a", tc.want) {
				t.Errorf("SCRAM-SHA-256 with %q: %q, want %q", tc.pass, got, tc.want)
			}
		}
	})

	t.Run("SCRAM-SHA-256-PLUS", func(t *testing.T) {
		// One connection per binding type: a successful login hands the
		// connection to the imap service.
		for _, tc := range []struct {
			name string
			bind func(*tls.ConnectionState) (scram.ChannelBinding, error)
		}{{"tls-exporter", scram.NewTLSExporterBinding}, {"tls-server-end-point", scram.NewTLSServerEndpointBinding}} {
			c := dialTLS(t, imapsAddr, tlsCfg)
			greet := c.line()
			if !strings.Contains(greet, "AUTH=SCRAM-SHA-256-PLUS") {
				// auth_mechanisms = scram-sha-256 brings its -PLUS variant,
				// offered over TLS.
				t.Fatalf("SCRAM-SHA-256-PLUS not offered over TLS: %q", greet)
			}
			st := c.conn.(*tls.Conn).ConnectionState()
			cb, err := tc.bind(&st)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := scram.SHA256.NewClient("dave@example.com", "dave-pw", "")
			if err != nil {
				t.Fatal(err)
			}
			if got := scramExchange(t, c, "SCRAM-SHA-256-PLUS", cl.NewConversationWithChannelBinding(cb)); !authReplyIs(got, "a", authOKReply) {
				t.Errorf("%s: %q", tc.name, got)
			}
		}
	})

	t.Run("process credentials", func(t *testing.T) {
		for _, tc := range []struct{ service, user string }{{"auth", "cote"}, {"anvil", "cote"}, {"imap-login", "cotenull"}} {
			svc := findService(t, s, tc.service)
			if svc.User != tc.user {
				t.Errorf("service %s runs as %q, want %q", tc.service, svc.User, tc.user)
			}
			want := expectedCreds(t, svc)
			for _, p := range s.WaitChildren(tc.service, 1) {
				if err := testkit.CheckCreds(p.PID, want); err != nil {
					t.Errorf("%s pid %d: %v", tc.service, p.PID, err)
				}
			}
		}
	})

	t.Run("anvil sockets", func(t *testing.T) {
		cote, _, _ := testkit.UserCreds(t, "cote")
		for _, tc := range []struct {
			rel  string
			mode uint32
			uid  int
		}{{"anvil", 0o600, cote}, {"login/anvil", 0o666, 0}} {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(s.BaseDir(), tc.rel), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&0o777 != tc.mode || int(st.Uid) != tc.uid {
				t.Errorf("%s: mode %o owner %d, want %o owned by %d", tc.rel, st.Mode&0o777, st.Uid, tc.mode, tc.uid)
			}
		}
	})

	t.Run("imap-login cannot read the users file", func(t *testing.T) {
		var st syscall.Stat_t
		if err := syscall.Stat(usersFile, &st); err != nil {
			t.Fatal(err)
		}
		cote, _, _ := testkit.UserCreds(t, "cote")
		if st.Mode&0o077 != 0 || int(st.Uid) != cote {
			t.Errorf("users file mode %o owner %d, want 0600 owned by cote (%d)", st.Mode&0o777, st.Uid, cote)
		}
		chroot := filepath.Join(s.BaseDir(), "login")
		for _, p := range s.WaitChildren("imap-login", 1) {
			root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", p.PID))
			if err != nil {
				t.Fatal(err)
			}
			if root != chroot {
				t.Errorf("imap-login pid %d root %q, want the chroot %q", p.PID, root, chroot)
			}
			if rel, err := filepath.Rel(root, usersFile); err == nil && !strings.HasPrefix(rel, "..") {
				t.Errorf("the users file %s lies inside imap-login's root %s", usersFile, root)
			}
		}
	})

	t.Run("coteadm user", func(t *testing.T) {
		out, err := exec.Command(s.Binary("coteadm"), "-c", s.ConfigPath(), "user", "alice@example.com").CombinedOutput()
		if err != nil {
			t.Fatalf("coteadm user: %v\n%s", err, out)
		}
		home := filepath.Join(s.Dir(), "vmail", "example.com", "alice")
		for _, want := range []string{"user\talice@example.com\n", "home\t" + home + "\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("coteadm user output lacks %q:\n%s", want, out)
			}
		}
		out, err = exec.Command(s.Binary("coteadm"), "-c", s.ConfigPath(), "user", "-f", "home", "alice@example.com").CombinedOutput()
		if err != nil || string(out) != home+"\n" {
			t.Errorf("coteadm user -f home: %v %q", err, out)
		}
	})

	t.Run("coteadm who", func(t *testing.T) {
		out, err := exec.Command(s.Binary("coteadm"), "-c", s.ConfigPath(), "who").CombinedOutput()
		if err != nil {
			t.Fatalf("coteadm who: %v\n%s", err, out)
		}
		// The sessions above have ended on the client's side; the imap
		// process may still be counting the last ones out (anvil is told
		// after the session's end), so only alice's imap sessions may be
		// listed. TestIMAPUserIPLimit checks the listing of live sessions.
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if lines[0] != "username # proto (pids) (ips)" {
			t.Errorf("coteadm who: %q", out)
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) < 3 || f[0] != "alice@example.com" || f[2] != "imap" {
				t.Errorf("coteadm who lists %q", l)
			}
		}
	})
}

// scramExchange runs AUTHENTICATE mech with SASL-IR over c and returns the
// tagged reply.
func scramExchange(t *testing.T, c *client, mech string, conv *scram.ClientConversation) string {
	t.Helper()
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	c.send("a AUTHENTICATE " + mech + " " + b64(first))
	for {
		l := c.line()
		if strings.HasPrefix(l, "a ") {
			return l
		}
		if !strings.HasPrefix(l, "+") {
			t.Fatalf("unexpected line %q", l)
		}
		d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "+")))
		if err != nil {
			t.Fatalf("continuation %q: %v", l, err)
		}
		if conv.Done() {
			c.send("")
			continue
		}
		resp, err := conv.Step(string(d))
		if err != nil {
			// A wrong password shows as a server-final that does not
			// verify, or as the server's e=... error: cancel.
			c.send("*")
			continue
		}
		c.send(b64(resp))
	}
}

// TestAuthWorkerRunsAsRoot: a shadow passdb needs root, so the master runs
// the auth-worker, as root and not chrooted, while auth stays cote.
func TestAuthWorkerRunsAsRoot(t *testing.T) {
	s, _ := startAuthSuite(t, "login_trusted_networks = 127.0.0.0/8\npassdb {\n  driver = shadow\n}\n")
	c := dialFrom(t, s.Addr("imap-login", "imap"), 11, nil)
	c.line()
	// An unknown user falls through the passwd-file to the shadow passdb.
	if _, got := c.cmd("a", "LOGIN nosuchuser@example.com x"); got != "a "+authFailReply {
		t.Errorf("unknown user: %q", got)
	}
	for _, p := range s.WaitChildren("auth-worker", 1) {
		if err := testkit.CheckCreds(p.PID, testkit.Creds{UID: 0, GID: 0, Groups: []int{0}, Root: "/"}); err != nil {
			t.Errorf("auth-worker pid %d: %v", p.PID, err)
		}
	}
	want := expectedCreds(t, findService(t, s, "auth"))
	for _, p := range s.WaitChildren("auth", 1) {
		if err := testkit.CheckCreds(p.PID, want); err != nil {
			t.Errorf("auth pid %d: %v", p.PID, err)
		}
	}
}
