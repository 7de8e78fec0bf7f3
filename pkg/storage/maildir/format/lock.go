package format

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// stalePIDCheckAge: a lock younger than this is not checked for a dead
// holder, since its holder has most likely just created it and may not have
// written its PID yet (file-dotlock.c STALE_PID_CHECK_SECS = 2).
const stalePIDCheckAge = 2 * time.Second

// Polling bounds while waiting for a lock. Dovecot waits with inotify plus a
// randomised 0.1-0.2 s retry (file-dotlock.c LOCK_RANDOM_USLEEP_TIME); a
// short first retry keeps a contended delivery fast.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 100 * time.Millisecond
)

// LockFile takes the dotlock path+".lock" the way Dovecot's file-dotlock.c
// does with dotlock_use_excl=yes (the default): the lock file is created
// with O_EXCL and holds "<pid>:<hostname>". A lock held by a process of this
// host that no longer exists, or one whose file and protected file have both
// been unchanged for StaleTimeout, is removed and retaken. LockFile waits up
// to opt.Timeout and then returns ErrLockTimeout.
func LockFile(path string, opt LockOptions) (*Lock, error) {
	stale := opt.StaleTimeout
	if stale <= 0 {
		stale = UidlistLockStaleTimeout
	}
	l := &Lock{path: path, lockPath: path + LockSuffix}
	deadline := time.Now().Add(opt.Timeout)
	wait := lockPollMin
	for {
		ok, err := l.tryCreate()
		if err != nil {
			return nil, err
		}
		if ok {
			return l, nil
		}
		removed, err := removeIfStale(l.lockPath, path, stale, time.Now())
		if err != nil {
			return nil, err
		}
		if removed {
			continue
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil, fmt.Errorf("%s: %w", l.lockPath, ErrLockTimeout)
		}
		if d := deadline.Sub(now); wait > d {
			wait = d
		}
		time.Sleep(wait)
		if wait *= 2; wait > lockPollMax {
			wait = lockPollMax
		}
	}
}

// tryCreate creates the lock file; false, nil means it already exists.
func (l *Lock) tryCreate() (bool, error) {
	perm := fileMode(filepath.Dir(l.lockPath))
	f, err := os.OpenFile(l.lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	host, _ := os.Hostname()
	merr := f.Chmod(perm) // exact mode whatever the umask
	_, werr := fmt.Fprintf(f, "%d:%s", os.Getpid(), host)
	var st syscall.Stat_t
	serr := syscall.Fstat(int(f.Fd()), &st)
	cerr := f.Close()
	for _, e := range []error{merr, werr, serr, cerr} {
		if e != nil {
			os.Remove(l.lockPath)
			return false, e
		}
	}
	l.remember(&st)
	return true, nil
}

// fileMode is the mode for files created in dir: the directory's
// permission bits without the execute bits, as Dovecot derives
// file_create_mode from the mailbox directory (mailbox-permissions.c), so a
// group-shared Maildir stays group-writable.
func fileMode(dir string) os.FileMode {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0o600
	}
	if m := fi.Mode().Perm() & 0o666; m&0o600 == 0o600 {
		return m
	}
	return 0o600
}

// removeIfStale removes lockPath if its holder is gone: a PID of this host
// that does not exist (after stalePIDCheckAge), or no change to the lock
// file nor the protected file for stale. The lock is re-checked by inode
// just before removal so a lock retaken meanwhile is left alone.
func removeIfStale(lockPath, path string, stale time.Duration, now time.Time) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(lockPath, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return true, nil // released meanwhile: retry at once
		}
		return false, &fs.PathError{Op: "stat", Path: lockPath, Err: err}
	}
	mtime := time.Unix(st.Mtim.Unix())
	isStale := false
	if now.Sub(mtime) >= stalePIDCheckAge {
		if pid, local := lockHolder(lockPath); local && pid > 0 && !processExists(pid) {
			isStale = true
		}
	}
	if !isStale && now.Sub(mtime) > stale {
		// Dovecot also treats a lock as alive while the protected file
		// keeps changing (file-dotlock.c lock_info.last_change).
		var pst syscall.Stat_t
		changed := mtime
		if err := syscall.Stat(path, &pst); err == nil {
			if t := time.Unix(pst.Ctim.Unix()); t.After(changed) {
				changed = t
			}
		}
		isStale = now.Sub(changed) > stale
	}
	if !isStale {
		return false, nil
	}
	var again syscall.Stat_t
	if err := syscall.Stat(lockPath, &again); err != nil || again.Ino != st.Ino || again.Dev != st.Dev {
		return true, nil
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// lockHolder reads "<pid>:<host>" from a lock file; local reports whether
// host is this machine's name.
func lockHolder(lockPath string) (pid int, local bool) {
	data, err := os.ReadFile(lockPath)
	if err != nil || len(data) > 512 {
		return 0, false
	}
	i := bytes.IndexByte(data, ':')
	if i <= 0 {
		return 0, false
	}
	pid, err = strconv.Atoi(string(data[:i]))
	if err != nil {
		return 0, false
	}
	host, _ := os.Hostname()
	return pid, string(data[i+1:]) == host
}

// processExists reports whether pid names a live process; EPERM means it
// exists under another uid.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// remember records the identity of our lock file. The change time is part
// of it because a lock removed by another process and recreated can reuse
// the same inode number at once.
func (l *Lock) remember(st *syscall.Stat_t) {
	l.dev, l.ino = uint64(st.Dev), uint64(st.Ino)
	l.ctime = st.Ctim.Nano()
}

// Path returns the path of the protected file.
func (l *Lock) Path() string { return l.path }

// LockPath returns the path of the lock file.
func (l *Lock) LockPath() string { return l.lockPath }

// Check returns ErrLockOverridden if the lock file is no longer the one this
// Lock created (another process judged it stale and took it over).
func (l *Lock) Check() error {
	if l.released {
		return fmt.Errorf("%s: lock already released", l.lockPath)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(l.lockPath, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("%s: %w", l.lockPath, ErrLockOverridden)
		}
		return &fs.PathError{Op: "stat", Path: l.lockPath, Err: err}
	}
	if uint64(st.Dev) != l.dev || uint64(st.Ino) != l.ino || st.Ctim.Nano() != l.ctime {
		return fmt.Errorf("%s: %w", l.lockPath, ErrLockOverridden)
	}
	return nil
}

// Touch refreshes the lock's mtime so a long operation is not judged stale
// (file_dotlock_touch).
func (l *Lock) Touch() error {
	if err := l.Check(); err != nil {
		return err
	}
	now := time.Now()
	if err := os.Chtimes(l.lockPath, now, now); err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(l.lockPath, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: l.lockPath, Err: err}
	}
	l.remember(&st)
	return nil
}

// Unlock removes the lock file. It returns ErrLockOverridden, and removes
// nothing, if the lock had been taken over.
func (l *Lock) Unlock() error {
	if err := l.Check(); err != nil {
		return err
	}
	l.released = true
	return os.Remove(l.lockPath)
}

// Replace writes data into the lock file, fsyncs it and renames it over the
// protected file, which releases the lock in the same step
// (file_dotlock_replace, as Dovecot writes dovecot-keywords, subscriptions
// and maildirsize). The directory is fsynced so the new content is durable.
func (l *Lock) Replace(data []byte) error {
	return l.replace(data, time.Time{})
}

// replace is Replace that, when minMtime is set, makes the new file's mtime
// at least minMtime (readers that cache by mtime seconds must see a change).
func (l *Lock) replace(data []byte, minMtime time.Time) error {
	if err := l.Check(); err != nil {
		return err
	}
	f, err := os.OpenFile(l.lockPath, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if !minMtime.IsZero() {
		fi, err := f.Stat()
		if err == nil && fi.ModTime().Before(minMtime) {
			err = os.Chtimes(l.lockPath, minMtime, minMtime)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", l.lockPath, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return &fs.PathError{Op: "fstat", Path: l.lockPath, Err: err}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if uint64(st.Dev) != l.dev || uint64(st.Ino) != l.ino {
		return fmt.Errorf("%s: %w", l.lockPath, ErrLockOverridden)
	}
	l.remember(&st)
	if err := l.Check(); err != nil {
		return err
	}
	if err := os.Rename(l.lockPath, l.path); err != nil {
		return err
	}
	l.released = true
	return SyncDir(filepath.Dir(l.path))
}
