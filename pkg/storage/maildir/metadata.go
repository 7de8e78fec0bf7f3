package maildir

import (
	"os"
	"path/filepath"

	"github.com/cote-mail/cote/pkg/storage"
)

// METADATA (RFC 5464) records (storage.MetadataStorage): a mailbox's
// entries live in its own directory, so they move with RENAME and go
// with DELETE without bookkeeping; the server's in the root beside
// INBOX's. The format is storage.FormatMetadata's, replaced atomically.
const (
	metadataFile       = "cote-metadata"
	serverMetadataFile = "cote-metadata-server"
)

var _ storage.MetadataStorage = (*Store)(nil)

// metadataPath is the record of a mailbox ("" for the server), after
// checking that the mailbox exists.
func (s *Store) metadataPath(op, name string) (string, error) {
	if name == "" {
		return filepath.Join(s.root, serverMetadataFile), nil
	}
	dir, err := s.dirOf(name)
	if err != nil {
		return "", s.badName(op, name, err)
	}
	// A Maildir++ parent without a directory (\NonExistent) has no
	// entries and cannot get any.
	if _, err := os.Stat(filepath.Join(dir, "cur")); err != nil {
		return "", storage.Errorf(op, name, kindOfOS(err), err)
	}
	return filepath.Join(dir, metadataFile), nil
}

// Metadata implements storage.MetadataStorage.
func (s *Store) Metadata(name string) (map[string][]byte, error) {
	path, err := s.metadataPath("getmetadata", name)
	if err != nil {
		return nil, err
	}
	m, err := storage.ReadMetadataFile(path)
	if err != nil {
		return nil, storage.Errorf("getmetadata", name, storage.ErrTemporary, err)
	}
	return m, nil
}

// UpdateMetadata implements storage.MetadataStorage.
func (s *Store) UpdateMetadata(name string, set map[string][]byte, check func(map[string][]byte) error) error {
	path, err := s.metadataPath("setmetadata", name)
	if err != nil {
		return err
	}
	var checkErr error
	wrapped := check
	if check != nil {
		wrapped = func(m map[string][]byte) error {
			checkErr = check(m)
			return checkErr
		}
	}
	if err := storage.UpdateMetadataFile(path, set, wrapped); err != nil {
		if checkErr != nil {
			return checkErr
		}
		return storage.Errorf("setmetadata", name, kindOfOS(err), err)
	}
	return nil
}
