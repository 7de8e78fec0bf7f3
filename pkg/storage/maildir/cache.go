package maildir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// capped collects what is written to it up to storage.MapThreshold
// bytes, so a save can parse a small message it just wrote without
// reading the file again; past the cap it keeps nothing (the save maps the
// file instead).
type capped struct {
	b    []byte
	over bool
}

// fileBody is a written message file as a storage.Body.
type fileBody struct {
	*os.File
	size int64
}

func (b fileBody) Size() int64 { return b.size }

func (c *capped) Write(p []byte) (int, error) {
	if !c.over {
		if len(c.b)+len(p) > storage.MapThreshold {
			c.over, c.b = true, nil
		} else {
			c.b = append(c.b, p...)
		}
	}
	return len(p), nil
}

// guidOf is the message GUID as Dovecot's maildir defines it
// (maildir-mail.c MAIL_FETCH_GUID): the uidlist's G extension when set,
// else the base name up to its first ','.
func guidOf(m *msg) string {
	if m.guid != "" {
		return m.guid
	}
	g, _, _ := strings.Cut(m.base, ",")
	return g
}

// uidlistRecord is m's dovecot-uidlist line: its GUID goes in extension G
// when it is not the base name's.
func uidlistRecord(m *msg) format.UidlistRecord {
	r := format.UidlistRecord{UID: m.uid, Base: m.base}
	if m.guid != "" {
		r.SetExt(format.ExtGUID, m.guid)
	}
	return r
}

// uidlistMissing reports whether the mailbox has no dovecot-uidlist yet:
// the first sync of an empty mailbox writes one so its UIDVALIDITY is
// fixed from then on, as Dovecot's first sync does.
func (b *box) uidlistMissing() bool {
	_, err := os.Stat(filepath.Join(b.dir, format.UidlistName))
	return errors.Is(err, fs.ErrNotExist)
}

// SetCacheBatch implements storage.CacheBatcher: every entry in one log
// append under one index lock, so a search that filled the header cache
// of thousands of messages costs one write, not one per message.
func (mb *mailbox) SetCacheBatch(entries []storage.CacheEntry) error {
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(false); err != nil {
		return err
	}
	defer b.unlock()
	var enc []byte
	for _, e := range entries {
		if b.st.msgs[e.UID] == nil {
			continue // expunged meanwhile
		}
		enc = appendCache(enc, e.UID, e.Field, e.Data)
	}
	return b.appendLog(enc)
}
