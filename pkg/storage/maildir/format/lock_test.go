package format

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
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
		{"dead pid just created", fmt.Sprintf("%d:%s", deadPID, host), time.Now().Add(time.Second), time.Time{}, time.Hour, false},
		{"live pid old lock recent file", fmt.Sprintf("%d:%s", os.Getpid(), host), old, time.Now(), time.Minute, false},
		{"live pid old lock old file", fmt.Sprintf("%d:%s", os.Getpid(), host), old, old, time.Minute, true},
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
