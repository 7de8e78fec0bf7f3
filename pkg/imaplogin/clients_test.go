package imaplogin

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestGoIMAPClient drives the server with an independent client library.
func TestGoIMAPClient(t *testing.T) {
	ts := start(t, "", Options{})
	tests := []struct {
		name string
		dial func() (*imapclient.Client, error)
	}{
		{"starttls", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(ts.imap, &imapclient.Options{TLSConfig: insecureTLS})
		}},
		{"imaps", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(ts.imaps, &imapclient.Options{TLSConfig: insecureTLS})
		}},
		{"plaintext", func() (*imapclient.Client, error) {
			return imapclient.DialInsecure(ts.imap, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if err := c.WaitGreeting(); err != nil {
				t.Fatalf("greeting: %v", err)
			}
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatalf("CAPABILITY: %v", err)
			}
			if !caps.Has(imap.CapIMAP4rev1) || !caps.Has(imap.CapSASLIR) || !caps.Has(imap.CapID) {
				t.Errorf("capabilities %v", caps)
			}
			if got := caps.Has(imap.CapStartTLS); got != (tc.name == "plaintext") {
				t.Errorf("STARTTLS advertised = %v on %s", got, tc.name)
			}
			if err := c.Noop().Wait(); err != nil {
				t.Errorf("NOOP: %v", err)
			}
			err = c.Login("demo", "demo").Wait()
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeAuthenticationFailed {
				t.Errorf("LOGIN with a wrong password: %v, want NO [AUTHENTICATIONFAILED]", err)
			}
			// The right password, with no imap service to hand the
			// client to: NO [UNAVAILABLE] (handoff_test.go has one).
			err = c.Login("demo", "secret").Wait()
			if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeUnavailable {
				t.Errorf("LOGIN: %v, want NO [UNAVAILABLE]", err)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Errorf("LOGOUT: %v", err)
			}
		})
	}
}

// pythonClient is run by python3: greeting, capabilities, STARTTLS
// (or implicit TLS), LOGIN.
const pythonClient = `
import imaplib, ssl, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "imaps":
    m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
else:
    m = imaplib.IMAP4(host, port)
print("greeting", m.welcome.decode())
print("caps", " ".join(m.capabilities))
if mode == "starttls":
    m.starttls(ssl_context=ctx)
    print("caps-after-tls", " ".join(m.capabilities))
try:
    m.login("demo", "secret")
    print("login ok")
except imaplib.IMAP4.error as e:
    msg = e.args[0]
    print("login error", msg.decode() if isinstance(msg, bytes) else msg)
print("logout", m.logout()[0])
`

func TestPythonImaplib(t *testing.T) {
	testkit.RequireTool(t, "python3", "python3")
	ts := start(t, "", Options{})
	tests := []struct {
		mode, addr string
		want       []string
	}{
		{"starttls", ts.imap, []string{
			"greeting * OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN] cote ready.",
			"caps IMAP4REV1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN",
			"caps-after-tls IMAP4REV1 SASL-IR ID LITERAL+ AUTH=PLAIN",
			"login error [UNAVAILABLE] Internal error occurred. Refer to server log for more information.",
			"logout BYE",
		}},
		{"imaps", ts.imaps, []string{
			"greeting * OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN] cote ready.",
			"caps IMAP4REV1 SASL-IR ID LITERAL+ AUTH=PLAIN",
			"login error [UNAVAILABLE] Internal error occurred. Refer to server log for more information.",
			"logout BYE",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			host, port, _ := strings.Cut(tc.addr, ":")
			cmd := exec.Command("python3", "-c", pythonClient, tc.mode, host, port)
			cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python3: %v\n%s", err, out)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("python imaplib\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}
