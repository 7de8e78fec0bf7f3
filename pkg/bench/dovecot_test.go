package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
	"github.com/cote-mail/cote/pkg/bench/peer"
	"github.com/cote-mail/cote/pkg/testkit"
)

// startDovecot starts a private Dovecot with users user1..user<n>, password
// "secret", or skips (fails under CI) when Dovecot is not installed.
func startDovecot(t *testing.T, n int) *peer.Dovecot {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.RequireTool(t, "dovecot", "dovecot-imapd")
	dir := t.TempDir()
	// The homes below dir belong to nobody, who must be able to reach
	// them through the test's temporary directories.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	users := make([]string, n)
	for i := range users {
		users[i] = "user" + string(rune('1'+i))
	}
	d, err := peer.StartDovecot(peer.DovecotOptions{Dir: dir, Users: users, Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("%v\n%s", err, d.Log())
		}
	})
	return d
}

func dovecotCreds(n int) []Credential {
	c := make([]Credential, n)
	for i := range c {
		c[i] = Credential{User: "user" + string(rune('1'+i)), Password: "secret"}
	}
	return c
}

// TestIMAPAgainstDovecot runs the mixed workload against Dovecot, the
// reference server: a correct server must produce no error of any kind,
// and every operation of the mix must have run.
func TestIMAPAgainstDovecot(t *testing.T) {
	d := startDovecot(t, 4)
	tests := []struct {
		name     string
		noLogout bool
	}{
		{"login-heavy", false},
		{"no-logout", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mix := DefaultMix()
			if tc.noLogout {
				mix[OpLogout] = Weight{}
			}
			w, err := NewIMAP(IMAPConfig{
				Addr:     d.IMAPAddr,
				Dial:     imapc.Options{Timeout: 10 * time.Second},
				Users:    dovecotCreds(4),
				NoLogout: tc.noLogout,
				Mix:      mix,
				Msgs:     20,
				Seed:     7,
			})
			if err != nil {
				t.Fatal(err)
			}
			// Ended by the operation count, not by time: a loaded
			// machine makes the run slower, never shorter, so every
			// operation of the mix still gets its chances.
			res, err := Run(context.Background(), w, Options{Clients: 4, Ops: 600, Duration: 60 * time.Second, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			if res.ErrorCount != 0 {
				t.Errorf("errors against Dovecot: %v, e.g. %v\n%s", res.Errors, res.ErrorSamples, d.Log())
			}
			for _, op := range res.PerOp {
				if op.Count == 0 {
					t.Errorf("operation %s never ran", op.Name)
				}
			}
			t.Logf("%s: %.0f ops/s, %.0f logins/s, notes %v", tc.name, res.OpsPerSec, res.LoginsPerSec, res.Notes)
		})
	}
}

// TestPOP3AndSMTPAgainstPeers runs the POP3 workload (plain and pop3s)
// against Dovecot and the SMTP workloads against a private Postfix
// delivering by LMTP into that Dovecot: reference servers must produce no
// error of any kind.
func TestPOP3AndSMTPAgainstPeers(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.RequireTool(t, "dovecot", "dovecot-imapd")
	testkit.RequireTool(t, "postfix", "postfix")
	u := testkit.RequireUser(t, "nobody")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home", "pop")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := WriteMaildir(filepath.Join(home, "Maildir"), 1, 30, uid, gid); err != nil {
		t.Fatal(err)
	}
	cert := testkit.MakeCert(t)
	d, err := peer.StartDovecot(peer.DovecotOptions{
		Dir: dir, Users: []string{"pop", "rcpt1", "rcpt2"}, Password: "secret",
		LMTP: true, POP3: true, TLSCert: cert.CertFile, TLSKey: cert.KeyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("%v\n%s", err, d.Log())
		}
	})
	p, err := peer.StartPostfix(peer.PostfixOptions{
		Dir: t.TempDir(), Domain: "example.org",
		Recipients: []string{"rcpt1@example.org", "rcpt2@example.org"}, LMTPAddr: d.LMTPAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	pop := []Credential{{User: "pop", Password: "secret"}}
	tests := []struct {
		name string
		w    func() (Workload, error)
		ops  int64
		op   string // an operation that must have been counted
	}{
		{"pop3", func() (Workload, error) {
			return NewPOP3(POP3Config{Addr: d.POP3Addr, Users: pop, Timeout: 10 * time.Second})
		}, 150, OpDownload},
		{"pop3s", func() (Workload, error) {
			return NewPOP3(POP3Config{Addr: d.POP3SAddr, TLS: cert.ClientConfig("localhost"), Users: pop, Timeout: 10 * time.Second})
		}, 150, OpDownload},
		{"smtp", func() (Workload, error) {
			return NewSMTP(LMTPConfig{Addr: p.SMTPAddr, Recipients: []string{"rcpt1@example.org", "rcpt2@example.org"}, Timeout: 10 * time.Second})
		}, 40, OpDeliver},
		{"smtp to visible", func() (Workload, error) {
			return NewVisible(VisibleConfig{
				SMTPAddr: p.SMTPAddr, IMAPAddr: d.IMAPAddr, Dial: imapc.Options{Timeout: 10 * time.Second},
				Users: []Credential{{User: "rcpt1", Password: "secret"}}, Rcpts: []string{"rcpt1@example.org"}, Wait: 20 * time.Second,
			})
		}, 6, OpVisible},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tc.w()
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), w, Options{Clients: 1, Ops: tc.ops, Duration: 60 * time.Second, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.ErrorCount != 0 {
				t.Fatalf("errors: %v, e.g. %v\n%s\n%s", res.Errors, res.ErrorSamples, d.Log(), p.Log())
			}
			for _, o := range res.PerOp {
				if o.Name == tc.op && o.Count > 0 {
					t.Logf("%s: %.0f ops/s, %.2f MB/s", tc.name, res.OpsPerSec, res.MBPerSec)
					return
				}
			}
			t.Errorf("no %s counted: %+v", tc.op, res.PerOp)
		})
	}
}
