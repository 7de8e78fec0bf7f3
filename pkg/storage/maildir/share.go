package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// One write for many recipients (storage.Delivery): Share hard-links the
// message of a save's latest Append, already fsynced in tmp/, under a
// second name in the same tmp/, so it outlives that save's Commit (which
// renames the first name) or Abort (which removes it). AppendLinked
// hard-links that file into another mailbox's tmp/, and the other save's
// Commit renames the link into new/ or cur/ and fsyncs the directory, as
// for any message: the data was on stable storage before the link, and
// the link is before that Commit returns. A shared name left by a crash
// is an old file in tmp/, which Dovecot deletes after 36 hours (cote does
// not clean tmp/ yet).

// sharedMsg is a storage.SavedMessage of this driver.
type sharedMsg struct {
	path        string
	size, vsize int64
	tree        []byte
	preview     []byte
	hdrs        []byte
	mtime       time.Time
	dev         uint64
	uid         uint32
	closed      bool
}

func (m *sharedMsg) Size() int64 { return m.size }

func (m *sharedMsg) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	if err := os.Remove(m.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Share implements storage.Sharer.
func (sv *save) Share() (storage.SavedMessage, error) {
	if sv.done || len(sv.msgs) == 0 {
		return nil, storage.Errorf("save", sv.mb.name, storage.ErrInvalid, errors.New("no message to share"))
	}
	last := sv.msgs[len(sv.msgs)-1]
	p := filepath.Join(sv.mb.b.dir, "tmp", baseGen.Next(time.Now())+".shared")
	if err := os.Link(last.tmp, p); err != nil {
		return nil, storage.Errorf("save", sv.mb.name, kindOfOS(err), err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		os.Remove(p)
		return nil, storage.Errorf("save", sv.mb.name, kindOfOS(err), err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		os.Remove(p)
		return nil, storage.Errorf("save", sv.mb.name, storage.ErrTemporary, errors.New("no file owner"))
	}
	return &sharedMsg{path: p, size: last.size, vsize: last.vsize, tree: last.tree, preview: last.preview, hdrs: last.hdrs, mtime: fi.ModTime(),
		dev: uint64(st.Dev), uid: st.Uid}, nil
}

// AppendLinked implements storage.Linker: it links m into this mailbox's
// tmp/ when m is this driver's, on the same file system, owned by the
// owner of this mailbox's tmp/ (a message of one user is never made a
// file of another), and opts' internal date is the shared file's (the
// mtime is the internal date, and the file is one inode).
func (sv *save) AppendLinked(sm storage.SavedMessage, opts storage.AppendOptions) (bool, error) {
	if sv.done {
		return false, storage.Errorf("save", sv.mb.name, storage.ErrInvalid, errors.New("transaction is finished"))
	}
	m, ok := sm.(*sharedMsg)
	if !ok || m.closed {
		return false, nil
	}
	for _, k := range opts.Keywords {
		if !storage.ValidKeyword(k) {
			return false, storage.Errorf("save", sv.mb.name, storage.ErrInvalid, fmt.Errorf("invalid keyword %q", k))
		}
	}
	if !opts.InternalDate.IsZero() && !opts.InternalDate.Equal(m.mtime) {
		return false, nil
	}
	tmpDir := filepath.Join(sv.mb.b.dir, "tmp")
	fi, err := os.Stat(tmpDir)
	if err != nil {
		return false, storage.Errorf("save", sv.mb.name, kindOfOS(err), err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || uint64(st.Dev) != m.dev || st.Uid != m.uid {
		return false, nil
	}
	full := format.WithSizes(baseGen.Next(time.Now()), m.size, m.vsize)
	tmp := filepath.Join(tmpDir, full)
	if err := os.Link(m.path, tmp); err != nil {
		// EXDEV behind a bind mount, EMLINK, EPERM (protected_hardlinks):
		// the caller writes a copy instead.
		return false, nil
	}
	sv.msgs = append(sv.msgs, saved{tmp: tmp, base: full, size: m.size, vsize: m.vsize, opts: opts, tree: m.tree, preview: m.preview, hdrs: m.hdrs})
	return true, nil
}
