package service

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/ipc"
)

// envChild switches the test binary into a helper process (see TestMain).
const envChild = "COTE_SERVICE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "drop":
		os.Exit(dropChild())
	case "main":
		mainChild()
	}
	os.Exit(m.Run())
}

// dropChild applies $COTE_RESTRICT as a service would, reports whether the
// file named by $SECRET is reachable, prints "ready" and stays alive until
// stdin closes, so the parent can inspect it in /proc.
func dropChild() int {
	// Threads that exist before the drop must be dropped too: park a few
	// goroutines on their own OS threads first.
	block := make(chan struct{})
	started := make(chan struct{})
	for range 4 {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			<-block
		}()
	}
	for range 4 {
		<-started
	}
	r, err := ipc.ParseRestrict(os.Getenv(ipc.EnvRestrict))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := drop(r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	secret := os.Getenv("SECRET")
	for _, p := range []string{secret, "/../../../../" + secret} {
		if _, err := os.ReadFile(p); err == nil {
			fmt.Printf("reachable %s\n", p)
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	close(block)
	return 0
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test must run as root in CI")
	}
	t.Skip("skipping: the privilege drop test needs root")
}

func nobody(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if g, err := user.LookupGroup("nogroup"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid
}

// cgoLinked reports whether this test binary was built with cgo.
func cgoLinked() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1"
		}
	}
	return false
}

// childBinary returns a test binary of this package built without cgo, as
// service binaries are: AllThreadsSyscall refuses to run with cgo linked.
func childBinary(t *testing.T) string {
	t.Helper()
	if !cgoLinked() {
		return os.Args[0]
	}
	bin := filepath.Join(t.TempDir(), "service.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a CGO_ENABLED=0 test binary: %v\n%s", err, out)
	}
	return bin
}

func TestDrop(t *testing.T) {
	requireRoot(t)
	bin := childBinary(t)
	uid, gid := nobody(t)
	jail := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	const rlimit = 1 << 30

	tests := []struct {
		name    string
		bin     string // "" means bin
		r       ipc.Restrict
		wantErr string // on the child's stderr; "" means it must come up
	}{
		{"nobody in a chroot", "", ipc.Restrict{UID: uid, GID: gid, Groups: []int{}, Chroot: jail, RlimitData: rlimit}, ""},
		{"supplementary group", "", ipc.Restrict{UID: uid, GID: gid, Groups: []int{gid}, Chroot: jail}, ""},
		{"missing chroot", "", ipc.Restrict{UID: uid, GID: gid, Chroot: filepath.Join(jail, "absent")}, "privilege drop: chroot"},
	}
	if cgoLinked() {
		tests = append(tests, struct {
			name    string
			bin     string
			r       ipc.Restrict
			wantErr string
		}{"cgo binary refuses", os.Args[0], ipc.Restrict{UID: uid, GID: gid, Chroot: jail}, "build services with CGO_ENABLED=0"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bin
			if b == "" {
				b = bin
			}
			cmd := exec.Command(b, "-test.run=^$")
			cmd.Env = append(os.Environ(), envChild+"=drop",
				ipc.EnvRestrict+"="+tc.r.Encode(), "SECRET="+secret)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cmd.Wait()
			}()

			var lines []string
			sc := bufio.NewScanner(stdout)
			ready := false
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready = true
					break
				}
				lines = append(lines, sc.Text())
			}
			if tc.wantErr != "" {
				cmd.Wait()
				if ready || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), tc.wantErr) {
					t.Fatalf("ready=%v exit=%d stderr %q, want exit 1 with %q",
						ready, cmd.ProcessState.ExitCode(), stderr.String(), tc.wantErr)
				}
				return
			}
			if !ready {
				cmd.Wait()
				t.Fatalf("child did not come up: %s", stderr.String())
			}
			if len(lines) != 0 {
				t.Errorf("outside the chroot: %q", lines)
			}
			pid := cmd.Process.Pid
			if err := tc.r.Check(pid); err != nil {
				t.Errorf("Check: %v", err)
			}
			threads, _, err := ipc.ProcCreds(pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(threads) < 5 {
				t.Errorf("only %d threads checked; want the parked ones too", len(threads))
			}
			if tc.r.RlimitData != 0 {
				limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("%d", tc.r.RlimitData)
				for _, l := range strings.Split(string(limits), "\n") {
					if strings.HasPrefix(l, "Max data size") && strings.Count(l, want) != 2 {
						t.Errorf("limits: %q, want %s soft and hard", l, want)
					}
				}
			}
		})
	}
}
