package testkit

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
)

// TestCheckCreds checks the test process itself, whose credentials are
// known from the syscalls, against right and wrong expectations.
func TestCheckCreds(t *testing.T) {
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	threads, _, err := ipc.ProcCreds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	nnp := threads[0].NoNewPrivs
	self := Creds{UID: os.Getuid(), GID: os.Getgid(), Groups: groups, Root: "/"}
	tests := []struct {
		name    string
		mutate  func(c *Creds)
		wantErr string
	}{
		{name: "as it is", mutate: func(*Creds) {}},
		{name: "empty root means /", mutate: func(c *Creds) { c.Root = "" }},
		{name: "wrong uid", mutate: func(c *Creds) { c.UID++ }, wantErr: "real uid"},
		{name: "wrong gid", mutate: func(c *Creds) { c.GID++ }, wantErr: "real gid"},
		{name: "wrong root", mutate: func(c *Creds) { c.Root = "/nonexistent" }, wantErr: `root "/", want "/nonexistent"`},
		{name: "no_new_privs required", mutate: func(c *Creds) { c.NoNewPrivs = !nnp }, wantErr: "no_new_privs not set"},
		{name: "a group not allowed", mutate: func(c *Creds) { c.Groups = nil }, wantErr: "holds group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := self
			want.Groups = append([]int(nil), groups...)
			tc.mutate(&want)
			if tc.name == "no_new_privs required" && nnp {
				t.Skip("the test process runs with no_new_privs set")
			}
			if tc.name == "a group not allowed" && len(groups) == 0 {
				t.Skip("the test process holds no supplementary groups")
			}
			err := CheckCreds(os.Getpid(), want)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestChildrenAndExit starts a child with COTE_SERVICE set, finds it from
// /proc, kills it and waits for its exit through the pidfd.
func TestChildrenAndExit(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	cmd.Env = append(os.Environ(), ipc.EnvService+"=probe")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })

	// Between fork and the end of execve /proc shows an empty cmdline and
	// the parent's environment: wait until the exec is complete.
	var found *Proc
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		found = nil
		for _, p := range ChildrenOf(os.Getpid()) {
			if p.PID == cmd.Process.Pid {
				found = &p
			}
		}
		if found != nil && len(found.Cmdline) == 2 && found.Service != "" {
			break
		}
	}
	if found == nil {
		t.Fatalf("child %d not among %v", cmd.Process.Pid, ChildrenOf(os.Getpid()))
	}
	if found.Service != "probe" || found.Comm != "sleep" || len(found.Cmdline) != 2 || found.PPID != os.Getpid() {
		t.Errorf("child as read from /proc: %+v", *found)
	}
	if n, err := RSS(found.PID); err != nil || n == 0 {
		t.Errorf("RSS: %d, %v", n, err)
	}
	// A live process: the bounded wait reports the timeout.
	if err := WaitExit(found.PID, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("WaitExit on a live process: %v", err)
	}
	syscall.Kill(found.PID, syscall.SIGKILL)
	if err := WaitExit(found.PID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	<-done
	// Reaped: the pid is gone and the wait returns at once.
	if err := WaitExit(found.PID, time.Second); err != nil {
		t.Fatal(err)
	}
}
