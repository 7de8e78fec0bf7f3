package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MaildirSizeLockStaleTimeout is the stale timeout of maildirsize.lock
// (quota-maildir.c dotlock_settings.stale_timeout = 30 s); the lock is taken
// without waiting: a recalculation already running elsewhere will write the
// file.
const MaildirSizeLockStaleTimeout = 30 * time.Second

// ErrMaildirSizeBroken is wrapped when a maildirsize file cannot be used and
// must be recalculated.
var ErrMaildirSizeBroken = errors.New("maildir: maildirsize must be recalculated")

// ParseMaildirSize parses a Maildir++ maildirsize file the way Dovecot's
// quota-maildir.c does: only the first 5120 bytes count and a larger file
// must be recalculated; a last line without a newline is a write in progress
// and is ignored; the first line holds the limits ("<n>S,<n>C", 0 meaning
// none, unknown parts ignored); every further line is "<bytes> <count>"
// (either may be negative). A NUL byte, a malformed line or negative totals
// make the file unusable: the error wraps ErrMaildirSizeBroken.
func ParseMaildirSize(data []byte) (*Quota, error) {
	q := &Quota{Size: int64(len(data))}
	if len(data) >= MaildirSizeMaxBytes {
		return q, fmt.Errorf("%w: %d bytes", ErrMaildirSizeBroken, len(data))
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return q, fmt.Errorf("%w: NUL byte", ErrMaildirSizeBroken)
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return q, fmt.Errorf("%w: no complete line", ErrMaildirSizeBroken)
	}
	lines := strings.Split(string(data[:end]), "\n")
	q.StorageLimit, q.MessageLimit, _ = ParseQuotaLimits(lines[0])
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 2 {
			return q, fmt.Errorf("%w: line %q", ErrMaildirSizeBroken, line)
		}
		b, err1 := strconv.ParseInt(f[0], 10, 64)
		c, err2 := strconv.ParseInt(f[1], 10, 32)
		if err1 != nil || err2 != nil {
			return q, fmt.Errorf("%w: line %q", ErrMaildirSizeBroken, line)
		}
		q.Bytes += b
		q.Count += c
		q.Lines++
	}
	if q.Bytes < 0 || q.Count < 0 {
		return q, fmt.Errorf("%w: negative totals", ErrMaildirSizeBroken)
	}
	if q.Lines == 0 {
		return q, fmt.Errorf("%w: no usage lines", ErrMaildirSizeBroken)
	}
	return q, nil
}

// OverQuota reports whether the totals exceed a limit.
func (q *Quota) OverQuota() bool {
	return (q.StorageLimit > 0 && q.Bytes > q.StorageLimit) ||
		(q.MessageLimit > 0 && q.Count > q.MessageLimit)
}

// NeedsRecalc reports whether a parsed file should be recalculated even
// though it parsed: when over quota, its totals are trusted only if it is
// a single summary line written less than 15 minutes ago (quota-maildir.c
// maildirsize_parse; Maildir++ spec).
func (q *Quota) NeedsRecalc(modTime, now time.Time) bool {
	if !q.OverQuota() {
		return false
	}
	return q.Lines > 1 || now.Sub(modTime) > MaildirSizeMaxAge
}

// ParseQuotaLimits parses a limits line "<n>S,<n>C" (either part optional;
// 0 means unlimited). ok is false if a part was not understood; the parts
// that were are still returned, as Dovecot uses them.
func ParseQuotaLimits(s string) (storage, messages int64, ok bool) {
	ok = true
	for _, part := range strings.Split(s, ",") {
		if len(part) < 2 {
			ok = false
			continue
		}
		n, err := strconv.ParseInt(part[:len(part)-1], 10, 64)
		if err != nil || n < 0 {
			ok = false
			continue
		}
		switch part[len(part)-1] {
		case 'S':
			storage = n
		case 'C':
			messages = n
		default:
			ok = false
		}
	}
	return storage, messages, ok
}

// FormatQuotaLimits formats limits as the first line of maildirsize, as
// Dovecot writes it: "<n>S" and/or "<n>C" joined by ',', omitting a zero
// (unlimited) limit.
func FormatQuotaLimits(storage, messages int64) string {
	var parts []string
	if storage > 0 {
		parts = append(parts, strconv.FormatInt(storage, 10)+"S")
	}
	if messages > 0 {
		parts = append(parts, strconv.FormatInt(messages, 10)+"C")
	}
	return strings.Join(parts, ",")
}

// MarshalMaildirSize encodes a freshly recalculated file: the limits line
// and one summary line "<bytes> <count>".
func MarshalMaildirSize(storageLimit, messageLimit, bytes, count int64) []byte {
	return []byte(FormatQuotaLimits(storageLimit, messageLimit) + "\n" +
		strconv.FormatInt(bytes, 10) + " " + strconv.FormatInt(count, 10) + "\n")
}

// WriteMaildirSize writes a recalculated dir/maildirsize under its dotlock
// (taken without waiting, stale after 30 s) and renames it into place. If
// another process holds the lock it returns an error wrapping
// ErrLockTimeout: that process is recalculating.
func WriteMaildirSize(dir string, storageLimit, messageLimit, bytes, count int64) error {
	l, err := LockFile(filepath.Join(dir, MaildirSizeName), LockOptions{StaleTimeout: MaildirSizeLockStaleTimeout})
	if err != nil {
		return err
	}
	if err := l.Replace(MarshalMaildirSize(storageLimit, messageLimit, bytes, count)); err != nil {
		if !l.released {
			l.Unlock()
		}
		return err
	}
	return nil
}

// AppendMaildirSize appends a "<bytes> <count>" change line to an existing
// dir/maildirsize with one O_APPEND write, as the Maildir++ spec and
// Dovecot do (maildirsize_update). A missing file is returned as
// fs.ErrNotExist: the caller recalculates instead.
func AppendMaildirSize(dir string, bytesDiff, countDiff int64) error {
	if bytesDiff == 0 && countDiff == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, MaildirSizeName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	line := strconv.FormatInt(bytesDiff, 10) + " " + strconv.FormatInt(countDiff, 10) + "\n"
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadMaildirSize reads and parses dir/maildirsize, returning also its
// modification time for NeedsRecalc.
func ReadMaildirSize(dir string) (*Quota, time.Time, error) {
	path := filepath.Join(dir, MaildirSizeName)
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	// Read one byte past the cap so an oversized file is recognised
	// without reading all of it.
	buf := make([]byte, MaildirSizeMaxBytes+1)
	n, err := readFull(f, buf)
	if err != nil {
		return nil, time.Time{}, err
	}
	q, perr := ParseMaildirSize(buf[:n])
	q.Size = fi.Size()
	return q, fi.ModTime(), perr
}

func readFull(f *os.File, buf []byte) (int, error) {
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}
