package e2e

import (
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestIMAPTranscripts plays testdata/*.tr against the real imap-login.
func TestIMAPTranscripts(t *testing.T) {
	s := start(t, testkit.Options{})
	vars := map[string]string{
		"greeting": regexp.QuoteMeta(s.Settings().Protocol("imap").Get("login_greeting")),
	}
	tests := []struct {
		file     string
		listener string
		tls      bool // implicit TLS
	}{
		{"greeting.tr", "imap", false},
		{"login-unavailable.tr", "imap", false},
		{"starttls.tr", "imap", false},
		{"bad-commands.tr", "imap", false},
		{"garbage.tr", "imap", false},
		{"imaps.tr", "imaps", true},
		{"login-unavailable.tr", "imaps", true},
	}
	files, _ := filepath.Glob("testdata/*.tr")
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
		t.Run(tc.listener+"/"+tc.file, func(t *testing.T) {
			opts := testkit.TranscriptOptions{Vars: vars, TLS: s.Cert.ClientConfig("localhost")}
			var cfg = opts.TLS
			if !tc.tls {
				cfg = nil
			}
			testkit.DialTranscript(t, s.Addr("imap-login", tc.listener), cfg, filepath.Join("testdata", tc.file), opts)
		})
	}
	for _, f := range files {
		// imap-*.tr run after a login, in TestIMAPSessionTranscripts.
		if !covered[filepath.Base(f)] && !strings.HasPrefix(filepath.Base(f), "imap-") {
			t.Errorf("%s is not run by any case", f)
		}
	}
}

// TestIMAPClient drives the suite with an independent client, go-imap v2's
// imapclient, over STARTTLS and implicit TLS.
func TestIMAPClient(t *testing.T) {
	s := start(t, testkit.Options{})
	opts := &imapclient.Options{TLSConfig: s.Cert.ClientConfig("localhost")}
	tests := []struct {
		name string
		dial func() (*imapclient.Client, error)
	}{
		{"starttls", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(s.Addr("imap-login", "imap"), opts)
		}},
		{"imaps", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(s.Addr("imap-login", "imaps"), opts)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatalf("CAPABILITY: %v", err)
			}
			if !caps.Has(imap.CapIMAP4rev1) {
				t.Errorf("capabilities %v lack IMAP4rev1", caps)
			}
			if caps.Has(imap.CapStartTLS) {
				t.Errorf("STARTTLS offered over TLS: %v", caps)
			}
			if err := c.Noop().Wait(); err != nil {
				t.Errorf("NOOP: %v", err)
			}
			err = c.Login("demo", "demo").Wait()
			var ierr *imap.Error
			if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo || ierr.Code != imap.ResponseCodeUnavailable {
				t.Errorf("LOGIN: %v, want NO [UNAVAILABLE]", err)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Errorf("LOGOUT: %v", err)
			}
		})
	}
}

// pythonClient is run by Python's imaplib: greeting, CAPABILITY, NOOP,
// STARTTLS verified against the mkcert certificate, LOGIN (expected to fail
// with UNAVAILABLE: the shipped configuration has no passdb), LOGOUT; then the same over imaps. It prints one
// "key: value" line per check.
const pythonClient = `
import imaplib, ssl, sys
host, port, sport, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
# The suite listens on 127.0.0.1 and the certificate names localhost: check
# the chain here; the Go tests check the name.
ctx.check_hostname = False
def session(m, label):
    typ, _ = m.noop()
    print(label + " noop:", typ)
    try:
        m.login("demo", "demo")
        print(label + " login: OK")
    except imaplib.IMAP4.error as e:
        print(label + " login:", str(e))
    typ, _ = m.logout()
    print(label + " logout:", typ)
m = imaplib.IMAP4(host, port, timeout=15)
print("plain caps:", " ".join(m.capabilities))
m.starttls(ssl_context=ctx)
print("tls caps:", " ".join(m.capabilities))
session(m, "starttls")
m = imaplib.IMAP4_SSL(host, sport, ssl_context=ctx, timeout=15)
session(m, "imaps")
`

func TestPythonImaplib(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	s := start(t, testkit.Options{})
	host, port, _ := net.SplitHostPort(s.Addr("imap-login", "imap"))
	_, sport, _ := net.SplitHostPort(s.Addr("imap-login", "imaps"))
	out, err := exec.Command(python, "-c", pythonClient, host, port, sport, s.Cert.CertFile).CombinedOutput()
	t.Logf("imaplib:\n%s", out)
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		got[k] = v
	}
	if !strings.Contains(got["plain caps"], "STARTTLS") {
		t.Errorf("plaintext capabilities %q lack STARTTLS", got["plain caps"])
	}
	if strings.Contains(got["tls caps"], "STARTTLS") {
		t.Errorf("capabilities after STARTTLS %q still offer it", got["tls caps"])
	}
	for _, mode := range []string{"starttls", "imaps"} {
		if got[mode+" noop"] != "OK" {
			t.Errorf("%s NOOP: %q", mode, got[mode+" noop"])
		}
		if !strings.Contains(got[mode+" login"], "[UNAVAILABLE]") {
			t.Errorf("%s LOGIN: %q, want NO [UNAVAILABLE]", mode, got[mode+" login"])
		}
		if got[mode+" logout"] != "BYE" {
			t.Errorf("%s LOGOUT: %q", mode, got[mode+" logout"])
		}
	}
}
