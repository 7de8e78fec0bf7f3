package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/testkit"
)

// binary is cmd/deliver built once for the tests (only this command, so
// the tests do not depend on the rest of ./cmd building).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cote-deliver-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "deliver")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	// The helper runs as the mail user and must reach the binary.
	os.Chmod(dir, 0o755)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeUserdb answers USER on path: users maps a name to its fields.
func fakeUserdb(t *testing.T, path string, users map[string]authproto.Fields) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// Reachable by the tests that run the LDA as the mail user.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ac := authproto.NewConn(c)
				if ac.Write(authproto.MasterHandshake(4242)) != nil {
					return
				}
				for {
					args, err := ac.ReadLine()
					if err != nil {
						return
					}
					cmd, err := authproto.ParseMasterCommand(args)
					if err != nil || cmd.Kind != authproto.CmdUser {
						continue
					}
					if f, ok := users[cmd.User]; ok {
						ac.Write(authproto.UserLine(cmd.ID, cmd.User, f))
					} else {
						ac.Write(authproto.NotFoundLine(cmd.ID))
					}
				}
			}()
		}
	}()
}

func field(k, v string) authproto.Field { return authproto.Field{Key: k, Value: v, HasValue: true} }

func messages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

// TestExitCodes runs the real binary as root for every outcome; deliveries
// go through the helper re-exec as the vmail user.
func TestExitCodes(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	uid, gid, _ := testkit.UserCreds(t, "vmail")
	dir := t.TempDir()
	// The helper, running as vmail, must traverse to the homes.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o711)
	}
	base := filepath.Join(dir, "run")
	homes := filepath.Join(dir, "homes")
	for _, d := range []string{base, homes} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(homes, uid, gid)
	vm := []authproto.Field{field("uid", strconv.Itoa(uid)), field("gid", strconv.Itoa(gid))}
	user := func(name string, extra ...authproto.Field) authproto.Fields {
		return append(append(authproto.Fields{field("home", filepath.Join(homes, name))}, vm...), extra...)
	}
	fakeUserdb(t, filepath.Join(base, "auth-userdb"), map[string]authproto.Fields{
		"alice":  user("alice"),
		"full":   user("full", field("quota_rule", "*:bytes=10")),
		"rooty":  {field("home", filepath.Join(homes, "rooty")), field("uid", "0"), field("gid", "0")},
		"nouid":  {field("home", filepath.Join(homes, "nouid"))},
		"stored": user("stored"),
		"other":  {field("home", filepath.Join(homes, "other")), field("uid", "54321"), field("gid", "54321")},
	})
	conf := filepath.Join(dir, "cote.conf")
	logFile := filepath.Join(dir, "deliver.log")
	if err := os.WriteFile(conf, []byte("base_dir = "+base+"\nmail_location = maildir:~/Maildir\nlog_path = "+logFile+
		"\nmail_uid = vmail\nmail_plugins = quota\nplugin {\n  quota = maildir:User quota\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noUserdb := filepath.Join(dir, "noauth.conf")
	os.WriteFile(noUserdb, []byte("base_dir = "+filepath.Join(dir, "nowhere")+"\nlog_path = "+logFile+"\n"), 0o644)
	const msg = "From: a@b\nSubject: lda\n\nbody\n"
	tests := []struct {
		name       string
		args       []string
		stdin      string
		want       int
		wantStderr string
		check      func(t *testing.T)
		asVmail    bool // run as the vmail user instead of root
	}{
		{"delivered", []string{"-d", "alice", "-f", "s@r.test", "-a", "alice@example.org"}, msg, 0, "", func(t *testing.T) {
			m := messages(t, filepath.Join(homes, "alice", "Maildir"))
			if len(m) != 1 || m[0] != "Return-Path: <s@r.test>\r\nDelivered-To: alice@example.org\r\nFrom: a@b\r\nSubject: lda\r\n\r\nbody\r\n" {
				t.Fatalf("stored %q", m)
			}
			ents, _ := os.ReadDir(filepath.Join(homes, "alice", "Maildir", "new"))
			st, err := os.Stat(filepath.Join(homes, "alice", "Maildir", "new", ents[0].Name()))
			if err != nil {
				t.Fatal(err)
			}
			if s := st.Sys().(*syscall.Stat_t); int(s.Uid) != uid || st.Mode().Perm()&0o007 != 0 {
				t.Fatalf("message owned by %d mode %v, want uid %d and not world-readable", s.Uid, st.Mode(), uid)
			}
		}, false},
		{"mbox From_ line gives the sender", []string{"-d", "stored"}, "From env@sender.test Mon Jan  1 00:00:00 2026\n" + msg, 0, "", func(t *testing.T) {
			m := messages(t, filepath.Join(homes, "stored", "Maildir"))
			if len(m) != 1 || !strings.HasPrefix(m[0], "Return-Path: <env@sender.test>\r\nDelivered-To: stored\r\nFrom: a@b\r\n") {
				t.Fatalf("stored %q", m)
			}
		}, false},
		{"mailbox autocreated", []string{"-d", "alice", "-m", "Work", "-o", "lda_mailbox_autocreate=yes"}, msg, 0, "", func(t *testing.T) {
			if m := messages(t, filepath.Join(homes, "alice", "Maildir", ".Work")); len(m) != 1 {
				t.Fatalf("Work holds %d", len(m))
			}
		}, false},
		{"missing mailbox goes to INBOX", []string{"-d", "alice", "-m", "Nope"}, msg, 0, "", func(t *testing.T) {
			if m := messages(t, filepath.Join(homes, "alice", "Maildir")); len(m) != 2 {
				t.Fatalf("INBOX holds %d", len(m))
			}
		}, false},
		{"userdb without ids uses mail_uid", []string{"-d", "nouid"}, msg, 0, "", func(t *testing.T) {
			st, err := os.Stat(filepath.Join(homes, "nouid", "Maildir"))
			if err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != uid {
				t.Fatalf("Maildir: %v %v", st, err)
			}
		}, false},
		{"as the mail user", []string{"-d", "alice", "-o", "log_path=" + filepath.Join(homes, "vmail.log")}, msg, 0, "", func(t *testing.T) {
			if m := messages(t, filepath.Join(homes, "alice", "Maildir")); len(m) != 3 {
				t.Fatalf("INBOX holds %d", len(m))
			}
		}, true},
		{"as another user cannot switch", []string{"-d", "other", "-e", "-o", "log_path=" + filepath.Join(homes, "vmail.log")}, msg, 75, "cannot switch", nil, true},
		{"unknown user", []string{"-d", "nobody", "-e"}, msg, 67, "unknown user: nobody", nil, false},
		{"over quota", []string{"-d", "full", "-e"}, msg, 77, "rejected: Quota exceeded", nil, false},
		{"over quota tempfail", []string{"-d", "full", "-e", "-o", "quota_full_tempfail=yes"}, msg, 75, "Quota exceeded", nil, false},
		{"over quota without -e is quiet", []string{"-d", "full"}, msg, 77, "", nil, false},
		{"root user refused", []string{"-d", "rooty", "-e"}, msg, 75, "delivering as root is refused", nil, false},
		{"userdb down", []string{"-d", "alice", "-e", "-c", noUserdb}, msg, 75, "userdb", nil, false},
		{"bad flag", []string{"-x"}, msg, 64, "flag provided but not defined", nil, false},
		{"extra argument", []string{"-d", "alice", "extra"}, msg, 64, "unexpected argument", nil, false},
		{"bad -o", []string{"-d", "alice", "-o", "novalue"}, msg, 64, "want key=value", nil, false},
		{"missing config", []string{"-d", "alice", "-c", filepath.Join(dir, "none.conf")}, msg, 78, "configuration", nil, false},
		{"unknown setting", []string{"-d", "alice", "-o", "no_such_setting=1"}, msg, 78, "no_such_setting", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "-c ") {
				args = append([]string{"-c", conf}, args...)
			}
			cmd := exec.Command(binary, args...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			if tc.asVmail {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				log, _ := os.ReadFile(logFile)
				t.Fatalf("exit %d, want %d; stderr %q\nlog:\n%s", code, tc.want, stderr.String(), log)
			}
			if tc.wantStderr != "" && !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), tc.wantStderr)
			}
			if tc.wantStderr == "" && stderr.Len() != 0 {
				t.Fatalf("unexpected stderr %q", stderr.String())
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
