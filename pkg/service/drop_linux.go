package service

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/ipc"
)

// drop applies the restriction record r to the whole process. It runs before
// the service reads settings or network input; any error must end the
// process (the caller exits 1).
//
// Order: everything that needs root or files outside the chroot comes first
// (time.Local, rlimits, chroot), the credential change after it, and the
// check that root cannot be regained last.
func drop(r ipc.Restrict) error {
	// time.Local is loaded lazily from /etc/localtime or $TZ; inside the
	// chroot that file is gone and every log time would turn to UTC.
	_ = time.Local.String()

	if r.RlimitData != 0 {
		// Before setuid: raising a hard limit needs root.
		lim := unix.Rlimit{Cur: r.RlimitData, Max: r.RlimitData}
		if err := unix.Setrlimit(unix.RLIMIT_DATA, &lim); err != nil {
			return fmt.Errorf("privilege drop: setrlimit RLIMIT_DATA %d: %w", r.RlimitData, err)
		}
	}
	if r.GoMemLimit != 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The runtime read $GOMEMLIMIT at start when the master set it;
		// otherwise apply the record's soft limit here.
		debug.SetMemoryLimit(int64(r.GoMemLimit))
	}

	if r.Chroot != "" {
		if err := syscall.Chroot(r.Chroot); err != nil {
			return fmt.Errorf("privilege drop: chroot %s: %w", r.Chroot, err)
		}
		if err := syscall.Chdir("/"); err != nil {
			return fmt.Errorf("privilege drop: chdir / in chroot %s: %w", r.Chroot, err)
		}
	}

	if !r.RootUntilHandoff {
		// syscall.Setgroups/Setresgid/Setresuid change every thread of
		// the process (Go 1.16+), not only the calling one.
		if r.UID >= 0 || r.Groups != nil {
			groups := r.Groups
			if groups == nil {
				groups = []int{}
			}
			if err := syscall.Setgroups(groups); err != nil {
				return fmt.Errorf("privilege drop: setgroups %v: %w", groups, err)
			}
		}
		if r.GID >= 0 {
			if err := syscall.Setresgid(r.GID, r.GID, r.GID); err != nil {
				return fmt.Errorf("privilege drop: setresgid %d: %w", r.GID, err)
			}
		}
		if r.UID >= 0 {
			if err := syscall.Setresuid(r.UID, r.UID, r.UID); err != nil {
				return fmt.Errorf("privilege drop: setresuid %d: %w", r.UID, err)
			}
		}
	}

	// prctl applies to the calling thread only; AllThreadsSyscall runs it
	// on every thread, and refuses (ENOTSUP) in a cgo binary, where some
	// threads would be left without it.
	if _, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); errno != 0 {
		switch {
		case errno == syscall.ENOTSUP && allThreadsNoNewPrivs():
			// A cgo binary that set the flag before its threads
			// existed (cmd/auth-worker re-executes itself with it),
			// so every thread inherited it.
		case errno == syscall.ENOTSUP:
			return errors.New("privilege drop: prctl(PR_SET_NO_NEW_PRIVS) on all threads is impossible in a binary built with cgo; build services with CGO_ENABLED=0")
		default:
			return fmt.Errorf("privilege drop: prctl(PR_SET_NO_NEW_PRIVS): %w", errno)
		}
	}

	return verifyDrop(r)
}

// allThreadsNoNewPrivs reports whether /proc shows no_new_privs on every
// thread of this process.
func allThreadsNoNewPrivs() bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if err != nil || !strings.Contains(string(b), "\nNoNewPrivs:\t1\n") {
			return false
		}
	}
	return true
}

// verifyDrop proves the drop took: the ids are the record's, and uid 0
// cannot be regained.
func verifyDrop(r ipc.Restrict) error {
	if r.RootUntilHandoff {
		return nil
	}
	if r.UID >= 0 {
		ruid, euid, suid := unix.Getresuid()
		if ruid != r.UID || euid != r.UID || suid != r.UID {
			return fmt.Errorf("privilege drop: uids are %d/%d/%d after setresuid %d", ruid, euid, suid, r.UID)
		}
	}
	if r.GID >= 0 {
		rgid, egid, sgid := unix.Getresgid()
		if rgid != r.GID || egid != r.GID || sgid != r.GID {
			return fmt.Errorf("privilege drop: gids are %d/%d/%d after setresgid %d", rgid, egid, sgid, r.GID)
		}
	}
	if r.UID > 0 {
		if err := syscall.Setuid(0); err == nil {
			return errors.New("privilege drop: setuid(0) succeeded after the drop; refusing to run")
		}
	}
	return nil
}
