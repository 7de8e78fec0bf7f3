package maildir

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// uidlistGUID reads the mailbox GUID from the first line of
// dovecot-uidlist only: SELECT and STATUS must not parse the records of
// a 100,000-message uidlist for it.
func (b *box) uidlistGUID() ([16]byte, bool) {
	f, err := os.Open(b.path(format.UidlistName))
	if err != nil {
		return [16]byte{}, false
	}
	defer f.Close()
	buf := make([]byte, 1024)
	n, _ := io.ReadFull(f, buf)
	line, _, ok := bytes.Cut(buf[:n], []byte("\n"))
	if !ok {
		return [16]byte{}, false // a header longer than buf: the slow path
	}
	ul, err := format.ParseUidlist(append(line, '\n'))
	if err != nil || !ul.HasGUID || ul.GUID == ([16]byte{}) {
		return [16]byte{}, false
	}
	return ul.GUID, true
}

// mailboxID returns the RFC 8474 MAILBOXID: the mailbox GUID of
// dovecot-uidlist's header (key G) in hex, as Dovecot's MAILBOXID is.
// The uidlist lives in the mailbox directory, so the id moves with a
// rename and goes with a delete; a recreated mailbox gets a new random
// one. It is read from the uidlist's header line each time
// (uidlistGUID) rather than kept in the box, which may outlive its
// mailbox. A uidlist without a GUID (written by an old tool) gets one
// now, and the rewritten header keeps it from then on. The caller holds
// b.mu and the index is open.
func (b *box) mailboxID() (string, error) {
	if g, ok := b.uidlistGUID(); ok {
		return hex.EncodeToString(g[:]), nil
	}
	lk, err := format.LockUidlist(b.dir, format.UidlistLockTimeout)
	if err != nil {
		return "", storage.Errorf("status", b.name, storage.ErrTemporary, err)
	}
	ul, err := b.loadUidlist()
	missing := errors.Is(err, fs.ErrNotExist)
	if missing {
		ul, err = b.readUidlist() // a new one, from the index's UIDs
	}
	if err != nil {
		lk.Unlock()
		return "", storage.Errorf("status", b.name, storage.ErrTemporary, err)
	}
	if ul.HasGUID && ul.GUID != ([16]byte{}) && !missing {
		lk.Unlock() // another process added it meanwhile
		return hex.EncodeToString(ul.GUID[:]), nil
	}
	if !ul.HasGUID || ul.GUID == ([16]byte{}) {
		g, err := format.NewGUID()
		if err != nil {
			lk.Unlock()
			return "", storage.Errorf("status", b.name, storage.ErrTemporary, err)
		}
		ul.GUID, ul.HasGUID = g, true
	}
	if n := b.nextUID(); ul.NextUID < n {
		ul.NextUID = n
	}
	// writeUidlist with nothing added rewrites the whole file and
	// releases lk.
	if err := b.writeUidlist(lk, ul, nil); err != nil {
		return "", err
	}
	return hex.EncodeToString(ul.GUID[:]), nil
}
