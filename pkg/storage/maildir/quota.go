package maildir

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// Quota accounting. Usage is counted, never recounted from file names on
// a save: each mailbox index keeps the sum of its messages' physical
// sizes (state.usedBytes/usedCount, maintained as records are applied),
// and the Driver remembers the sums of mailboxes no session has open,
// with the identity of the index files they came from, so a user's usage
// costs a stat per closed mailbox while nothing changed there.
//
// With QuotaBackend "maildir" the Maildir++ maildirsize file in the root
// is the counter, as in Dovecot's quota = maildir and Courier: every
// commit appends "+bytes +count", every expunge "-bytes -count", and a
// file that is missing, broken, over 5120 bytes, stale while over quota
// or written with other limits is recalculated from the indexes.

// usageMemo is the counted usage of a mailbox whose box was released.
type usageMemo struct {
	snapID, logID fileID
	logSize       int64 // header + applied records
	bytes, count  int64
	vbytes        int64
}

// rememberUsage records b's counters as it is released; the caller holds
// d.mu and b.mu.
func (d *Driver) rememberUsage(b *box) {
	if b.st == nil {
		return
	}
	if d.usage == nil {
		d.usage = map[string]usageMemo{}
	}
	d.usage[b.dir] = usageMemo{snapID: b.snapID, logID: b.logID, logSize: headerLen + b.logOff,
		bytes: b.st.usedBytes, count: b.st.usedCount, vbytes: b.st.usedVBytes}
}

// current reports whether the index files of dir are still the ones the
// memo was computed from.
func (m usageMemo) current(dir string) bool {
	fi, err := os.Stat(dir + "/" + indexName)
	if err != nil || idOf(fi) != m.snapID {
		return false
	}
	lfi, err := os.Stat(dir + "/" + logName)
	if errors.Is(err, fs.ErrNotExist) {
		return m.logID == fileID{}
	}
	return err == nil && idOf(lfi) == m.logID && lfi.Size() == m.logSize
}

// mailboxUsage returns the counted usage of one mailbox: physical bytes,
// or RFC822.SIZE bytes with quota_vsizes.
func (s *Store) mailboxUsage(name string) (int64, int64, error) {
	dir, err := s.dirOf(name)
	if err != nil {
		return 0, 0, s.badName("quota", name, err)
	}
	s.d.mu.Lock()
	open := s.d.boxes[dir] != nil
	memo, ok := s.d.usage[dir]
	s.d.mu.Unlock()
	if !open && ok && memo.current(dir) {
		if s.quotaVSizes {
			return memo.vbytes, memo.count, nil
		}
		return memo.bytes, memo.count, nil
	}
	if _, err := os.Stat(dir + "/cur"); err != nil {
		return 0, 0, nil // a \NoSelect parent or a half-made folder holds nothing
	}
	b, _ := s.d.acquire(dir, name, s.log)
	defer s.d.release(b)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(false); err != nil {
		return 0, 0, err
	}
	b.unlock()
	if s.quotaVSizes {
		return b.st.usedVBytes, b.st.usedCount, nil
	}
	return b.st.usedBytes, b.st.usedCount, nil
}

// countUsage sums the counted usage of every mailbox of the store.
func (s *Store) countUsage() (storage.QuotaUsage, error) {
	infos, err := s.List()
	if err != nil {
		return storage.QuotaUsage{}, err
	}
	var u storage.QuotaUsage
	for _, mi := range infos {
		if mi.NoSelect {
			continue
		}
		b, c, err := s.mailboxUsage(mi.Name)
		if err != nil {
			return storage.QuotaUsage{}, err
		}
		u.Bytes += b
		u.Messages += c
	}
	return u, nil
}

// Usage implements storage.Storage: the counted usage, from maildirsize
// when the quota backend is maildir (recalculated when it cannot be
// trusted), else from the mailbox indexes.
func (s *Store) Usage() (storage.QuotaUsage, error) {
	if s.quotaBackend != "maildir" {
		return s.countUsage()
	}
	q, mtime, err := format.ReadMaildirSize(s.root)
	if err == nil && !q.NeedsRecalc(mtime, time.Now()) &&
		q.StorageLimit == s.quotaLimits.StorageBytes && q.MessageLimit == s.quotaLimits.Messages {
		return storage.QuotaUsage{Bytes: q.Bytes, Messages: q.Count}, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Info("maildirsize recalculated", zap.Error(err))
	}
	u, err := s.countUsage()
	if err != nil {
		return u, err
	}
	err = format.WriteMaildirSize(s.root, s.quotaLimits.StorageBytes, s.quotaLimits.Messages, u.Bytes, u.Messages)
	if err != nil && !errors.Is(err, format.ErrLockTimeout) {
		// The usage is right; only the file lags. The next read
		// recalculates again.
		s.log.Warn("writing maildirsize", zap.Error(err))
	}
	return u, nil
}

// quotaChanged records a change of usage after a commit or an expunge.
// It must be called without any box lock held: a missing maildirsize is
// recalculated from the indexes. Accounting never fails the operation,
// which is already durable.
func (s *Store) quotaChanged(bytes, count int64) {
	if s.quotaBackend != "maildir" || (bytes == 0 && count == 0) {
		return
	}
	err := format.AppendMaildirSize(s.root, bytes, count)
	if errors.Is(err, fs.ErrNotExist) {
		_, err = s.Usage()
	}
	if err != nil {
		s.log.Warn("updating maildirsize", zap.Error(err))
	}
}
