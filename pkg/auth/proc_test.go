package auth_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/testkit"
)

func lookupIDs(t *testing.T, name string) (int, int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (make mkusers creates it)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// TestAuthProcessUnderMaster boots the real master with a passwd-file
// passdb and checks, from /proc, that auth runs as cote unchrooted with
// no_new_privs, that it authenticates over its real socket, that no
// auth-worker runs without a passdb that needs root, and that the login
// process cannot read the users file.
func TestAuthProcessUnderMaster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the master drops privileges")
	}
	coteUID, coteGID := lookupIDs(t, "cote")
	nullUID, nullGID := lookupIDs(t, "cotenull")

	s := testkit.New(t, testkit.Options{})
	users := filepath.Join(s.Dir(), "etc", "users")
	h, err := passwd.Hash("SHA512-CRYPT", "", "s3cret", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("alice@example.org:"+h+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	// As Dovecot's docs advise: readable by the auth user only.
	if err := os.Chown(users, 0, coteGID); err != nil {
		t.Fatal(err)
	}
	s.Rewrite("protocols = imap\nauth_failure_delay = 10 ms\npassdb {\n  driver = passwd-file\n  args = " + users + "\n}\n" +
		"userdb {\n  driver = static\n  args = uid=vmail gid=vmail home=/var/vmail/%d/%n\n}\n" +
		"service imap-login {\n  process_min_avail = 1\n}\n")
	s.Start()

	auth := s.WaitChildren("auth", 1)
	s.WaitCreds(auth[0].PID, testkit.Creds{UID: coteUID, GID: coteGID, Groups: []int{coteGID}, Root: "/", NoNewPrivs: true})

	// The real binary speaks the protocol on base_dir/auth-client.
	c, err := net.Dial("unix", filepath.Join(s.BaseDir(), "auth-client"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if l == "DONE\n" {
			break
		}
	}
	resp := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00s3cret"))
	fmt.Fprintf(c, "VERSION\t1\t2\nCPID\t%d\nAUTH\t1\tPLAIN\tservice=imap\tsecured\tresp=%s\n", os.Getpid(), resp)
	if l, err := r.ReadString('\n'); err != nil || l != "OK\t1\tuser=alice@example.org\n" {
		t.Fatalf("AUTH = %q, %v", l, err)
	}

	if w := s.ServiceChildren("auth-worker"); len(w) != 0 {
		t.Errorf("auth-worker runs without a shadow or pam passdb: %+v", w)
	}

	// The login process is chrooted where the users file is not, runs as
	// cotenull, and cotenull cannot open the file.
	login := s.WaitChildren("imap-login", 1)
	chroot := filepath.Join(s.BaseDir(), "login")
	s.WaitCreds(login[0].PID, testkit.Creds{UID: nullUID, GID: nullGID, Groups: []int{nullGID}, Root: chroot, NoNewPrivs: true})
	if rel, err := filepath.Rel(chroot, users); err == nil && !strings.HasPrefix(rel, "..") {
		t.Errorf("users file %s is inside the login chroot", users)
	}
	cmd := exec.Command("/bin/cat", users)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(nullUID), Gid: uint32(nullGID)}}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("cotenull read the users file: %v %q", err, out)
	}
	// The chroot itself is closed to everyone but root and the login group.
	st, err := os.Stat(chroot)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o750 || sys.Uid != 0 || int(sys.Gid) != nullGID {
		t.Errorf("login chroot %s: mode %v owner %d:%d, want 0750 0:%d", chroot, st.Mode().Perm(), sys.Uid, sys.Gid, nullGID)
	}
}

// TestShadowThroughWorker: a system user made with useradd + chpasswd
// (yescrypt on Debian) authenticates through the shadow passdb, which the
// master serves by spawning the root auth-worker on demand; the passwd
// userdb answers USER on auth-userdb.
func TestShadowThroughWorker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: useradd and the master")
	}
	name := fmt.Sprintf("coteshadow%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "-M", "-d", "/home/"+name, "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", name).Run() })
	chp := exec.Command("chpasswd")
	chp.Stdin = strings.NewReader(name + ":Shadow-pw9\n")
	if out, err := chp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	uid, gid := lookupIDs(t, name)

	s := testkit.New(t, testkit.Options{})
	s.Rewrite("protocols = imap\nauth_failure_delay = 10 ms\npassdb {\n  driver = shadow\n}\nuserdb {\n  driver = passwd\n}\n")
	s.Start()
	if w := s.ServiceChildren("auth-worker"); len(w) != 0 {
		t.Errorf("auth-worker started before anyone needed it: %+v", w)
	}

	c, err := net.Dial("unix", filepath.Join(s.BaseDir(), "auth-client"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for l := ""; l != "DONE\n"; {
		if l, err = r.ReadString('\n'); err != nil {
			t.Fatalf("handshake: %v", err)
		}
	}
	auth := func(id int, pw string) string {
		resp := base64.StdEncoding.EncodeToString([]byte("\x00" + name + "\x00" + pw))
		fmt.Fprintf(c, "AUTH\t%d\tPLAIN\tservice=imap\tsecured\tresp=%s\n", id, resp)
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("AUTH %d: %v", id, err)
		}
		return l
	}
	fmt.Fprintf(c, "VERSION\t1\t2\nCPID\t%d\n", os.Getpid())
	if l := auth(1, "Shadow-pw9"); l != "OK\t1\tuser="+name+"\n" {
		t.Fatalf("right password: %q", l)
	}
	if l := auth(2, "wrong"); l != "FAIL\t2\n" {
		t.Errorf("wrong password: %q", l)
	}
	w := s.WaitChildren("auth-worker", 1)
	s.WaitCreds(w[0].PID, testkit.Creds{UID: 0, GID: 0, Root: "/", NoNewPrivs: true})

	u, err := net.Dial("unix", filepath.Join(s.BaseDir(), "auth-userdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_ = u.SetDeadline(time.Now().Add(30 * time.Second))
	ur := bufio.NewReader(u)
	fmt.Fprintf(u, "VERSION\t1\t0\nUSER\t1\t%s\tservice=lmtp\n", name)
	var got string
	for !strings.HasPrefix(got, "USER") && !strings.HasPrefix(got, "NOTFOUND") && !strings.HasPrefix(got, "FAIL") {
		if got, err = ur.ReadString('\n'); err != nil {
			t.Fatalf("USER: %v", err)
		}
	}
	want := fmt.Sprintf("USER\t1\t%s\tuid=%d\tgid=%d\thome=/home/%s\n", name, uid, gid, name)
	if got != want {
		t.Errorf("USER = %q, want %q", got, want)
	}
}
