package e2e

import (
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// postfixMasterCf is the master.cf of the private Postfix: one smtpd on
// the test's port plus the internal services Postfix needs to start
// (REFERENCE-PEERS.md); nothing chrooted, so smtpd reaches cote's socket
// by its absolute path.
const postfixMasterCf = `%s inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
lmtp unix - - n - - lmtp
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`

// startPostfix runs a private Postfix whose smtpd offers STARTTLS with
// cert and, after it, authenticates through the Dovecot-protocol socket
// sock (Postfix then sends "secured", so cote's auth accepts PLAIN with
// disable_plaintext_auth = yes); it returns the smtpd address.
func startPostfix(t *testing.T, sock string, cert *testkit.Cert) string {
	t.Helper()
	postfix := testkit.RequireTool(t, "postfix", "postfix")
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("the postfix package is installed but its user is missing: %v", err)
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	pfGID, _ := strconv.Atoi(pf.Gid)
	dir, err := os.MkdirTemp("", "cote-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf, queue, data := filepath.Join(dir, "conf"), filepath.Join(dir, "queue"), filepath.Join(dir, "data")
	for _, d := range []string{conf, queue, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, pfUID, pfGID); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	mainCf := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
maillog_file = %s
maillog_file_prefixes = %s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.test
mydestination =
alias_maps =
alias_database =
smtpd_tls_security_level = may
smtpd_tls_cert_file = %s
smtpd_tls_key_file = %s
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = %s
smtpd_sasl_auth_enable = yes
smtpd_sasl_security_options = noanonymous
`, queue, data, filepath.Join(dir, "maillog"), dir, cert.CertFile, cert.KeyFile, sock)
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(fmt.Sprintf(postfixMasterCf, addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(postfix, "-c", conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(postfix, "-c", conf, "stop").CombinedOutput(); err != nil {
			t.Errorf("postfix stop: %v\n%s", err, out)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Logf("postfix maillog:\n%s", log)
		}
	})
	// postfix start runs `master -w`, which returns only after the master
	// daemon initialized, listeners bound: the port answers now.
	return addr
}

// TestPostfixSASL: Postfix's smtpd with smtpd_sasl_type = dovecot
// authenticates its SMTP clients through cote's auth-client socket.
func TestPostfixSASL(t *testing.T) {
	testkit.RequireTool(t, "postfix", "postfix")
	// Postfix's smtpd runs as the postfix user: the socket's owner, with
	// mode 0600, lets it (and only it) in.
	s, _ := startAuthSuite(t, "service auth {\n  unix_listener auth-client {\n    user = postfix\n  }\n}\n")
	addr := startPostfix(t, filepath.Join(s.BaseDir(), "auth-client"), s.Cert)
	for _, tc := range []struct {
		name, pass string
		code       int
	}{
		{"right password", "alice-pw", 235},
		{"wrong password", "wrong", 535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := smtp.Dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			if err := c.StartTLS(s.Cert.ClientConfig("localhost")); err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
				t.Fatalf("smtpd offers AUTH %v %q, want PLAIN", ok, mechs)
			}
			err = c.Auth(smtp.PlainAuth("", "alice@example.com", tc.pass, "127.0.0.1"))
			code := 235
			var te *textproto.Error
			if errors.As(err, &te) {
				code = te.Code
			} else if err != nil {
				t.Fatalf("AUTH: %v", err)
			}
			if code != tc.code {
				t.Errorf("AUTH PLAIN: %d (%v), want %d", code, err, tc.code)
			}
		})
	}
}
