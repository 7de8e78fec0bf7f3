package lmtp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/testkit"
)

// buildDeliver builds cmd/deliver (the helper lmtp runs as root) into a
// directory the mail user can reach.
func buildDeliver(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o711)
	}
	bin := filepath.Join(dir, "deliver")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/cote-mail/cote/cmd/deliver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/deliver: %v\n%s", err, out)
	}
	return bin
}

// TestSystemUsers: lmtp running as root (service lmtp { user = root })
// delivers each recipient through the deliver helper with the userdb's
// uid (or mail_uid); a uid 0 recipient is refused; an lmtp that is not
// root refuses a recipient with another uid with a temporary failure.
func TestSystemUsers(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "vmail")
	t.Setenv(ipc.EnvNoPrivsep, "")
	helper := buildDeliver(t)
	vuid, vgid, _ := testkit.UserCreds(t, "vmail")
	root := t.TempDir()
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o711)
	}
	os.Chown(root, vuid, vgid)
	ids := func(home string, uid, gid int) authproto.Fields {
		return authproto.Fields{field("home", filepath.Join(root, home)), field("uid", strconv.Itoa(uid)), field("gid", strconv.Itoa(gid))}
	}
	users := map[string]authproto.Fields{
		"sys@example.org":   ids("sys", vuid, vgid),
		"virt@example.org":  {field("home", filepath.Join(root, "virt"))},
		"rooty@example.org": ids("rooty", 0, 0),
		"other@example.org": ids("other", 54321, 54321),
	}
	db := fakeUserdb(t, users)
	os.Chmod(db, 0o666)

	t.Run("root lmtp uses the helper", func(t *testing.T) {
		addr, _ := startServerWith(t, db, "mail_uid = vmail\n", helper, nil)
		got := transaction(t, addr, []string{"sys+x@example.org", "rooty@example.org", "virt@example.org"}, "Subject: sys\n\nbody\n", 6)
		checkReplies(t, got, []string{"250", "451 4.3.0", "250", "354", "250 2.0.0 <sys+x@example.org>", "250 2.0.0 <virt@example.org>"})
		for _, u := range []string{"sys", "virt"} {
			msgs := folder(t, filepath.Join(root, u), "INBOX")
			if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "Return-Path: <s@remote.test>\r\nReceived: ") || strings.Contains(msgs[0], "Delivered-To") || !strings.Contains(msgs[0], "\tby ") {
				t.Fatalf("%s: %q", u, msgs)
			}
			st, err := os.Stat(filepath.Join(root, u, "Maildir"))
			if err != nil {
				t.Fatal(err)
			}
			if s := st.Sys().(*syscall.Stat_t); int(s.Uid) != vuid || int(s.Gid) != vgid {
				t.Errorf("%s: Maildir owned by %d:%d, want %d:%d", u, s.Uid, s.Gid, vuid, vgid)
			}
		}
	})
	t.Run("unprivileged lmtp refuses other uids", func(t *testing.T) {
		addr, _ := startServerWith(t, db, "", helper, func(s *Server) { s.uid, s.gid = vuid, vgid })
		got := transaction(t, addr, []string{"other@example.org"}, "x\n", 2)
		checkReplies(t, got, []string{"451 4.3.0 <other@example.org>", "502"})
	})
}
