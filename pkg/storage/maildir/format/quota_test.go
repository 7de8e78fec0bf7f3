package format

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseMaildirSize(t *testing.T) {
	tests := []struct {
		name              string
		in                string
		broken            bool
		storage, messages int64
		bytes, count      int64
		lines             int
	}{
		{"spec example", "1000000S,1000C\n12345 3\n100 1\n-50 -1\n", false, 1000000, 1000, 12395, 3, 3},
		{"storage only", "5000S\n10 1\n", false, 5000, 0, 10, 1, 1},
		{"no limits line", "\n10 1\n", false, 0, 0, 10, 1, 1},
		{"unknown limit part ignored", "10S,5X\n1 1\n", false, 10, 0, 1, 1, 1},
		{"torn last line ignored", "10S\n5 1\n7", false, 10, 0, 5, 1, 1},
		{"no usage lines", "10S\n", true, 10, 0, 0, 0, 0},
		{"bad line", "10S\nx y\n", true, 10, 0, 0, 0, 0},
		{"negative total", "10S\n-5 -1\n", true, 10, 0, -5, -1, 1},
		{"nul byte", "10S\n5 1\x00\n", true, 0, 0, 0, 0, 0},
		{"too large", "10S\n" + strings.Repeat("1 1\n", 1280), true, 0, 0, 0, 0, 0},
		{"empty", "", true, 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseMaildirSize([]byte(tc.in))
			if tc.broken {
				if !errors.Is(err, ErrMaildirSizeBroken) {
					t.Fatalf("err = %v, want ErrMaildirSizeBroken", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.StorageLimit != tc.storage || q.MessageLimit != tc.messages || q.Bytes != tc.bytes || q.Count != tc.count || q.Lines != tc.lines {
				t.Errorf("got %+v", q)
			}
		})
	}
}

func TestMaildirSizeNeedsRecalc(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		q    Quota
		age  time.Duration
		want bool
	}{
		{"under quota old", Quota{StorageLimit: 100, Bytes: 50, Lines: 5}, time.Hour, false},
		{"over quota fresh summary", Quota{StorageLimit: 100, Bytes: 150, Lines: 1}, time.Minute, false},
		{"over quota old summary", Quota{StorageLimit: 100, Bytes: 150, Lines: 1}, 16 * time.Minute, true},
		{"over quota deltas", Quota{MessageLimit: 1, Count: 2, Lines: 2}, time.Second, true},
		{"unlimited", Quota{Bytes: 1 << 40, Lines: 9}, time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.q.NeedsRecalc(now.Add(-tc.age), now); got != tc.want {
				t.Errorf("NeedsRecalc = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMaildirSizeFiles(t *testing.T) {
	dir := t.TempDir()
	if err := AppendMaildirSize(dir, 10, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("append to missing file: %v", err)
	}
	if err := WriteMaildirSize(dir, 1000, 0, 300, 3); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, MaildirSizeName))
	if string(data) != "1000S\n300 3\n" {
		t.Errorf("written %q", data)
	}
	if err := AppendMaildirSize(dir, -100, -1); err != nil {
		t.Fatal(err)
	}
	q, mtime, err := ReadMaildirSize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if q.Bytes != 200 || q.Count != 2 || q.StorageLimit != 1000 || q.Lines != 2 || time.Since(mtime) > time.Minute {
		t.Errorf("read back %+v %v", q, mtime)
	}
	if got := FormatQuotaLimits(0, 0); got != "" {
		t.Errorf("no limits = %q", got)
	}
	if got := FormatQuotaLimits(5, 7); got != "5S,7C" {
		t.Errorf("limits = %q", got)
	}
	// Held lock: a recalculation is running elsewhere.
	l, err := LockFile(filepath.Join(dir, MaildirSizeName), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if err := WriteMaildirSize(dir, 0, 0, 0, 0); !errors.Is(err, ErrLockTimeout) {
		t.Errorf("write under foreign lock: %v", err)
	}
}
