package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// METADATA (RFC 5464): entries of the server ("" mailbox) and of each
// mailbox. The store keeps them as opaque name -> value pairs; entry
// syntax, case and the /private and /shared split are the protocol's
// business (one user owns the mailboxes, so both live in the same record).

// MetadataStorage is implemented by a Storage that keeps METADATA
// entries. Mailbox is a store name; "" is the store itself (server
// entries, kept in the inbox namespace's store).
type MetadataStorage interface {
	// Metadata returns every entry of the mailbox (an empty map when
	// there are none); ErrNotFound if the mailbox does not exist.
	Metadata(mailbox string) (map[string][]byte, error)
	// UpdateMetadata sets the entries of set (a nil value deletes one)
	// atomically under a lock: check, when not nil, sees the merged
	// entries before they are written and may refuse with an error,
	// which UpdateMetadata returns unchanged.
	UpdateMetadata(mailbox string, set map[string][]byte, check func(map[string][]byte) error) error
}

// ErrMetadataTooMany is returned (unwrapped, by a check function) when
// an update would exceed the number of entries a mailbox may hold.
var ErrMetadataTooMany = errors.New("too many metadata entries")

// metadataStore returns the store of the namespace holding name, or of
// the inbox namespace for server entries ("").
func (u *User) metadataStore(name string) (MetadataStorage, string, error) {
	var ns *Namespace
	store := ""
	if name == "" {
		for _, n := range u.ns {
			if n.Inbox {
				ns = n
				break
			}
		}
		if ns == nil {
			return nil, "", Errorf("metadata", name, ErrInvalid, errors.New("no inbox namespace"))
		}
	} else {
		var err error
		if ns, store, err = u.resolve(name); err != nil {
			return nil, "", err
		}
	}
	ms, ok := ns.Store.(MetadataStorage)
	if !ok {
		return nil, "", Errorf("metadata", name, ErrInvalid, errors.New("the mail store keeps no metadata"))
	}
	return ms, store, nil
}

// Metadata returns the METADATA entries of a mailbox (full IMAP name) or,
// for "", the server entries.
func (u *User) Metadata(name string) (map[string][]byte, error) {
	ms, store, err := u.metadataStore(name)
	if err != nil {
		return nil, err
	}
	return ms.Metadata(store)
}

// UpdateMetadata sets (nil value: deletes) METADATA entries of a mailbox
// or, for "", of the server; see MetadataStorage.UpdateMetadata.
func (u *User) UpdateMetadata(name string, set map[string][]byte, check func(map[string][]byte) error) error {
	ms, store, err := u.metadataStore(name)
	if err != nil {
		return err
	}
	return ms.UpdateMetadata(store, set, check)
}

// ReadMetadataFile reads a metadata record written by
// UpdateMetadataFile; a missing file is an empty record.
func ReadMetadataFile(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseMetadata(data)
}

// ParseMetadata parses a metadata record: one entry a line, the name and
// the value each a Go-quoted string (strconv.Quote) separated by a tab,
// so any byte of a value (RFC 5464 values may be binary) survives.
func ParseMetadata(data []byte) (map[string][]byte, error) {
	m := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		name, rest, err := unquotePrefix(line)
		if err != nil || len(rest) == 0 || rest[0] != '\t' {
			return nil, fmt.Errorf("metadata line %d: bad entry name", n)
		}
		value, rest, err := unquotePrefix(rest[1:])
		if err != nil || rest != "" {
			return nil, fmt.Errorf("metadata line %d: bad value", n)
		}
		m[name] = []byte(value)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func unquotePrefix(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}

// FormatMetadata is the record ParseMetadata reads, entries sorted by
// name.
func FormatMetadata(m map[string][]byte) []byte {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, k := range names {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('\t')
		b.WriteString(strconv.Quote(string(m[k])))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// UpdateMetadataFile applies set to the record at path under an
// exclusive lock (path+".lock"; sessions of one user may run at once)
// and replaces the file durably: written to a temporary file, fsynced,
// renamed over the old one and the directory fsynced, so a reader sees
// the old record or the new one, never a part.
func UpdateMetadataFile(path string, set map[string][]byte, check func(map[string][]byte) error) error {
	dir := filepath.Dir(path)
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	m, err := ReadMetadataFile(path)
	if err != nil {
		return err
	}
	changed := false
	for k, v := range set {
		old, had := m[k]
		switch {
		case v == nil && had:
			delete(m, k)
			changed = true
		case v != nil && (!had || !bytes.Equal(old, v)):
			m[k] = v
			changed = true
		}
	}
	if check != nil {
		if err := check(m); err != nil {
			return err
		}
	}
	if !changed {
		return nil
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(FormatMetadata(m)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
