package format

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	l, err := LockFile(path, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path + LockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if want := fmt.Sprintf("%d:%s", os.Getpid(), host); string(data) != want {
		t.Errorf("lock content %q, want %q", data, want)
	}
	if _, err := LockFile(path, LockOptions{}); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second lock: err = %v, want ErrLockTimeout", err)
	}
	if _, err := LockFile(path, LockOptions{Timeout: 20 * time.Millisecond}); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second lock with timeout: err = %v, want ErrLockTimeout", err)
	}
	if err := l.Touch(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockFile(path, LockOptions{})
	if err != nil {
		t.Fatalf("relock after unlock: %v", err)
	}
	l2.Unlock()
}

// TestLockWaitsForRelease: a waiter gets the lock once the holder releases
// it, within its timeout.
func TestLockWaitsForRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	l, err := LockFile(path, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		l2, err := LockFile(path, LockOptions{Timeout: time.Minute})
		if err == nil {
			err = l2.Unlock()
		}
		got <- err
	}()
	<-started
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestLockStale(t *testing.T) {
	host, _ := os.Hostname()
	deadPID := deadProcess(t)
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name      string
		content   string
		lockAge   time.Time
		fileAge   time.Time // zero: protected file absent
		stale     time.Duration
		wantTaken bool
	}{
		{"dead local pid", fmt.Sprintf("%d:%s", deadPID, host), time.Now().Add(-3 * time.Second), time.Time{}, time.Hour, true},
		// The PID is in the lock from the start (LockFile links it into
		// place with its content), so a dead holder is seen at once.
		{"dead pid just created", fmt.Sprintf("%d:%s", deadPID, host), time.Now().Add(time.Second), time.Time{}, time.Hour, true},
		{"live pid old lock recent file", fmt.Sprintf("%d:%s", os.Getppid(), host), old, time.Now(), time.Minute, false},
		{"live pid old lock old file", fmt.Sprintf("%d:%s", os.Getppid(), host), old, old, time.Minute, true},
		{"live pid young lock", fmt.Sprintf("%d:%s", os.Getppid(), host), time.Now(), time.Time{}, time.Hour, false},
		// Our own PID with no Lock of ours holding it: leaked, or left by
		// an earlier process with our PID.
		{"own pid unaccounted", fmt.Sprintf("%d:%s", os.Getpid(), host), time.Now(), time.Time{}, time.Hour, true},
		{"empty lock after the pid check age", "", time.Now().Add(-3 * time.Second), time.Time{}, time.Hour, true},
		{"garbage lock young", "12x", time.Now().Add(-3 * time.Second), time.Time{}, time.Hour, false},
		{"other host dead pid", fmt.Sprintf("%d:not-%s", deadPID, host), time.Now().Add(-3 * time.Second), time.Time{}, time.Hour, false},
		{"empty lock old", "", old, time.Time{}, time.Minute, true},
		{"empty lock young", "", time.Now(), time.Time{}, time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path+LockSuffix, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path+LockSuffix, tc.lockAge, tc.lockAge); err != nil {
				t.Fatal(err)
			}
			if !tc.fileAge.IsZero() {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				// ctime cannot be set back; a fresh file always counts
				// as changed now, so "old file" uses a missing file.
				if tc.fileAge.Before(time.Now().Add(-time.Minute)) {
					os.Remove(path)
				}
			}
			l, err := LockFile(path, LockOptions{StaleTimeout: tc.stale})
			if tc.wantTaken {
				if err != nil {
					t.Fatalf("stale lock not overridden: %v", err)
				}
				l.Unlock()
				return
			}
			if !errors.Is(err, ErrLockTimeout) {
				t.Fatalf("err = %v, want ErrLockTimeout", err)
			}
		})
	}
}

// TestLockLeaked: a Lock dropped without Unlock (an error path that lost
// it) is overridden by the next locker of the same process after a
// collection, not after the two-minute stale timeout; a live Lock of the
// process is not.
func TestLockLeaked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	live, err := LockFile(path, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-10 * time.Second)
	os.Chtimes(path+LockSuffix, old, old)
	var st syscall.Stat_t
	if err := syscall.Stat(path+LockSuffix, &st); err != nil {
		t.Fatal(err)
	}
	live.remember(&st) // the back-dated lock is still ours
	held.Lock()
	held.lastGC = time.Time{}
	held.Unlock()
	if _, err := LockFile(path, LockOptions{}); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("a live lock of this process was overridden: %v", err)
	}
	runtime.KeepAlive(live)
	if err := live.Unlock(); err != nil {
		t.Fatal(err)
	}

	func() {
		if _, err := LockFile(path, LockOptions{}); err != nil {
			t.Fatal(err)
		}
		// The Lock is dropped here without Unlock.
	}()
	os.Chtimes(path+LockSuffix, old, old)
	start := time.Now()
	held.Lock()
	held.lastGC = time.Time{}
	held.Unlock()
	l, err := LockFile(path, LockOptions{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("leaked lock not overridden: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to override a leaked lock", d)
	}
	l.Unlock()
}

// TestLockHolderKilled: a process SIGKILLed while it holds (or is taking)
// the lock never leaves a lock that blocks the next locker for the stale
// timeout: the lock file always names the dead PID.
func TestLockHolderKilled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
		cmd.Env = append(os.Environ(), "COTE_LOCK_HELPER="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the helper took and released the lock a few times,
		// then kill it wherever it is.
		buf := make([]byte, 1)
		for n := 0; n < 3+round; {
			if _, err := out.Read(buf); err != nil {
				t.Fatal(err)
			}
			if buf[0] == '\n' {
				n++
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		start := time.Now()
		l, err := LockFile(path, LockOptions{Timeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("round %d: %v to take the lock of a killed holder", round, d)
		}
		l.Unlock()
	}
}

// TestLockHelper is the killed holder of TestLockHolderKilled: it locks and
// unlocks in a loop, printing a line per round.
func TestLockHelper(t *testing.T) {
	path := os.Getenv("COTE_LOCK_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	for {
		l, err := LockFile(path, LockOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println()
		l.Unlock()
	}
}

// deadProcess returns the PID of a process that has exited and been reaped.
func deadProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestLockOverridden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	l, err := LockFile(path, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Another process judged it stale: removed and retaken.
	os.Remove(path + LockSuffix)
	other, err := LockFile(path, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Replace([]byte("x")); !errors.Is(err, ErrLockOverridden) {
		t.Fatalf("Replace: err = %v, want ErrLockOverridden", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("overridden lock replaced the file")
	}
	if err := l.Unlock(); !errors.Is(err, ErrLockOverridden) {
		t.Fatalf("Unlock: err = %v", err)
	}
	if err := other.Check(); err != nil {
		t.Fatalf("the new holder lost its lock: %v", err)
	}
	other.Unlock()
}

func TestLockReplaceModeFollowsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	l, err := LockFile(filepath.Join(dir, "f"), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Replace([]byte("data")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("mode %v, want 0660", fi.Mode().Perm())
	}
}

// TestLockCounter increments a counter file from many goroutines under the
// lock; a lost update would show as a short count.
func TestLockCounter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "counter")
	if err := os.WriteFile(path, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l, err := LockFile(path, LockOptions{Timeout: time.Minute})
				if err != nil {
					errs <- err
					return
				}
				data, err := os.ReadFile(path)
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(string(data))
				if err := l.Replace([]byte(strconv.Itoa(n + 1))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d", data, workers*each)
	}
}

// TestLockExclFallback: the O_EXCL way (file systems without hard links)
// writes the same content and refuses a held lock.
func TestLockExclFallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	host, _ := os.Hostname()
	l := &Lock{path: path, lockPath: path + LockSuffix}
	ok, err := l.tryCreateExcl(0o600, host)
	if err != nil || !ok {
		t.Fatalf("tryCreateExcl = %v, %v", ok, err)
	}
	if data, _ := os.ReadFile(l.lockPath); string(data) != fmt.Sprintf("%d:%s", os.Getpid(), host) {
		t.Errorf("content %q", data)
	}
	l2 := &Lock{path: path, lockPath: path + LockSuffix}
	if ok, err := l2.tryCreateExcl(0o600, host); ok || err != nil {
		t.Fatalf("second tryCreateExcl = %v, %v", ok, err)
	}
	if !heldHere(l.lockPath, false) {
		t.Error("held lock not registered")
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if heldHere(l.lockPath, false) {
		t.Error("released lock still registered")
	}
}
