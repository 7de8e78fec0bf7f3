package format

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrCorrupt is wrapped by errors for files whose header cannot be used at
// all; Dovecot deletes such a dovecot-uidlist and rebuilds it (new
// UIDVALIDITY), so a caller should do the same.
var ErrCorrupt = errors.New("maildir: corrupt file")

// maxUID is the highest usable UID: Dovecot refuses (uint32)-1, which it uses
// internally as "UID not yet assigned" (maildir_uidlist_next).
const maxUID = 1<<32 - 2

// ParseUidlist parses a dovecot-uidlist file (versions 1 and 3). It is
// tolerant: a line that cannot be used is skipped and listed in Problems
// (Dovecot would stop at it and rebuild the file), a last line without a
// newline is a write in progress and is ignored, unknown header fields and
// record extensions are kept. It returns an error wrapping ErrCorrupt only if
// the header is unusable.
func ParseUidlist(data []byte) (*Uidlist, error) {
	u := &Uidlist{}
	lines := bytes.Split(data, []byte{'\n'})
	if last := lines[len(lines)-1]; len(last) == 0 {
		lines = lines[:len(lines)-1]
	} else {
		lines = lines[:len(lines)-1]
		if len(lines) > 0 {
			u.Problems = append(u.Problems, UidlistProblem{Line: len(lines) + 1, Reason: "truncated last line ignored"})
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: %s: empty or truncated header", ErrCorrupt, UidlistName)
	}
	if err := u.parseHeader(string(lines[0])); err != nil {
		return nil, err
	}
	hdrNext := u.NextUID
	byBase := make(map[string]int, len(lines))
	var prev uint32
	for i, raw := range lines[1:] {
		lineNo := i + 2
		rec, reason := u.parseRecord(string(raw), prev)
		if reason != "" {
			u.Problems = append(u.Problems, UidlistProblem{Line: lineNo, Reason: reason})
			continue
		}
		prev = rec.UID
		if j, dup := byBase[rec.Base]; dup {
			// A file moved back after expunge and appended again:
			// Dovecot keeps the later UID (maildir_uidlist_next).
			u.Problems = append(u.Problems, UidlistProblem{Line: lineNo,
				Reason: fmt.Sprintf("duplicate file %s (uid %d -> %d)", rec.Base, u.Records[j].UID, rec.UID)})
			u.Records = append(u.Records[:j], u.Records[j+1:]...)
			for b, k := range byBase {
				if k > j {
					byBase[b] = k - 1
				}
			}
		}
		byBase[rec.Base] = len(u.Records)
		u.Records = append(u.Records, rec)
	}
	if prev >= hdrNext {
		u.NextUID = prev + 1
	}
	return u, nil
}

// parseHeader parses "1 <uidvalidity> <nextuid>" or "3 <key><value>...".
func (u *Uidlist) parseHeader(line string) error {
	if len(line) < 2 || line[0] < '0' || line[0] > '9' || line[1] != ' ' {
		return fmt.Errorf("%w: %s: invalid version number", ErrCorrupt, UidlistName)
	}
	u.Version = int(line[0] - '0')
	rest := line[2:]
	switch u.Version {
	case 1:
		f := strings.Fields(rest)
		if len(f) < 2 {
			return fmt.Errorf("%w: %s: version 1 header", ErrCorrupt, UidlistName)
		}
		v, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%w: %s: version 1 header", ErrCorrupt, UidlistName)
		}
		u.UIDValidity, u.NextUID = uint32(v), uint32(n)
	case UidlistVersion:
		for _, field := range strings.Split(rest, " ") {
			if field == "" {
				continue
			}
			key, val := field[0], field[1:]
			switch key {
			case 'V', 'N':
				n, err := strconv.ParseUint(val, 10, 32)
				if err != nil {
					return fmt.Errorf("%w: %s: header field %q", ErrCorrupt, UidlistName, field)
				}
				if key == 'V' {
					u.UIDValidity = uint32(n)
				} else {
					u.NextUID = uint32(n)
				}
			case 'G':
				b, err := hex.DecodeString(val)
				if err != nil || len(b) != len(u.GUID) {
					return fmt.Errorf("%w: %s: invalid mailbox GUID %q", ErrCorrupt, UidlistName, val)
				}
				copy(u.GUID[:], b)
				u.HasGUID = true
			default:
				u.HeaderExt = append(u.HeaderExt, field)
			}
		}
	default:
		return fmt.Errorf("%w: %s: unsupported version %d", ErrCorrupt, UidlistName, u.Version)
	}
	if u.UIDValidity == 0 || u.NextUID == 0 {
		return fmt.Errorf("%w: %s: broken header (uidvalidity=%d, next_uid=%d)", ErrCorrupt, UidlistName, u.UIDValidity, u.NextUID)
	}
	return nil
}

// parseRecord parses one record line; a non-empty reason means it is
// unusable.
func (u *Uidlist) parseRecord(line string, prev uint32) (UidlistRecord, string) {
	var rec UidlistRecord
	i := 0
	var uid uint64
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		uid = uid*10 + uint64(line[i]-'0')
		if uid > maxUID {
			return rec, "UID too high"
		}
		i++
	}
	if uid == 0 || i == len(line) || line[i] != ' ' {
		return rec, "invalid data"
	}
	if uint32(uid) <= prev {
		return rec, fmt.Sprintf("UIDs not ordered (%d <= %d)", uid, prev)
	}
	if u.Version == 1 && uint32(uid) >= u.NextUID {
		return rec, fmt.Sprintf("UID larger than next_uid (%d >= %d)", uid, u.NextUID)
	}
	rec.UID = uint32(uid)
	for i < len(line) && line[i] == ' ' {
		i++
	}
	rest := line[i:]
	if u.Version == UidlistVersion {
		for rest != "" && rest[0] != ':' {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			if f := rest[:end]; extKeyValid(f[0]) {
				rec.Ext = append(rec.Ext, f)
			}
			// An invalid key is dropped, as Dovecot drops it
			// ("Invalid extension record, removing").
			rest = strings.TrimLeft(rest[end:], " ")
		}
		rest = strings.TrimPrefix(rest, ":")
	}
	if rest == "" {
		return rec, "missing file name"
	}
	if strings.ContainsAny(rest, "/\x00\r") {
		return rec, "broken file name"
	}
	rec.Base = BaseOf(rest)
	if rec.Base == "" {
		return rec, "missing file name"
	}
	return rec, ""
}

// extKeyValid: extension keys are upper-case letters
// (maildir-uidlist.h MAILDIR_UIDLIST_REC_EXT_KEY_IS_VALID).
func extKeyValid(c byte) bool { return c >= 'A' && c <= 'Z' }

// GetExt returns the value of extension key.
func (r UidlistRecord) GetExt(key byte) (string, bool) {
	for _, f := range r.Ext {
		if f[0] == key {
			return f[1:], true
		}
	}
	return "", false
}

// SetExt sets extension key to value, replacing an earlier value. The value
// must not contain spaces or line breaks (Marshal refuses it).
func (r *UidlistRecord) SetExt(key byte, value string) {
	r.DelExt(key)
	r.Ext = append(r.Ext, string(key)+value)
}

// DelExt removes extension key.
func (r *UidlistRecord) DelExt(key byte) {
	out := r.Ext[:0]
	for _, f := range r.Ext {
		if f[0] != key {
			out = append(out, f)
		}
	}
	r.Ext = out
}

// NewGUID returns a random mailbox GUID.
func NewGUID() ([16]byte, error) {
	var g [16]byte
	_, err := rand.Read(g[:])
	return g, err
}

// Marshal encodes u in version 3 as Dovecot writes it:
// "3 V<uidvalidity> N<nextuid> G<guid>[ <ext>...]\n" then
// "<uid>[ <ext>...] :<base>\n" per record. A missing GUID is generated and
// stored in u (Dovecot always writes one). Records must be in ascending UID
// order below NextUID.
func (u *Uidlist) Marshal() ([]byte, error) {
	if u.UIDValidity == 0 || u.NextUID == 0 {
		return nil, fmt.Errorf("%s: uidvalidity and next uid must be set", UidlistName)
	}
	if !u.HasGUID {
		g, err := NewGUID()
		if err != nil {
			return nil, err
		}
		u.GUID, u.HasGUID = g, true
	}
	for _, f := range u.HeaderExt {
		if err := checkField(f); err != nil {
			return nil, fmt.Errorf("%s: header field %q: %w", UidlistName, f, err)
		}
	}
	var b bytes.Buffer
	b.Grow(64 + len(u.Records)*64)
	fmt.Fprintf(&b, "%d V%d N%d G%s", UidlistVersion, u.UIDValidity, u.NextUID, hex.EncodeToString(u.GUID[:]))
	for _, f := range u.HeaderExt {
		b.WriteByte(' ')
		b.WriteString(f)
	}
	b.WriteByte('\n')
	var prev uint32
	for _, r := range u.Records {
		if r.UID <= prev || r.UID >= u.NextUID {
			return nil, fmt.Errorf("%s: record uid %d out of order or not below next uid %d", UidlistName, r.UID, u.NextUID)
		}
		prev = r.UID
	}
	if err := appendRecords(&b, u.Records); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalUidlistRecords encodes records as version-3 record lines, for
// AppendUidlist.
func MarshalUidlistRecords(recs []UidlistRecord) ([]byte, error) {
	var b bytes.Buffer
	err := appendRecords(&b, recs)
	return b.Bytes(), err
}

func appendRecords(b *bytes.Buffer, recs []UidlistRecord) error {
	for _, r := range recs {
		base := BaseOf(r.Base)
		if r.UID == 0 || r.UID > maxUID || base == "" || strings.ContainsAny(base, "/\n\r\x00") {
			return fmt.Errorf("%s: invalid record uid %d base %q", UidlistName, r.UID, r.Base)
		}
		b.WriteString(strconv.FormatUint(uint64(r.UID), 10))
		for _, f := range r.Ext {
			if err := checkField(f); err != nil || !extKeyValid(f[0]) {
				return fmt.Errorf("%s: uid %d: invalid extension %q", UidlistName, r.UID, f)
			}
			b.WriteByte(' ')
			b.WriteString(f)
		}
		b.WriteString(" :")
		b.WriteString(base)
		b.WriteByte('\n')
	}
	return nil
}

// checkField accepts what the parser can produce for a field: anything
// non-empty without a space or newline.
func checkField(f string) error {
	if f == "" || strings.ContainsAny(f, " \n") {
		return errors.New("empty or contains a space or newline")
	}
	return nil
}

// ReadUidlist reads and parses dir/dovecot-uidlist. A missing file is
// returned as an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadUidlist(dir string) (*Uidlist, error) {
	data, err := os.ReadFile(filepath.Join(dir, UidlistName))
	if err != nil {
		return nil, err
	}
	return ParseUidlist(data)
}

// LockUidlist takes dir/dovecot-uidlist.lock with Dovecot's stale timeout,
// waiting up to timeout (UidlistLockTimeout is Dovecot's own wait).
func LockUidlist(dir string, timeout time.Duration) (*Lock, error) {
	return LockFile(filepath.Join(dir, UidlistName), LockOptions{Timeout: timeout, StaleTimeout: UidlistLockStaleTimeout})
}

// WriteUidlist rewrites the uidlist under a held lock l (from LockUidlist):
// the content goes into the lock file, which is fsynced and renamed over
// dovecot-uidlist, releasing the lock. Readers see the old or the new file,
// never a mix; Dovecot notices the new inode on its next refresh.
func WriteUidlist(l *Lock, u *Uidlist) error {
	data, err := u.Marshal()
	if err != nil {
		return err
	}
	return l.Replace(data)
}

// AppendUidlist appends record lines to dovecot-uidlist in place while the
// caller holds its lock, as Dovecot does for new messages instead of
// rewriting the whole file (maildir_uidlist_sync_update): readers take a
// last line without a newline as a write in progress, and raise NextUID
// above the last record, so the header need not change. The file must
// exist and be version 3.
func AppendUidlist(l *Lock, recs []UidlistRecord) error {
	if err := l.Check(); err != nil {
		return err
	}
	data, err := MarshalUidlistRecords(recs)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if err := checkAppendable(f); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", l.path, err)
	}
	return f.Close()
}

// ErrNeedRewrite is returned by AppendUidlist when the file cannot be
// appended to (older version, or a torn last line from a crashed writer):
// the caller rewrites it with WriteUidlist instead.
var ErrNeedRewrite = errors.New("maildir: uidlist needs a rewrite")

func checkAppendable(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < 3 {
		return ErrNeedRewrite
	}
	var head [2]byte
	var tail [1]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(tail[:], fi.Size()-1); err != nil {
		return err
	}
	if head != [2]byte{'0' + UidlistVersion, ' '} || tail[0] != '\n' {
		return ErrNeedRewrite
	}
	return nil
}
