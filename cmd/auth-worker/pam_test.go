//go:build pam

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/auth"
	"github.com/cote-mail/cote/pkg/ipc"
)

// addPAMUser makes a throwaway system user with a password (useradd +
// chpasswd) and a throwaway /etc/pam.d service using pam_unix; both are
// removed in t.Cleanup.
func addPAMUser(t *testing.T) (user, pass, service string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: useradd, /etc/pam.d")
	}
	user = fmt.Sprintf("cotepam%d", os.Getpid()%100000)
	pass = "Pam-Test-pw1"
	service = "cote-test"
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(user + ":" + pass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	path := "/etc/pam.d/" + service
	conf := "auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return user, pass, service
}

func TestPAM(t *testing.T) {
	user, pass, service := addPAMUser(t)
	tests := []struct {
		name       string
		req        auth.PAMRequest
		ok         bool
		notOKOrErr bool
	}{
		{"right", auth.PAMRequest{Service: service, User: user, Password: pass, Protocol: "imap", RemoteIP: "192.0.2.1"}, true, false},
		{"right with session and setcred", auth.PAMRequest{Service: service, User: user, Password: pass, Protocol: "imap", Session: true, Setcred: true}, true, false},
		{"wrong", auth.PAMRequest{Service: service, User: user, Password: "nope", Protocol: "imap"}, false, false},
		{"unknown user", auth.PAMRequest{Service: service, User: user + "x", Password: pass, Protocol: "imap"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, _, _, err := pamAuthenticate(tc.req)
			if ok != tc.ok || err != nil {
				t.Errorf("ok=%v err=%v, want ok=%v", ok, err, tc.ok)
			}
		})
	}
}

// TestNoNewPrivsReexec runs the cgo binary with a restriction record and
// no settings fd: the privilege drop must pass (prepare set no_new_privs
// before any thread existed and re-executed), so the process gets as far
// as the missing settings snapshot.
func TestNoNewPrivsReexec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bin := t.TempDir() + "/auth-worker"
	build := exec.Command("go", "build", "-tags", "pam", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{ipc.EnvRestrict + "=" + ipc.NoRestrict.Encode(), ipc.EnvService + "=auth-worker"}
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "PR_SET_NO_NEW_PRIVS") || !strings.Contains(string(out), "settings snapshot") {
		t.Errorf("auth-worker output: %s", out)
	}
}
