package format

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to dir/name so that a reader sees either the
// old content or all of the new one, and the new content survives a crash
// once WriteFileAtomic returns: it writes a temporary file in dir, fsyncs it,
// renames it over name and fsyncs dir (the rename is only durable once the
// directory is synced, per POSIX and the ext4/xfs documentation).
func WriteFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	tmp, err := tempName(dir, name)
	if err != nil {
		return err
	}
	if err := writeSync(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, data, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// tempName returns a fresh name in dir for a temporary sibling of name. The
// random part keeps concurrent writers from colliding. Callers never use it
// in cur/ or new/ (a temporary there would be taken for a message), and name
// never starts with a dot (a Maildir++ folder).
func tempName(dir, name string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, name+".tmp."+hex.EncodeToString(b[:])), nil
}

// writeSync opens path with flag, writes data, fsyncs and closes it.
func writeSync(path string, flag int, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// CreateMaildir creates a Maildir at path: the directory, its cur/, new/
// and tmp/, and for a Maildir++ folder (folder true) the empty
// maildirfolder marker that tells deliverers such as maildrop it is a
// folder (Maildir++ specification). Directories get perm, the marker perm
// without execute bits. The parent directory is fsynced so the new folder
// survives a crash. An existing directory is an error wrapping
// fs.ErrExist, so two creators cannot both succeed.
func CreateMaildir(path string, folder bool, perm os.FileMode) error {
	if err := os.Mkdir(path, perm); err != nil {
		return err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(path, sub), perm); err != nil {
			return err
		}
	}
	if folder {
		if err := writeSync(filepath.Join(path, MaildirFolderName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, nil, perm&0o666); err != nil {
			return err
		}
	}
	if err := SyncDir(path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
