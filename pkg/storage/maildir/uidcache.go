package maildir

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// uidlistCache is the last dovecot-uidlist this process parsed, keyed by
// the file's identity, size and mtime. A 100,000-message uidlist takes
// tens of milliseconds to parse; UIDNEXT, every save and every sync that
// finds new files would otherwise read it whole. Dovecot, cote and mutt
// either append lines to the file (the header stays) or replace it by
// rename (a new inode), so a grown file of the same inode is parsed from
// where the cached parse ended.
type uidlistCache struct {
	id    fileID
	size  int64 // bytes parsed: the file ended with a newline there
	mtime int64 // ns
	hdr   []byte
	ul    *format.Uidlist // NextUID raised past the last record
}

func statKey(fi os.FileInfo) (fileID, int64) {
	var mt int64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		mt = st.Mtim.Nano()
	}
	return idOf(fi), mt
}

// uidlistCopy returns a copy of ul a caller may change (NextUID, adding
// records) without touching the cache.
func uidlistCopy(ul *format.Uidlist) *format.Uidlist {
	c := *ul
	c.Records = slices.Clip(c.Records)
	c.Problems = nil
	return &c
}

// loadUidlist returns dovecot-uidlist parsed, from the cache where the
// file is unchanged, reading only appended lines where it grew. The
// caller may change the result.
func (b *box) loadUidlist() (*format.Uidlist, error) {
	f, err := os.Open(b.path(format.UidlistName))
	if err != nil {
		b.ulc = uidlistCache{}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	id, mt := statKey(fi)
	c := &b.ulc
	if c.ul != nil && c.id == id && c.size == fi.Size() && c.mtime == mt {
		return uidlistCopy(c.ul), nil
	}
	if c.ul != nil && c.id == id && fi.Size() > c.size {
		if ul, ok := b.parseTail(f, fi.Size(), mt); ok {
			return ul, nil
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	ul, err := format.ParseUidlist(data)
	if err != nil {
		b.ulc = uidlistCache{}
		return nil, err
	}
	b.ulc = uidlistCache{}
	if len(ul.Problems) == 0 && len(data) > 0 && data[len(data)-1] == '\n' {
		nl := bytes.IndexByte(data, '\n')
		b.ulc = uidlistCache{id: id, size: int64(len(data)), mtime: mt, hdr: append([]byte(nil), data[:nl+1]...), ul: uidlistCopy(ul)}
	}
	return ul, nil
}

// parseTail parses the lines appended since the cached parse. It returns
// false when the tail is not whole lines or does not parse cleanly; the
// caller then reads the whole file.
func (b *box) parseTail(f *os.File, size, mt int64) (*format.Uidlist, bool) {
	c := &b.ulc
	tail := make([]byte, size-c.size)
	if _, err := f.ReadAt(tail, c.size); err != nil {
		return nil, false
	}
	if tail[len(tail)-1] != '\n' {
		return nil, false // a write in progress: Dovecot's readers wait too
	}
	part, err := format.ParseUidlist(append(slices.Clip(c.hdr), tail...))
	if err != nil || len(part.Problems) > 0 {
		return nil, false
	}
	ul := uidlistCopy(c.ul)
	for _, r := range part.Records {
		if n := len(ul.Records); n > 0 && r.UID <= ul.Records[n-1].UID {
			return nil, false // out of order: let the full parser judge
		}
		ul.Records = append(ul.Records, r)
		if r.UID >= ul.NextUID {
			ul.NextUID = r.UID + 1
		}
	}
	c.size, c.mtime, c.ul = size, mt, uidlistCopy(ul)
	return ul, true
}

// uidlistWritten records that this process wrote ul as the whole
// content of dovecot-uidlist (a rewrite or an append), so the next read
// is served from the cache.
func (b *box) uidlistWritten(ul *format.Uidlist) {
	fi, err := os.Stat(b.path(format.UidlistName))
	if err != nil {
		b.ulc = uidlistCache{}
		return
	}
	id, mt := statKey(fi)
	hdr := b.ulc.hdr
	if b.ulc.id != id || hdr == nil {
		// Replaced: read the new header line back.
		f, err := os.Open(b.path(format.UidlistName))
		if err != nil {
			b.ulc = uidlistCache{}
			return
		}
		buf := make([]byte, 512)
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		nl := bytes.IndexByte(buf[:n], '\n')
		if nl < 0 {
			b.ulc = uidlistCache{}
			return
		}
		hdr = append([]byte(nil), buf[:nl+1]...)
	}
	b.ulc = uidlistCache{id: id, size: fi.Size(), mtime: mt, hdr: hdr, ul: uidlistCopy(ul)}
}

// uidlistNext is the uidlist's next UID (0 when there is none).
func (b *box) uidlistNext() (uint32, error) {
	ul, err := b.loadUidlist()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	return ul.NextUID, nil
}
