package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestInitScript runs scripts/init.d/cote start, status, stop and status
// against the temporary tree. The script reads COTE_SYSCONFIG (a file
// setting COTE_BIN and COTE_CONFIG) after the system's sysconfig, and
// COTE_LOCKDIR, so the test touches nothing of the machine's.
func TestInitScript(t *testing.T) {
	testkit.RequireRoot(t)
	s := testkit.New(t, testkit.Options{})
	script := filepath.Join(s.Root, "scripts", "init.d", "cote")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("init script: %v", err)
	}
	sysconfig := filepath.Join(s.Dir(), "sysconfig")
	lockdir := filepath.Join(s.Dir(), "lock")
	if err := os.Mkdir(lockdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sysconfig, []byte(fmt.Sprintf("COTE_BIN=%s\nCOTE_CONFIG=%s\n",
		s.Binary(testkit.MasterBinary), s.ConfigPath())), 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(s.BaseDir(), "master.pid")
	// The daemon is not our child: make sure it and its children end even
	// when the test fails half-way.
	t.Cleanup(func() { killDaemon(t, pidFile) })

	run := func(verb string) (string, int) {
		t.Helper()
		// Output goes to a file, not a pipe: the daemonized master must not
		// hold a pipe this test waits on.
		outFile := filepath.Join(s.Dir(), "init-"+verb+".out")
		f, err := os.Create(outFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", script, verb)
		cmd.Env = append(withoutNotify(os.Environ()), "COTE_SYSCONFIG="+sysconfig, "COTE_LOCKDIR="+lockdir)
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		f.Close()
		out, _ := os.ReadFile(outFile)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("init script %s: %v", verb, err)
		}
		t.Logf("init.d/cote %s: exit %d: %s", verb, code, out)
		return string(out), code
	}

	if _, code := run("start"); code != 0 {
		t.Fatalf("start exited %d", code)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file after start: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 {
		t.Fatalf("pid file holds %q", data)
	}
	if _, err := os.Stat(filepath.Join(lockdir, "cote")); err != nil {
		t.Errorf("no subsys lock file after start: %v", err)
	}
	if g := greeting(t, s.Addr("imap-login", "imap")); !strings.HasPrefix(g, "* OK") {
		t.Errorf("greeting from the daemon: %q", g)
	}
	if out, code := run("status"); code != 0 || !strings.Contains(out, fmt.Sprintf("pid %d", pid)) {
		t.Errorf("status of a running suite: exit %d, %q", code, out)
	}
	children := testkit.ChildrenOf(pid)
	if _, code := run("stop"); code != 0 {
		t.Errorf("stop exited %d", code)
	}
	if err := testkit.WaitExit(pid, testkit.StopTimeout); err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if err := testkit.WaitExit(c.PID, testkit.StopTimeout); err != nil {
			t.Errorf("child %d (%s): %v", c.PID, c.Service, err)
		}
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Errorf("pid file left after stop")
	}
	if out, code := run("status"); code != 3 {
		t.Errorf("status of a stopped suite: exit %d (want 3, LSB \"not running\"): %q", code, out)
	}
}

// withoutNotify drops NOTIFY_SOCKET: the init script's master is not
// supervised by this test.
func withoutNotify(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			out = append(out, kv)
		}
	}
	return out
}

func killDaemon(t *testing.T, pidFile string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return
	}
	children := testkit.ChildrenOf(pid)
	syscall.Kill(pid, syscall.SIGTERM)
	if err := testkit.WaitExit(pid, testkit.StopTimeout); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, c := range children {
		if testkit.WaitExit(c.PID, testkit.StopTimeout) != nil {
			syscall.Kill(c.PID, syscall.SIGKILL)
		}
	}
	t.Errorf("the init script's master (pid %d) was still running at the end of the test", pid)
}
