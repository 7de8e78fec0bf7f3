package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FsyncRate measures what the disk under dir sustains for a durable
// Maildir delivery, one after the other: create a file in tmp/, write
// size bytes, fsync it, rename it into new/, fsync new/. It returns the
// deliveries per second over d (at least 20 are done) and removes its
// files. This is the physical ceiling of one durable delivery stream.
func FsyncRate(dir string, size int, d time.Duration) (float64, error) {
	root, err := os.MkdirTemp(dir, "fsync-rate-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	tmp, cur := filepath.Join(root, "tmp"), filepath.Join(root, "new")
	for _, p := range []string{tmp, cur} {
		if err := os.Mkdir(p, 0o700); err != nil {
			return 0, err
		}
	}
	dirf, err := os.Open(cur)
	if err != nil {
		return 0, err
	}
	defer dirf.Close()
	data := make([]byte, size)
	start := time.Now()
	n := 0
	for ; n < 20 || time.Since(start) < d; n++ {
		name := fmt.Sprintf("%d.bench", n)
		f, err := os.OpenFile(filepath.Join(tmp, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return 0, err
		}
		_, werr := f.Write(data)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			return 0, err
		}
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(cur, name)); err != nil {
			return 0, err
		}
		if err := dirf.Sync(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
