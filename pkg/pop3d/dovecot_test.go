package pop3d

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// dovecotPOP3 is Dovecot 2.3's post-login pop3 binary, which runs
// standalone on a Maildir (REFERENCE-PEERS.md).
const dovecotPOP3 = "/usr/lib/dovecot/pop3"

// dovecotCommand runs Dovecot's pop3 on home/Maildir as user nobody.
func dovecotCommand(home string) *exec.Cmd {
	cmd := exec.Command(dovecotPOP3, "-o", "mail_location=maildir:"+filepath.Join(home, "Maildir"),
		"-o", "mail_uid=nobody", "-o", "mail_gid=nogroup", "-o", "first_valid_uid=0", "-o", "first_valid_gid=0")
	cmd.Env = []string{"USER=nobody", "HOME=" + home, "PATH=/usr/bin:/bin"}
	cmd.Dir = home
	return cmd
}

// chownNobody gives home to nobody (Dovecot refuses to serve mail as
// root) and opens the directories above it inside the temp dir.
func chownNobody(home string) error {
	u, err := user.Lookup("nobody")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	for p := filepath.Dir(home); strings.HasPrefix(p, filepath.Clean(os.TempDir())+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			return err
		}
	}
	return filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, -1)
	})
}

// runDovecotPOP3 plays input to Dovecot's pop3 on the Maildir home/Maildir
// as user nobody and returns its output.
func runDovecotPOP3(t *testing.T, home, input string) string {
	t.Helper()
	cmd := dovecotCommand(home)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("dovecot pop3: %v\n%s", err, errb.String())
	}
	return out.String()
}

// TestDovecotUIDLs: a Maildir that Dovecot's pop3 served (it wrote
// dovecot-uidlist) gives the same UIDLs, sizes and message bytes from
// cote, so clients switching servers download nothing twice; and Dovecot
// still agrees after cote has used the Maildir.
func TestDovecotUIDLs(t *testing.T) {
	if _, err := os.Stat(dovecotPOP3); err != nil {
		if testkit.InCI() {
			t.Fatalf("%s is missing (apt-get install dovecot-pop3d)", dovecotPOP3)
		}
		t.Skipf("%s is missing (apt-get install dovecot-pop3d)", dovecotPOP3)
	}
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "nobody")
	h := newHarness(t)
	files := map[string]string{
		"new/1700000001.M1P1.host":         msg1,
		"new/1700000002.M2P1.host":         msg2,
		"cur/1700000003.M3P1.host:2,S":     msg3,
		"cur/1700000004.M4P1.host,S=5:2,":  "a: b\n",
		"new/1700000005.M5P1.host":         "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n",
		"cur/1700000006.M6P1.host:2,FS":    "Subject: lf only\n\nline\n\nline\n",
		"new/1700000007.M7P1.host":         "X-UIDL: 42\r\n\r\nbody\r\n",
		"cur/1700000008.M8P1.host:2,DS":    strings.Repeat("long line ", 2000) + "\n",
		"new/1700000009.M9P1.host":         "Subject: nine\r\n\r\n",
		"cur/1700000010.M10P1.host:2,ST":   "Subject: trashed\n\nx\n",
		"cur/1700000011.M11P1.host:2,abcd": "Subject: keywords\n\nx\n",
		"new/1700000012.M12P1.host":        "",
	}
	for name, body := range files {
		p := filepath.Join(h.home, "Maildir", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(h.home, "Maildir", "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := chownNobody(h.home); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("UIDL\r\nLIST\r\n")
	for i := 1; i <= len(files); i++ {
		fmt.Fprintf(&script, "RETR %d\r\n", i)
	}
	script.WriteString("QUIT\r\n")
	want := runDovecotPOP3(t, h.home, script.String())
	if !strings.Contains(want, "+OK Logging out") || strings.Count(want, " octets\r\n") != len(files) {
		t.Fatalf("dovecot pop3 answered:\n%s", want)
	}

	cli, done := h.serve(t, Config{}, []byte(script.String()))
	var got bytes.Buffer
	if _, err := got.ReadFrom(cli); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	gotS := strings.TrimPrefix(got.String(), "+OK Logged in.\r\n")
	if gotS != want {
		t.Errorf("cote and Dovecot differ:\n%s", lineDiff(want, gotS))
	}

	// Dovecot reads the Maildir after cote (whose RETRs set \Seen).
	if again := runDovecotPOP3(t, h.home, "UIDL\r\nQUIT\r\n"); !strings.HasPrefix(want, strings.TrimSuffix(again, "+OK Logging out.\r\n")) {
		t.Errorf("Dovecot's UIDLs changed after cote used the Maildir:\n%s", lineDiff(want, again))
	}
}

// lineDiff shows the first differing lines of two transcripts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n-want %q\n+got  %q", i+1, a, b)
		}
	}
	return "(same lines)"
}
