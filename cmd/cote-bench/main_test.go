package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/bench/peer"
	"github.com/cote-mail/cote/pkg/testkit"
)

func TestLoadUsers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	if err := os.WriteFile(file, []byte("# bench users\nann:pw1\n\nbob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("# none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    string
		n       int
		want    []bench.Credential
		wantErr bool
	}{
		{"template", "u%d@x", 3, []bench.Credential{{User: "u1@x", Password: "pw"}, {User: "u2@x", Password: "pw"}, {User: "u3@x", Password: "pw"}}, false},
		{"template needs a count", "u%d", 0, nil, true},
		{"file", file, 0, []bench.Credential{{User: "ann", Password: "pw1"}, {User: "bob", Password: "pw"}}, false},
		{"empty file", empty, 0, nil, true},
		{"one user", "alice", 5, []bench.Credential{{User: "alice", Password: "pw"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadUsers(tc.spec, tc.n, "pw")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCLIAgainstDovecot runs the command as a user would, with --json,
// against a private Dovecot: a clean run exits 0 and prints one result
// object; a wrong password makes it count NO errors and fail.
func TestCLIAgainstDovecot(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.RequireTool(t, "dovecot", "dovecot-imapd")
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := peer.StartDovecot(peer.DovecotOptions{Dir: dir, Users: []string{"user1", "user2"}, Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	})
	_, port, _ := strings.Cut(d.IMAPAddr, ":")
	tests := []struct {
		name     string
		password string
		// duration bounds the run: the clean case ends by its 300
		// operations (a loaded machine only makes it slower), the
		// failing one, which completes none, by time.
		duration string
		wantErr  error
		check    func(t *testing.T, res *bench.Result)
	}{
		{"clean", "secret", "60s", nil, func(t *testing.T, res *bench.Result) {
			if res.Ops < 300 || res.ErrorCount != 0 || res.LoginsPerSec <= 0 {
				t.Errorf("ops %d errors %v logins/s %v", res.Ops, res.Errors, res.LoginsPerSec)
			}
		}},
		// Dovecot delays failed logins (auth_failure_delay), so this
		// case ends by --duration.
		{"wrong password", "wrong", "3s", errSawErrors, func(t *testing.T, res *bench.Result) {
			if res.Errors[bench.ErrNO] == 0 {
				t.Errorf("no NO counted: %v", res.Errors)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newIMAPCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs([]string{"--port", port, "--users", "user%d", "--user-count", "2",
				"--password", tc.password, "--clients", "2", "--ops", "300", "--duration", tc.duration,
				"--json", "--progress", "never"})
			if err := cmd.Execute(); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Execute: %v, want %v", err, tc.wantErr)
			}
			var res bench.Result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
			}
			tc.check(t, &res)
		})
	}
}
