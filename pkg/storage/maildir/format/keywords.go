package format

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ParseKeywords parses a dovecot-keywords file: lines "<index> <name>" with
// index 0..25. Lines that do not fit are skipped and listed in Problems, as
// Dovecot skips them (maildir_keywords_sync); a later line for the same
// index wins. A last line without a newline is used (the file is only ever
// replaced whole, never appended to).
func ParseKeywords(data []byte) *Keywords {
	k := &Keywords{}
	for n, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			// Dovecot's converter from .customflags leaves such a
			// first line; skipped silently there too.
			k.Problems = append(k.Problems, fmt.Sprintf("line %d: no space", n+1))
			continue
		}
		idx, err := strconv.ParseUint(string(line[:sp]), 10, 32)
		name := string(line[sp+1:])
		if err != nil || idx >= MaxKeywords || name == "" || strings.ContainsAny(name, "\r\x00") {
			k.Problems = append(k.Problems, fmt.Sprintf("line %d: invalid entry", n+1))
			continue
		}
		k.Names[idx] = name
	}
	return k
}

// Marshal encodes k as Dovecot writes it: "<index> <name>\n" for each used
// index in ascending order.
func (k *Keywords) Marshal() []byte {
	var b bytes.Buffer
	for i, name := range k.Names {
		if name != "" {
			fmt.Fprintf(&b, "%d %s\n", i, name)
		}
	}
	return b.Bytes()
}

// Letter returns the file-name letter of keyword name. Names match
// case-insensitively, as Dovecot's keyword hash does (strcasecmp).
func (k *Keywords) Letter(name string) (byte, bool) {
	// Dovecot's hash keeps the last index inserted for a name, and the
	// file is read in ascending index order.
	for i := MaxKeywords - 1; i >= 0; i-- {
		if k.Names[i] != "" && asciiEqualFold(k.Names[i], name) {
			return byte('a' + i), true
		}
	}
	return 0, false
}

// Name returns the keyword of letter c ('a'..'z').
func (k *Keywords) Name(c byte) (string, bool) {
	if c < 'a' || c > 'z' || k.Names[c-'a'] == "" {
		return "", false
	}
	return k.Names[c-'a'], true
}

// Add returns the letter of name, assigning the first free letter if it is
// new. It returns ErrTooManyKeywords when all 26 are taken; such a keyword
// can still live in the index, it just cannot be in file names.
func (k *Keywords) Add(name string) (byte, error) {
	if name == "" || strings.ContainsAny(name, " \r\n\x00") {
		return 0, fmt.Errorf("maildir: invalid keyword name %q", name)
	}
	if c, ok := k.Letter(name); ok {
		return c, nil
	}
	for i, n := range k.Names {
		if n == "" {
			k.Names[i] = name
			return byte('a' + i), nil
		}
	}
	return 0, ErrTooManyKeywords
}

// Resolve returns the keyword of letter c, naming a letter that has no entry
// "unknown-<index>" (with '?' appended until unique) and recording it, as
// Dovecot does for a letter whose name was lost (maildir_keywords_char_idx).
// The second result reports whether k changed and should be written.
func (k *Keywords) Resolve(c byte) (string, bool) {
	if name, ok := k.Name(c); ok {
		return name, false
	}
	if c < 'a' || c > 'z' {
		return "", false
	}
	name := "unknown-" + strconv.Itoa(int(c-'a'))
	for {
		if _, taken := k.Letter(name); !taken {
			break
		}
		name += "?"
	}
	k.Names[c-'a'] = name
	return name, true
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ReadKeywords reads dir/dovecot-keywords; a missing file is an empty
// mapping, as for Dovecot.
func ReadKeywords(dir string) (*Keywords, error) {
	data, err := os.ReadFile(filepath.Join(dir, KeywordsName))
	if errors.Is(err, fs.ErrNotExist) {
		return &Keywords{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseKeywords(data), nil
}

// WriteKeywords replaces dir/dovecot-keywords. The caller must hold the
// mailbox's dovecot-uidlist lock: like Dovecot (maildir_keywords_commit),
// which relies on that lock, a leftover dovecot-keywords.lock is removed and
// the keywords lock is taken without waiting. The new file's mtime is made
// greater, in whole seconds, than the old one's, because Dovecot rereads the
// file only when its mtime seconds change.
func WriteKeywords(dir string, k *Keywords) error {
	path := filepath.Join(dir, KeywordsName)
	var minMtime time.Time
	if fi, err := os.Stat(path); err == nil {
		minMtime = fi.ModTime().Truncate(time.Second).Add(time.Second)
	}
	if err := os.Remove(path + LockSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l, err := LockFile(path, LockOptions{StaleTimeout: KeywordsLockStaleTimeout})
	if err != nil {
		return err
	}
	if err := l.replace(k.Marshal(), minMtime); err != nil {
		if !l.released {
			l.Unlock()
		}
		return err
	}
	return nil
}
