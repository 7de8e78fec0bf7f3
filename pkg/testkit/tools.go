package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// prerequisite is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireTool skips the test when the program name is not on PATH, or fails
// it under CI with the apt-get line that installs debPackage.
func RequireTool(t testing.TB, name, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install %s)", name, debPackage)
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// RequireRoot skips the test unless it runs as root; under CI it fails, as
// CI runs as root and a skip there would hide the privilege tests.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatal("this test needs root, and CI runs as root")
	}
	t.Skip("this test needs root")
}

// RequireUser skips (or under CI fails) when the system user name does not
// exist; scripts/mkusers.sh creates cote's users.
func RequireUser(t testing.TB, name string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err == nil {
		return u
	}
	msg := fmt.Sprintf("system user %s is missing (run scripts/mkusers.sh as root): %v", name, err)
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return nil
}

// UserCreds returns the uid, primary gid and every group id (primary
// included) of a system user.
func UserCreds(t testing.TB, name string) (uid, gid int, groups []int) {
	t.Helper()
	u := RequireUser(t, name)
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	ids, err := u.GroupIds()
	if err != nil {
		t.Fatalf("groups of %s: %v", name, err)
	}
	for _, s := range ids {
		n, _ := strconv.Atoi(s)
		groups = append(groups, n)
	}
	return uid, gid, groups
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: it
// binds port 0 and closes. Another process may take it before the caller
// binds it; Suite.Start retries once when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
