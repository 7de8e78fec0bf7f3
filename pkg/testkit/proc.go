package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/ipc"
)

// Proc is one process as /proc shows it.
type Proc struct {
	PID     int
	PPID    int
	State   string // the State letter: "R", "S", "Z", ...
	Comm    string
	Cmdline []string
	// Service is COTE_SERVICE from the process environment ("" for none).
	Service string
}

// ReadProc reads pid's entry from /proc.
func ReadProc(pid int) (Proc, error) {
	p := Proc{PID: pid}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			p.PPID, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				p.State = f[0]
			}
		}
		if v, ok := strings.CutPrefix(line, "Name:"); ok {
			p.Comm = strings.TrimSpace(v)
		}
	}
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		p.Cmdline = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
	}
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil {
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte(ipc.EnvService+"=")); ok {
				p.Service = string(v)
			}
		}
	}
	return p, nil
}

// ChildrenOf lists the live (not zombie) processes whose parent is pid, in
// pid order.
func ChildrenOf(pid int) []Proc {
	entries, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := ReadProc(n)
		if err != nil || p.PPID != pid || p.State == "Z" {
			continue // gone since the listing, or not ours
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Proc) int { return a.PID - b.PID })
	return out
}

// Creds is what a process is expected to run with.
type Creds struct {
	UID, GID int
	// Groups is the set the supplementary groups must stay within: a
	// process holding any group outside it fails the check. Empty means
	// none allowed.
	Groups []int
	// Root is the expected root directory ("/" when not chrooted).
	Root string
	// NoNewPrivs requires no_new_privs on every thread when true.
	NoNewPrivs bool
}

// CheckCreds verifies from /proc, on every thread of pid, that the real,
// effective, saved and filesystem uids and gids are want's, that the
// supplementary groups stay within want.Groups, that the root directory is
// want.Root, and no_new_privs when asked. It reads /proc itself (through
// ipc.ProcCreds) rather than trusting the master's own check.
func CheckCreds(pid int, want Creds) error {
	threads, root, err := ipc.ProcCreds(pid)
	if err != nil {
		return err
	}
	var errs []error
	wantRoot := filepath.Clean(want.Root)
	if want.Root == "" {
		wantRoot = "/"
	}
	if root != wantRoot {
		errs = append(errs, fmt.Errorf("pid %d: root %q, want %q", pid, root, wantRoot))
	}
	for _, th := range threads {
		for i, name := range []string{"real", "effective", "saved", "filesystem"} {
			if th.UIDs[i] != want.UID {
				errs = append(errs, fmt.Errorf("pid %d thread %d: %s uid %d, want %d", pid, th.TID, name, th.UIDs[i], want.UID))
			}
			if th.GIDs[i] != want.GID {
				errs = append(errs, fmt.Errorf("pid %d thread %d: %s gid %d, want %d", pid, th.TID, name, th.GIDs[i], want.GID))
			}
		}
		for _, g := range th.Groups {
			if !slices.Contains(want.Groups, g) {
				errs = append(errs, fmt.Errorf("pid %d thread %d: holds group %d, allowed %v", pid, th.TID, g, want.Groups))
			}
		}
		if want.NoNewPrivs && !th.NoNewPrivs {
			errs = append(errs, fmt.Errorf("pid %d thread %d: no_new_privs not set", pid, th.TID))
		}
	}
	if len(threads) == 0 {
		errs = append(errs, fmt.Errorf("pid %d: no threads", pid))
	}
	return errors.Join(errs...)
}

// RSS returns the resident set size of pid in bytes (VmRSS).
func RSS(pid int) (uint64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "1234 kB"
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseUint(f[0], 10, 64)
				return n * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// WaitExit waits until pid (any process, not only a child of ours) has
// exited, or the timeout passes. It waits on a pidfd, which becomes readable
// when the process exits: no polling.
func WaitExit(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return fmt.Errorf("pid %d still running after %v", pid, timeout)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll pidfd %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}
