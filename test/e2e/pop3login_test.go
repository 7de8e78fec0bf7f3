package e2e

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/login"
	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/testkit"
)

// startPOP3Suite boots the suite with a passwd-file passdb: alice's
// password hashed (USER/PASS, AUTH PLAIN), erin's stored as {PLAIN}, which
// APOP needs (it digests the password itself).
func startPOP3Suite(t *testing.T) *testkit.Suite {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	s := testkit.New(t, testkit.Options{})
	homes := mailRoot(t, s)
	usersFile := filepath.Join(s.Dir(), "etc", "users")
	h, err := passwd.Hash("SHA512-CRYPT", "alice@example.com", "alice-pw", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	users := "alice@example.com:" + h + "::::::\nerin@example.com:{PLAIN}erin-pw::::::\n"
	if err := os.WriteFile(usersFile, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid, _ := testkit.UserCreds(t, "cote")
	if err := os.Chown(usersFile, uid, gid); err != nil {
		t.Fatal(err)
	}
	s.Rewrite(fmt.Sprintf(`auth_mechanisms = plain login apop
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
`, authFailDelay, usersFile, homes))
	s.Start()
	return s
}

// fakePOP3 stands in for the pop3 service on login/pop3 while this build
// has none: it takes the handoff record and the client, says "+OK Logged
// in." as the pop3 process does, answers STAT with an empty maildrop and
// QUIT, after running the record's Preamble first.
type fakePOP3 struct {
	ln      *net.UnixListener
	wg      sync.WaitGroup
	mu      sync.Mutex // guards records
	records []*ipc.Handoff
}

func startFakePOP3(t *testing.T, s *testkit.Suite) *fakePOP3 {
	t.Helper()
	path := filepath.Join(s.BaseDir(), login.HandoffSocket("pop3"))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	// pop3-login runs as the login user: the socket is for it (the
	// directory around it is what keeps others out).
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	fp := &fakePOP3{ln: ln}
	fp.wg.Add(1)
	go func() {
		defer fp.wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			fp.wg.Add(1)
			go func() {
				defer fp.wg.Done()
				fp.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		fp.wg.Wait()
	})
	return fp
}

func (fp *fakePOP3) serve(hc *net.UnixConn) {
	defer hc.Close()
	hc.SetDeadline(time.Now().Add(ioTimeout))
	h, f, err := ipc.ReceiveHandoff(hc)
	if err != nil {
		return
	}
	fp.mu.Lock()
	fp.records = append(fp.records, h)
	fp.mu.Unlock()
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(ioTimeout))
	io.WriteString(nc, "+OK Logged in.\r\n")
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(h.Preamble), nc))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.TrimRight(line, "\r\n")) {
		case "STAT":
			io.WriteString(nc, "+OK 0 0\r\n")
		case "QUIT":
			io.WriteString(nc, "+OK Logging out.\r\n")
			return
		default:
			io.WriteString(nc, "-ERR Unknown command.\r\n")
		}
	}
}

// TestPOP3Login runs Python's poplib, an independent client, through
// pop3-login in the real suite: USER/PASS, APOP, STLS and pop3s, and a
// wrong password. Without a pop3 service in this build the post-login
// side is a stand-in on login/pop3 that checks the handoff record.
func TestPOP3Login(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	s := startPOP3Suite(t)
	var fp *fakePOP3
	if !settings.BuiltServices["pop3"] {
		fp = startFakePOP3(t, s)
	}
	host, port, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3"))
	_, sport, _ := net.SplitHostPort(s.Addr("pop3-login", "pop3s"))
	out, err := exec.Command(python, "-c", `
import poplib, ssl, sys
host, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl._create_unverified_context()
def run(name, connect, login):
    try:
        p = connect()
        print(name, "welcome", p.getwelcome().decode().split(" <")[0])
        print(name, login(p).decode())
        print(name, "stat", p.stat())
        print(name, p.quit().decode())
    except poplib.error_proto as e:
        print(name, "error", e.args[0].decode())
def userpass(user, pw):
    def f(p):
        p.user(user)
        return p.pass_(pw)
    return f
run("user", lambda: poplib.POP3(host, port, timeout=15), userpass("alice@example.com", "alice-pw"))
run("apop", lambda: poplib.POP3(host, port, timeout=15), lambda p: p.apop("erin@example.com", "erin-pw"))
def stls():
    p = poplib.POP3(host, port, timeout=15)
    p.stls(ctx)
    return p
run("stls", stls, userpass("alice@example.com", "alice-pw"))
run("pop3s", lambda: poplib.POP3_SSL(host, sport, context=ctx, timeout=15), userpass("alice@example.com", "alice-pw"))
run("wrong", lambda: poplib.POP3(host, port, timeout=15), userpass("alice@example.com", "nope"))
`, host, port, sport).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var want strings.Builder
	for _, name := range []string{"user", "apop", "stls", "pop3s"} {
		fmt.Fprintf(&want, "%s welcome +OK cote ready.\n%s +OK Logged in.\n%s stat (0, 0)\n%s +OK Logging out.\n", name, name, name, name)
	}
	want.WriteString("wrong welcome +OK cote ready.\nwrong error -ERR [AUTH] Authentication failed.\n")
	// The real pop3 service words its farewell itself.
	got := regexp.MustCompile(`(?m)^(\w+) \+OK Logging out.*$`).ReplaceAllString(string(out), "$1 +OK Logging out.")
	if got != want.String() {
		t.Errorf("poplib:\n got %s\nwant %s", got, want.String())
	}
	if fp != nil {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		if len(fp.records) != 4 {
			t.Fatalf("%d handoffs, want 4", len(fp.records))
		}
		for i, h := range fp.records {
			if h.Tag != "" || h.AuthID == 0 || h.Cookie == "" || h.TLS != (i >= 2) {
				t.Errorf("handoff %d: %+v", i, h)
			}
		}
	}
}

// TestPOP3APOPReplay: the greeting's timestamp is a msg-id unique to the
// connection (RFC 1939 §7), and a digest over one connection's timestamp
// is refused on another.
func TestPOP3APOPReplay(t *testing.T) {
	s := startPOP3Suite(t)
	addr := s.Addr("pop3-login", "pop3")
	re := regexp.MustCompile(`^\+OK cote ready\. (<[^>]+@[^>]+>)$`)
	first := dial(t, addr)
	g1 := re.FindStringSubmatch(first.line())
	second := dial(t, addr)
	g2 := re.FindStringSubmatch(second.line())
	if g1 == nil || g2 == nil || g1[1] == g2[1] {
		t.Fatalf("greetings %q %q: want two different timestamps", g1, g2)
	}
	sum := md5.Sum([]byte(g1[1] + "erin-pw"))
	second.send("APOP erin@example.com " + hex.EncodeToString(sum[:]))
	if got := second.line(); got != "-ERR [AUTH] Authentication failed." {
		t.Errorf("replayed APOP: %q", got)
	}
}
