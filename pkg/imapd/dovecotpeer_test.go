package imapd

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/testkit"
)

// dovecotPeer is Dovecot's imap binary run preauthenticated as nobody
// (imap -o ...: no master, no login) on a Maildir of its own, the
// reference the comparison tests run the same commands against.
type dovecotPeer struct {
	t           *testing.T
	bin         string
	dir, md     string // its home and Maildir, owned by nobody
	user, group string
	args        []string // -o settings of every process
}

// newDovecotPeer fails with the install hint under CI, and skips
// otherwise, unless Dovecot's imap is installed and the test runs as root
// (Dovecot switches to nobody). msgs are written into cur/ with a
// dovecot-uidlist giving them UIDs 1..n and date(uid) as mtime (the
// internal date) when date is not nil. loc is appended to the mail
// location (":LAYOUT=fs"); opts are extra -o settings.
func newDovecotPeer(t *testing.T, msgs []string, date func(uid int) time.Time, loc string, opts ...string) *dovecotPeer {
	t.Helper()
	bin := testkit.RequireTool(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	if os.Getuid() != 0 {
		t.Skip("Dovecot's imap needs root to switch to an unprivileged user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	grp, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Skip("no group of nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	dir := t.TempDir()
	// Dovecot runs as nobody: the temp dirs must be traversable.
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := &dovecotPeer{t: t, bin: bin, dir: dir, md: filepath.Join(dir, "Maildir"), user: nobody.Username, group: grp.Name}
	p.args = []string{"-o", "mail_location=maildir:" + p.md + loc, "-o", "mail_uid=" + p.user,
		"-o", "mail_gid=" + p.group, "-o", "first_valid_uid=0", "-o", "first_valid_gid=0"}
	for _, o := range opts {
		p.args = append(p.args, "-o", o)
	}
	if len(msgs) > 0 {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(p.md, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var uidlist strings.Builder
		uidlist.WriteString("3 V1136000000 N" + strconv.Itoa(len(msgs)+1) + "\n")
		for i, m := range msgs {
			base := strconv.Itoa(1000000+i+1) + ".m" + strconv.Itoa(i+1) + ".host"
			f := filepath.Join(p.md, "cur", base+":2,")
			if err := os.WriteFile(f, []byte(m), 0o644); err != nil {
				t.Fatal(err)
			}
			if date != nil {
				if err := os.Chtimes(f, date(i+1), date(i+1)); err != nil {
					t.Fatal(err)
				}
			}
			uidlist.WriteString(strconv.Itoa(i+1) + " :" + base + "\n")
		}
		if err := os.WriteFile(filepath.Join(p.md, "dovecot-uidlist"), []byte(uidlist.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.Walk(dir, func(f string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(f, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// command is a Dovecot imap process reading its commands from stdin.
func (p *dovecotPeer) command(stdin io.Reader) *exec.Cmd {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = []string{"HOME=" + p.dir, "USER=" + p.user, "TZ=UTC"}
	cmd.Stdin = stdin
	return cmd
}

// session starts a long-lived process, reads its PREAUTH greeting and
// returns its stdin and stdout; it ends with the test.
func (p *dovecotPeer) session() (io.WriteCloser, *bufio.Reader, io.ReadCloser) {
	t := p.t
	t.Helper()
	cmd := p.command(nil)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	br := bufio.NewReader(out)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* PREAUTH") {
		t.Fatalf("dovecot greeting %q, %v; stderr %s", l, err, stderr.String())
	}
	return in, br, out
}
