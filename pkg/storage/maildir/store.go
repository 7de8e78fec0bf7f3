package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/storage"
)

// Store is one Maildir++ tree: INBOX at the root, folders in `.A.B`
// subdirectories.
type Store struct {
	d          *Driver
	root       string
	log        *zap.Logger
	checkQuota func(bytes, msgs int64) error
	// quotaBackend is "", "count" or "maildir" (quota.go); quotaLimits
	// go into maildirsize's first line.
	quotaBackend string
	quotaLimits  storage.Quota
	quotaVSizes  bool
}

// dirOf maps a store name to its directory.
func (s *Store) dirOf(name string) (string, error) {
	if storage.IsInbox(name) {
		return s.root, nil
	}
	if err := storage.ValidStoreName(name); err != nil {
		return "", err
	}
	enc, err := encodeFolder(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.root, enc), nil
}

func (s *Store) badName(op, name string, err error) error {
	return storage.Errorf(op, name, storage.ErrInvalid, err)
}

// List implements storage.Storage.
func (s *Store) List() ([]storage.MailboxInfo, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, storage.Errorf("list", "", kindOfOS(err), err)
	}
	exists := map[string]bool{"INBOX": true}
	for _, e := range ents {
		n := e.Name()
		if len(n) < 2 || n[0] != '.' || n[1] == '.' {
			continue
		}
		if !e.IsDir() {
			if e.Type()&os.ModeSymlink == 0 {
				continue
			}
			if fi, err := os.Stat(filepath.Join(s.root, n)); err != nil || !fi.IsDir() {
				continue
			}
		}
		name, err := decodeFolder(n)
		if err != nil {
			s.log.Warn("maildir folder name not decodable, skipped", zap.String("dir", n), zap.Error(err))
			continue
		}
		if storage.IsInbox(name) {
			continue
		}
		exists[name] = true
	}
	all := map[string]bool{}
	for n := range exists {
		all[n] = true
		for i := strings.LastIndexByte(n, '/'); i > 0; i = strings.LastIndexByte(n[:i], '/') {
			all[n[:i]] = true
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]storage.MailboxInfo, 0, len(names))
	for i, n := range names {
		mi := storage.MailboxInfo{Name: n, NoSelect: !exists[n], NonExistent: !exists[n]}
		if i+1 < len(names) && strings.HasPrefix(names[i+1], n+"/") {
			mi.Children = true
		}
		out = append(out, mi)
	}
	return out, nil
}

// Create implements storage.Storage.
func (s *Store) Create(name string) error {
	dir, err := s.dirOf(name)
	if err != nil {
		return s.badName("create", name, err)
	}
	if storage.IsInbox(name) {
		return storage.Errorf("create", name, storage.ErrExists, nil)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return storage.Errorf("create", name, kindOfOS(err), err)
	}
	if err := makeMaildir(dir, true); err != nil {
		return storage.Errorf("create", name, kindOfOS(err), err)
	}
	return syncDir(s.root)
}

// Delete implements storage.Storage. Children are separate directories
// in Maildir++ and stay; the parent then lists as \NoSelect.
func (s *Store) Delete(name string) error {
	dir, err := s.dirOf(name)
	if err != nil {
		return s.badName("delete", name, err)
	}
	if storage.IsInbox(name) {
		return storage.Errorf("delete", name, storage.ErrInvalid, errors.New("INBOX cannot be deleted"))
	}
	// Rename first so the mailbox disappears at once even if removing a
	// large directory is interrupted; the trash name starts with ".." so
	// List never shows it (Dovecot uses "..DOVECOT-TRASH" the same way).
	trash, err := os.MkdirTemp(s.root, "..cote-trash-")
	if err != nil {
		return storage.Errorf("delete", name, kindOfOS(err), err)
	}
	if err := os.Rename(dir, filepath.Join(trash, "box")); err != nil {
		os.Remove(trash)
		return storage.Errorf("delete", name, kindOfOS(err), err)
	}
	s.d.notifyDir(dir)
	if err := os.RemoveAll(trash); err != nil {
		s.log.Warn("removing deleted mailbox", zap.Error(err))
	}
	return nil
}

// Rename implements storage.Storage: the folder and its children, or for
// INBOX its messages into a new folder (RFC 9051 §6.3.6).
func (s *Store) Rename(oldName, newName string) error {
	odir, err := s.dirOf(oldName)
	if err != nil {
		return s.badName("rename", oldName, err)
	}
	ndir, err := s.dirOf(newName)
	if err != nil {
		return s.badName("rename", newName, err)
	}
	if storage.IsInbox(newName) {
		return storage.Errorf("rename", newName, storage.ErrExists, nil)
	}
	if _, err := os.Stat(ndir); err == nil {
		return storage.Errorf("rename", newName, storage.ErrExists, nil)
	}
	if storage.IsInbox(oldName) {
		return s.renameInbox(newName, ndir)
	}
	if _, err := os.Stat(odir); err != nil {
		return storage.Errorf("rename", oldName, kindOfOS(err), err)
	}
	if strings.HasPrefix(newName+"/", oldName+"/") {
		return storage.Errorf("rename", newName, storage.ErrInvalid, errors.New("cannot rename a mailbox into itself"))
	}
	// Children first would leave a half-renamed tree on failure either
	// way; rename the parent first so a crash leaves the parent renamed
	// and the children under the old name, each a valid mailbox.
	kids, err := s.children(oldName)
	if err != nil {
		return err
	}
	for _, k := range kids {
		nk := newName + k[len(oldName):]
		nd, err := s.dirOf(nk)
		if err != nil {
			return s.badName("rename", nk, err)
		}
		if _, err := os.Stat(nd); err == nil {
			return storage.Errorf("rename", nk, storage.ErrExists, nil)
		}
	}
	if err := os.Rename(odir, ndir); err != nil {
		return storage.Errorf("rename", oldName, kindOfOS(err), err)
	}
	s.d.notifyDir(odir)
	for _, k := range kids {
		od, _ := s.dirOf(k)
		nd, _ := s.dirOf(newName + k[len(oldName):])
		if err := os.Rename(od, nd); err != nil {
			return storage.Errorf("rename", k, kindOfOS(err), err)
		}
		s.d.notifyDir(od)
	}
	return syncDir(s.root)
}

// children returns the existing descendants of name.
func (s *Store) children(name string) ([]string, error) {
	infos, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mi := range infos {
		if !mi.NoSelect && strings.HasPrefix(mi.Name, name+"/") {
			out = append(out, mi.Name)
		}
	}
	return out, nil
}

// renameInbox moves INBOX's messages into a new folder: RFC 9051 §6.3.6
// says renaming INBOX moves its messages and leaves INBOX empty, its
// children untouched. The files keep their names; the new folder assigns
// them UIDs when it first syncs, and INBOX's next sync expunges them.
func (s *Store) renameInbox(newName, ndir string) error {
	if err := os.Mkdir(ndir, 0o700); err != nil {
		return storage.Errorf("rename", newName, kindOfOS(err), err)
	}
	if err := makeMaildir(ndir, true); err != nil {
		return storage.Errorf("rename", newName, kindOfOS(err), err)
	}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(s.root, sub))
		if err != nil {
			return storage.Errorf("rename", "INBOX", kindOfOS(err), err)
		}
		for _, e := range ents {
			if e.Name()[0] == '.' {
				continue
			}
			err := os.Rename(filepath.Join(s.root, sub, e.Name()), filepath.Join(ndir, sub, e.Name()))
			if err != nil && !os.IsNotExist(err) {
				return storage.Errorf("rename", "INBOX", kindOfOS(err), err)
			}
		}
		if err := syncDir(filepath.Join(ndir, sub)); err != nil {
			return err
		}
		if err := syncDir(filepath.Join(s.root, sub)); err != nil {
			return err
		}
	}
	s.d.notifyDir(s.root)
	return nil
}

// Subscriptions implements storage.Storage.
func (s *Store) Subscriptions() ([]string, error) {
	subs, err := readSubscriptions(s.root)
	if err != nil {
		return nil, storage.Errorf("subscriptions", "", storage.ErrTemporary, err)
	}
	return subs, nil
}

// SetSubscribed implements storage.Storage.
func (s *Store) SetSubscribed(name string, on bool) error {
	if err := updateSubscriptions(s.root, name, on); err != nil {
		return storage.Errorf("subscribe", name, storage.ErrTemporary, err)
	}
	return nil
}

// Status implements storage.Storage.
func (s *Store) Status(name string) (storage.Status, error) {
	mb, err := s.open(name, openExamine, false)
	if err != nil {
		return storage.Status{}, err
	}
	defer mb.Close()
	// open has just brought the index up to date: no second refresh.
	mb.b.mu.Lock()
	defer mb.b.mu.Unlock()
	return mb.b.status()
}

// Open implements storage.Storage.
func (s *Store) Open(name string, readOnly bool) (storage.Mailbox, error) {
	mode := openSelect
	if readOnly {
		mode = openExamine
	}
	return s.open(name, mode, true)
}

// OpenSave implements storage.Storage.
func (s *Store) OpenSave(name string) (storage.Mailbox, error) {
	return s.open(name, openSave, false)
}

// Close implements storage.Storage.
func (s *Store) Close() error { return nil }

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return storage.Errorf("sync", "", kindOfOS(err), err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return storage.Errorf("sync", "", storage.ErrTemporary, fmt.Errorf("fsync %s: %w", dir, err))
	}
	return nil
}
