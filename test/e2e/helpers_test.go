package e2e

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/testkit"
)

// ioTimeout bounds every client read and write of these tests.
const ioTimeout = 15 * time.Second

// start starts a suite as root, or skips (fails under CI) without root.
func start(t *testing.T, opts testkit.Options) *testkit.Suite {
	t.Helper()
	testkit.RequireRoot(t)
	return testkit.Start(t, opts)
}

// expectedCreds derives what a service's processes must run with from the
// resolved configuration: its user (and group, else the user's primary
// group), supplementary groups within the user's groups plus extra_groups,
// its chroot, and no_new_privs.
func expectedCreds(t *testing.T, svc settings.Service) testkit.Creds {
	t.Helper()
	if svc.User == "" {
		t.Fatalf("service %s has no user", svc.Name)
	}
	uid, gid, groups := testkit.UserCreds(t, svc.User)
	if svc.Group != "" {
		g, err := user.LookupGroup(svc.Group)
		if err != nil {
			t.Fatalf("service %s: group %s: %v", svc.Name, svc.Group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	groups = append(groups, gid)
	for _, name := range svc.ExtraGroups {
		g, err := user.LookupGroup(name)
		if err != nil {
			t.Fatalf("service %s: extra group %s: %v", svc.Name, name, err)
		}
		n, _ := strconv.Atoi(g.Gid)
		groups = append(groups, n)
	}
	root := svc.Chroot
	if root == "" {
		root = "/"
	}
	if uid == 0 || slices.Contains(groups, 0) {
		t.Fatalf("service %s is configured to run with root credentials (user %s)", svc.Name, svc.User)
	}
	return testkit.Creds{UID: uid, GID: gid, Groups: groups, Root: root, NoNewPrivs: true}
}

// masterCreds is what the master keeps: the credentials it was started with.
func masterCreds(t *testing.T) testkit.Creds {
	t.Helper()
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Creds{UID: os.Getuid(), GID: os.Getgid(), Groups: groups, Root: "/"}
}

// client is a line-oriented test client with a deadline on every call.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *client {
	t.Helper()
	d := &net.Dialer{Timeout: ioTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// line reads one CRLF line.
func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read from %s: %v (got %q)", c.conn.RemoteAddr(), err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends tag+" "+command and returns the untagged lines and the tagged
// response.
func (c *client) cmd(tag, command string) (untagged []string, tagged string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write([]byte(tag + " " + command + "\r\n")); err != nil {
		c.t.Fatalf("write %q: %v", command, err)
	}
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// greeting dials addr and returns the server's first line.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	c := dial(t, addr)
	defer c.conn.Close()
	return c.line()
}

// findService returns the resolved entry of an enabled service.
func findService(t *testing.T, s *testkit.Suite, name string) settings.Service {
	t.Helper()
	for _, x := range s.Settings().Services() {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("service %s is not enabled", name)
	return settings.Service{}
}

// handshake runs a client TLS handshake on conn within ioTimeout.
func handshake(conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(conn, cfg)
	tc.SetDeadline(time.Now().Add(ioTimeout))
	err := tc.Handshake()
	tc.SetDeadline(time.Time{})
	return tc, err
}
