package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/testkit"
)

// mailRoot makes a directory for the mail homes owned by vmail, and lets
// vmail traverse its ancestors up to the system's temp directory (the
// test's temp directories are 0700 root).
func mailRoot(t testing.TB, s *testkit.Suite) string {
	t.Helper()
	uid, gid, _ := testkit.UserCreds(t, "vmail")
	dir := filepath.Join(s.Dir(), "vmail")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
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
	return dir
}

// startHandoffSuite boots the suite with a passwd-file passdb and a static
// userdb of virtual users owned by vmail, homes in a temp directory.
func startHandoffSuite(t *testing.T) *testkit.Suite {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	s := testkit.New(t, testkit.Options{})
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	h, err := passwd.Hash("SHA512-CRYPT", "alice@example.com", "alice-pw", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(usersFile, []byte("alice@example.com:"+h+"::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(t, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	homes := mailRoot(t, s)
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %s
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%s/%%d/%%n
}
`, usersFile, homes))
	s.Start()
	return s
}

// readUntil reads lines until one starts with prefix and returns them all.
func (c *client) readUntil(prefix string) []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

func TestIMAPHandoff(t *testing.T) {
	s := startHandoffSuite(t)
	imapAddr, imapsAddr := s.Addr("imap-login", "imap"), s.Addr("imap-login", "imaps")
	tlsCfg := s.Cert.ClientConfig("localhost")
	msg := "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: handoff\r\n\r\nhello\r\n"

	isLoggedIn := func(l, tag string) bool {
		return strings.HasPrefix(l, tag+" OK [CAPABILITY ") && strings.HasSuffix(l, "] Logged in")
	}

	tests := []struct {
		name string
		dial func(t *testing.T) *client
	}{
		{"plain", func(t *testing.T) *client {
			c := dial(t, imapAddr)
			c.line()
			return c
		}},
		{"STARTTLS", func(t *testing.T) *client {
			c := dial(t, imapAddr)
			c.line()
			if _, got := c.cmd("s", "STARTTLS"); !strings.HasPrefix(got, "s OK") {
				t.Fatalf("STARTTLS: %q", got)
			}
			tc, err := handshake(c.conn, tlsCfg)
			if err != nil {
				t.Fatal(err)
			}
			return &client{t: t, conn: tc, br: bufio.NewReader(tc)}
		}},
		{"imaps", func(t *testing.T) *client {
			c := dialTLS(t, imapsAddr, tlsCfg)
			c.line()
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.dial(t)
			// LOGIN and the commands after it in one write: those reach
			// the imap process as the handoff's preamble.
			c.send("a LOGIN alice@example.com alice-pw\r\nb SELECT INBOX\r\nc NOOP")
			if l := c.line(); !isLoggedIn(l, "a") {
				t.Fatalf("LOGIN: %q", l)
			}
			if got := c.readUntil("b "); !strings.HasPrefix(got[len(got)-1], "b OK") {
				t.Fatalf("SELECT INBOX: %q", got)
			}
			if got := c.readUntil("c "); !strings.HasPrefix(got[len(got)-1], "c OK") {
				t.Fatalf("NOOP: %q", got)
			}
			c.send(fmt.Sprintf("d APPEND INBOX {%d+}\r\n%s", len(msg), msg))
			if got := c.readUntil("d "); !strings.HasPrefix(got[len(got)-1], "d OK") {
				t.Fatalf("APPEND: %q", got)
			}
			untagged, got := c.cmd("e", "FETCH * (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
			if !strings.HasPrefix(got, "e OK") || !strings.Contains(strings.Join(untagged, "\n"), "Subject: handoff") {
				t.Fatalf("FETCH: %q %q", untagged, got)
			}
			untagged, got = c.cmd("f", "LOGOUT")
			if !strings.HasPrefix(got, "f OK") || len(untagged) == 0 || !strings.HasPrefix(untagged[0], "* BYE") {
				t.Fatalf("LOGOUT: %q %q", untagged, got)
			}
			c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
			if l, err := c.br.ReadString('\n'); err == nil {
				t.Errorf("after LOGOUT: %q, want EOF", l)
			}
		})
	}

	t.Run("process credentials", func(t *testing.T) {
		for _, tc := range []struct{ service, user string }{{"imap", "vmail"}, {"imap-login", "cotenull"}} {
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

	t.Run("forged record", func(t *testing.T) {
		// A process that reaches login/imap (here root, as the test) with
		// a made-up cookie gets no session: the imap process redeems the
		// cookie on auth-master and auth knows no such login.
		authPID := s.WaitChildren("auth", 1)[0].PID
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		mine := os.NewFile(uintptr(fds[0]), "client")
		defer mine.Close()
		conn, err := net.DialTimeout("unix", filepath.Join(s.BaseDir(), "login", "imap"), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(ioTimeout))
		mark := s.LogMark()
		rec := &ipc.Handoff{SessionID: "forged", AuthPID: authPID, ClientPID: os.Getpid(), AuthID: 1,
			Cookie: strings.Repeat("ab", 16), Remote: netip.MustParseAddrPort("192.0.2.1:1234"),
			Local: netip.MustParseAddrPort("192.0.2.2:143"), Tag: "x"}
		err = ipc.SendHandoff(conn.(*net.UnixConn), rec, fds[1])
		unix.Close(fds[1])
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.FileConn(mine)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		fc := &client{t: t, conn: nc, br: bufio.NewReader(nc)}
		if l := fc.line(); !strings.HasPrefix(l, "x NO [UNAVAILABLE] ") {
			t.Errorf("forged record answered %q", l)
		}
		s.WaitLogAfter(mark, `login refused: auth request failed`)
	})
}
