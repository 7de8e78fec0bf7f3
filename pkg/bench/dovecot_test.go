package bench

import (
	"context"
	"os"
	"path/filepath"
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
