package format

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"weak"
)

// stalePIDCheckAge: an empty lock file younger than this may belong to a
// holder that created it with O_EXCL (Dovecot's default) and has not
// written its PID yet; an older empty one lost its holder between the two
// steps (file-dotlock.c STALE_PID_CHECK_SECS = 2). Locks this package
// takes are never empty: they are linked into place with their content.
const stalePIDCheckAge = 2 * time.Second

// held lists, by lock path, the Locks this process holds or is taking,
// through weak pointers. A lock file naming this process's PID is stale
// when no Lock of this process accounts for it: a Lock nobody references
// any more (an error path that dropped it) can never be unlocked, so once
// the garbage collector has freed it the lock is overridden at once
// instead of after the two-minute stale timeout. A previous process with
// the same PID (a container restart) is caught the same way.
var held = struct {
	sync.Mutex
	m      map[string][]weak.Pointer[Lock]
	lastGC time.Time
}{m: map[string][]weak.Pointer[Lock]{}}

// ownLockGCInterval bounds how often a waiter on a lock of its own
// process forces a collection to find out whether the holder leaked it.
const ownLockGCInterval = stalePIDCheckAge

func holdAdd(l *Lock) {
	held.Lock()
	defer held.Unlock()
	held.m[l.lockPath] = append(held.m[l.lockPath], weak.Make(l))
}

func holdDel(l *Lock) {
	held.Lock()
	defer held.Unlock()
	ps := held.m[l.lockPath]
	for i, p := range ps {
		if p.Value() == l {
			ps = append(ps[:i], ps[i+1:]...)
			break
		}
	}
	if len(ps) == 0 {
		delete(held.m, l.lockPath)
	} else {
		held.m[l.lockPath] = ps
	}
}

// heldHere reports whether a live, unreleased Lock of this process holds
// (or is taking) lockPath; with collect it first runs the garbage collector
// (at most every ownLockGCInterval) so leaked Locks are gone.
func heldHere(lockPath string, collect bool) bool {
	if collect {
		held.Lock()
		due := time.Since(held.lastGC) >= ownLockGCInterval
		if due {
			held.lastGC = time.Now()
		}
		held.Unlock()
		if due {
			runtime.GC()
		}
	}
	held.Lock()
	defer held.Unlock()
	alive := held.m[lockPath][:0]
	for _, p := range held.m[lockPath] {
		if l := p.Value(); l != nil {
			alive = append(alive, p)
		}
	}
	if len(alive) == 0 {
		delete(held.m, lockPath)
		return false
	}
	held.m[lockPath] = alive
	return true
}

// Polling bounds while waiting for a lock. Dovecot waits with inotify plus a
// randomised 0.1-0.2 s retry (file-dotlock.c LOCK_RANDOM_USLEEP_TIME); a
// short first retry keeps a contended delivery fast.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 100 * time.Millisecond
)

// LockFile takes the dotlock path+".lock" the way Dovecot's file-dotlock.c
// does with dotlock_use_excl=no: a temporary file holding
// "<pid>:<hostname>" is written and hard-linked to the lock path (link
// fails if the lock exists), so the lock never exists without its holder's
// PID, even if this process is killed while taking it. A lock held by a
// process of this host that no longer exists (or by this process without
// a Lock that accounts for it), an empty lock older than two seconds, or
// one whose file and protected file have both been unchanged for
// StaleTimeout, is removed and retaken. LockFile waits up to opt.Timeout
// and then returns ErrLockTimeout.
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
	dir := filepath.Dir(l.lockPath)
	perm := fileMode(dir)
	host, _ := os.Hostname()
	// Dovecot names its temporary lock files the same way
	// (file-dotlock.c try_create_lock_hardlink).
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, fmt.Sprintf(".temp.%s.%d.%x", host, os.Getpid(), rnd))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return false, err
	}
	defer f.Close()
	merr := f.Chmod(perm) // exact mode whatever the umask
	_, werr := fmt.Fprintf(f, "%d:%s", os.Getpid(), host)
	if err := errors.Join(merr, werr); err != nil {
		os.Remove(tmp)
		return false, err
	}
	// Counted before the link, so a waiter of this process never sees
	// our fresh lock unaccounted for.
	holdAdd(l)
	lerr := os.Link(tmp, l.lockPath)
	rerr := os.Remove(tmp)
	if lerr != nil {
		holdDel(l)
		if errors.Is(lerr, fs.ErrExist) {
			return false, nil
		}
		if errors.Is(lerr, syscall.EPERM) || errors.Is(lerr, syscall.ENOTSUP) || errors.Is(lerr, syscall.ENOSYS) {
			// A file system without hard links: O_EXCL as Dovecot's
			// default, with its short window of an empty lock.
			return l.tryCreateExcl(perm, host)
		}
		return false, lerr
	}
	l.registered = true
	// Identity after both link and unlink, which change the ctime.
	var st syscall.Stat_t
	serr := syscall.Fstat(int(f.Fd()), &st)
	if err := errors.Join(rerr, serr); err != nil {
		os.Remove(l.lockPath)
		l.forget()
		return false, err
	}
	l.remember(&st)
	return true, nil
}

// tryCreateExcl creates the lock file with O_EXCL and then writes the
// PID (file-dotlock.c dotlock_use_excl=yes).
func (l *Lock) tryCreateExcl(perm os.FileMode, host string) (bool, error) {
	holdAdd(l)
	f, err := os.OpenFile(l.lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		holdDel(l)
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	l.registered = true
	merr := f.Chmod(perm)
	_, werr := fmt.Fprintf(f, "%d:%s", os.Getpid(), host)
	var st syscall.Stat_t
	serr := syscall.Fstat(int(f.Fd()), &st)
	cerr := f.Close()
	if err := errors.Join(merr, werr, serr, cerr); err != nil {
		os.Remove(l.lockPath)
		l.forget()
		return false, err
	}
	l.remember(&st)
	return true, nil
}

// forget drops l from the locks this process holds.
func (l *Lock) forget() {
	if l.registered {
		l.registered = false
		holdDel(l)
	}
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
// that does not exist, this process's PID with no Lock of this process
// holding it, an empty file older than stalePIDCheckAge, or no change to
// the lock file nor the protected file for stale. The lock is re-checked by
// inode just before removal so a lock retaken meanwhile is left alone.
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
	pid, local, empty := lockHolder(lockPath)
	switch {
	case local && pid == os.Getpid():
		// A young lock may be a sibling goroutine's in the middle of
		// LockFile; an older one is checked after a collection.
		isStale = !heldHere(lockPath, now.Sub(mtime) >= stalePIDCheckAge)
	case local && pid > 0:
		isStale = !processExists(pid)
	case empty:
		isStale = now.Sub(mtime) >= stalePIDCheckAge
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
// host is this machine's name, empty whether the file is empty.
func lockHolder(lockPath string) (pid int, local, empty bool) {
	data, err := os.ReadFile(lockPath)
	if err != nil || len(data) > 512 {
		return 0, false, false
	}
	if len(data) == 0 {
		return 0, false, true
	}
	i := bytes.IndexByte(data, ':')
	if i <= 0 {
		return 0, false, false
	}
	pid, err = strconv.Atoi(string(data[:i]))
	if err != nil {
		return 0, false, false
	}
	host, _ := os.Hostname()
	return pid, string(data[i+1:]) == host, false
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
		if errors.Is(err, ErrLockOverridden) {
			l.released = true
			l.forget()
		}
		return err
	}
	l.released = true
	err := os.Remove(l.lockPath)
	l.forget()
	return err
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
	l.forget()
	return SyncDir(filepath.Dir(l.path))
}
