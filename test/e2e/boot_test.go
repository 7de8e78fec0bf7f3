package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestBootCredentials checks, from /proc and independently of the master's
// own check, that every process runs with what the configuration says on
// every thread: the master stays root, each service runs as its user with
// its groups and chroot and no_new_privs.
func TestBootCredentials(t *testing.T) {
	s := start(t, testkit.Options{})
	if err := testkit.CheckCreds(s.Pid(), masterCreds(t)); err != nil {
		t.Errorf("master: %v", err)
	}
	cfg := s.Settings()
	services := cfg.Services()
	if len(services) == 0 {
		t.Fatal("the shipped configuration enables no service")
	}
	for _, svc := range services {
		t.Run(svc.Name, func(t *testing.T) {
			want := expectedCreds(t, svc)
			if svc.Type == "login" && svc.Chroot != filepath.Join(s.BaseDir(), "login") {
				t.Errorf("login service chroot %q, want base_dir/login %q", svc.Chroot, filepath.Join(s.BaseDir(), "login"))
			}
			n := max(svc.ProcessMinAvail, 1)
			procs := s.WaitChildren(svc.Name, n)
			for _, p := range procs {
				if err := testkit.CheckCreds(p.PID, want); err != nil {
					t.Errorf("%s pid %d: %v", svc.Name, p.PID, err)
				}
			}
		})
	}
	for _, p := range s.Children() {
		if p.Service == "" {
			t.Errorf("master child pid %d (%v) carries no %s", p.PID, p.Cmdline, "COTE_SERVICE")
		}
	}
}

// TestKilledChildIsReplaced kills a service process with SIGKILL: the master
// starts a new one, which drops its privileges like the first.
func TestKilledChildIsReplaced(t *testing.T) {
	s := start(t, testkit.Options{Extra: "service imap-login {\n  process_min_avail = 1\n}\n"})
	svc := findService(t, s, "imap-login")
	want := expectedCreds(t, svc)
	victim := s.WaitChildren("imap-login", 1)[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := testkit.WaitExit(victim.PID, testkit.WaitTimeout); err != nil {
		t.Fatal(err)
	}
	procs := s.WaitChildrenFunc("imap-login", func(ps []testkit.Proc) bool {
		for _, p := range ps {
			if p.PID != victim.PID {
				return true
			}
		}
		return false
	})
	for _, p := range procs {
		if p.PID == victim.PID {
			continue
		}
		s.WaitCreds(p.PID, want)
	}
	if g := greeting(t, s.Addr("imap-login", "imap")); !strings.HasPrefix(g, "* OK") {
		t.Errorf("greeting after the replacement: %q", g)
	}
}

// TestSIGTERMStopsEverything: SIGTERM ends the master with status 0, every
// child exits, and the pid file and control socket are removed.
func TestSIGTERMStopsEverything(t *testing.T) {
	s := start(t, testkit.Options{})
	pidFile := filepath.Join(s.BaseDir(), "master.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if got, _ := strconv.Atoi(strings.TrimSpace(string(data))); got != s.Pid() {
		t.Errorf("pid file holds %q, want %d", data, s.Pid())
	}
	children := s.Children()
	if len(children) == 0 {
		t.Fatal("no children before SIGTERM")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("master exit: %v", err)
	}
	for _, c := range children {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.PID)); err == nil {
			if p, err := testkit.ReadProc(c.PID); err == nil && p.State != "Z" {
				t.Errorf("child %d (%s) still running after the master stopped", c.PID, c.Service)
			}
		}
	}
	for _, f := range []string{pidFile, filepath.Join(s.BaseDir(), "master")} {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s still exists after SIGTERM", f)
		}
	}
}

// TestIdleFootprint records, without asserting any speed, the time from
// `cote -F` to READY=1 and the resident memory of the idle suite (VmRSS
// summed over the master and its children), for the closing note:
//
//	go test -count=1 -v -run TestIdleFootprint ./test/e2e | grep FOOTPRINT
func TestIdleFootprint(t *testing.T) {
	s := start(t, testkit.Options{})
	rss, err := s.RSS()
	if err != nil {
		t.Fatal(err)
	}
	procs := s.Children()
	t.Logf("FOOTPRINT: cote -F to READY=1: %v; idle suite: %d processes (master + %d children), total VmRSS %.1f MiB",
		s.ReadyTime().Round(1e6), len(procs)+1, len(procs), float64(rss)/(1<<20))
	if s.ReadyTime() <= 0 {
		t.Error("no READY=1 time recorded")
	}
}
