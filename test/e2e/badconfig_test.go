package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestRefusedStart runs `cote -F` on configurations that must not start:
// the master exits non-zero with errors naming what is wrong and where, and
// leaves nothing behind (no pid file, no listener).
func TestRefusedStart(t *testing.T) {
	testkit.RequireRoot(t)
	tests := []struct {
		name string
		// setup returns the test's extra settings (and may write files of
		// the tree) and the regexps the output must match.
		setup func(t *testing.T, s *testkit.Suite) (want []string)
	}{
		{
			name: "unknown setting",
			setup: func(t *testing.T, s *testkit.Suite) []string {
				s.Rewrite("# a comment\nno_such_setting = yes\n")
				return []string{regexp.QuoteMeta(s.Dir()+"/etc/local.conf") + `:\d+: no_such_setting: `}
			},
		},
		{
			name: "bad value in an included file",
			setup: func(t *testing.T, s *testkit.Suite) []string {
				s.WriteFile("conf.d/99-broken.conf", "\n\nshutdown_clients = perhaps\n")
				return []string{regexp.QuoteMeta(s.Dir()+"/etc/conf.d/99-broken.conf") + `:3: shutdown_clients: `}
			},
		},
		{
			name: "every error is reported",
			setup: func(t *testing.T, s *testkit.Suite) []string {
				s.WriteFile("conf.d/99-broken.conf", "no_such_one = 1\nno_such_two = 2\n")
				f := regexp.QuoteMeta(s.Dir() + "/etc/conf.d/99-broken.conf")
				return []string{f + `:1: no_such_one: `, f + `:2: no_such_two: `}
			},
		},
		{
			name: "port in use",
			setup: func(t *testing.T, s *testkit.Suite) []string {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				port := l.Addr().(*net.TCPAddr).Port
				s.Rewrite(imapPort(port))
				return []string{regexp.QuoteMeta(fmt.Sprintf("service imap-login: inet_listener imap: 127.0.0.1:%d: address already in use", port))}
			},
		},
		{
			name: "missing certificate",
			setup: func(t *testing.T, s *testkit.Suite) []string {
				missing := filepath.Join(s.Dir(), "no-such-cert.pem")
				s.Rewrite("ssl_cert = <" + missing + "\n")
				return []string{`ssl_cert.*` + regexp.QuoteMeta(missing)}
			},
		},
		{
			name: "certificate file holds no certificate",
			setup: func(t *testing.T, s *testkit.Suite) []string {
				s.WriteFile("garbage.pem", "not a certificate\n")
				s.Rewrite("ssl_cert = <" + filepath.Join(s.Dir(), "etc", "garbage.pem") + "\n")
				return []string{regexp.QuoteMeta(s.Dir()+"/etc/local.conf") + `:\d+: ssl_cert: no PEM certificate found`}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testkit.New(t, testkit.Options{})
			want := tc.setup(t, s)
			out, code := s.Run("-F")
			t.Logf("cote -F exited %d:\n%s", code, out)
			if code == 0 {
				t.Errorf("cote -F exited 0")
			}
			for _, w := range want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output lacks %s", w)
				}
			}
			if _, err := os.Stat(filepath.Join(s.BaseDir(), "master.pid")); err == nil {
				t.Errorf("a pid file was left behind")
			}
			// The shipped ports were replaced by free ones; the imap one must
			// not answer (nothing was started).
			if tc.name != "port in use" {
				if c, err := net.Dial("tcp", s.Addr("imap-login", "imap")); err == nil {
					c.Close()
					t.Errorf("something listens on %s", s.Addr("imap-login", "imap"))
				}
			}
			if strings.Contains(out, "panic:") {
				t.Errorf("the master panicked")
			}
		})
	}
}
