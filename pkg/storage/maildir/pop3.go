package maildir

import (
	"errors"
	"io/fs"
	"slices"
	"strconv"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

var _ storage.POP3Mailbox = (*mailbox)(nil)

// POP3Info implements storage.POP3Mailbox from the index (base names,
// GUIDs) and dovecot-uidlist's P (POP3 UIDL) and O (POP3 order)
// extensions, read as Dovecot's maildir-mail.c reads them:
//   - %f (MAIL_FETCH_STORAGE_ID) is the file name up to ":2,", the base
//     name the uidlist records, ",S=" and ",W=" included;
//   - %g (MAIL_FETCH_GUID) is extension G when set, else that base name;
//   - an empty P means "the base name" (Dovecot stores a UIDL equal to
//     it that way), any other P is the UIDL itself.
//
// The uidlist is read without its dotlock (through the box's parse
// cache): writers replace it by rename or append whole lines, and a torn
// last line is skipped. A P or O is taken
// only from the record whose UID and base name are the message's.
func (mb *mailbox) POP3Info(uids []uint32) (map[uint32]storage.POP3Info, error) {
	if uids == nil {
		uids = mb.view
	}
	out := make(map[uint32]storage.POP3Info, len(uids))
	mb.b.mu.Lock()
	for _, uid := range uids {
		if m := mb.b.st.msgs[uid]; m != nil {
			g := m.guid
			if g == "" {
				g = m.base
			}
			out[uid] = storage.POP3Info{GUID: g, FileName: m.base}
		}
	}
	// The parsed-uidlist cache, revalidated against the file (identity,
	// size, mtime): repeated logins do not parse it again.
	ul, err := mb.b.loadUidlist()
	mb.b.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, storage.Errorf("pop3 info", mb.name, storage.ErrTemporary, err)
	}
	for _, r := range ul.Records {
		in, ok := out[r.UID]
		if !ok || r.Base != in.FileName {
			continue
		}
		changed := false
		if p, ok := r.GetExt(format.ExtPOP3UIDL); ok {
			in.UIDL, in.HasUIDL, changed = p, true, true
			if p == "" {
				in.UIDL = in.FileName
			}
		}
		if o, ok := r.GetExt(format.ExtPOP3Order); ok {
			if n, err := strconv.ParseUint(o, 10, 32); err == nil && n > 0 {
				in.Order, changed = uint32(n), true
			}
		}
		if changed {
			out[r.UID] = in
		}
	}
	return out, nil
}

// SavePOP3UIDLs implements storage.POP3Mailbox: it records each UIDL as
// the P extension of its message's dovecot-uidlist record, unless the
// record has one already, as Dovecot's maildir_mail_update_pop3_uidl
// does: a UIDL equal to the base name is stored as an empty P. A UIDL a
// uidlist line cannot hold (a space, a control character) is skipped.
// The uidlist is rewritten under its lock, keeping every other record
// and extension.
func (mb *mailbox) SavePOP3UIDLs(uidls map[uint32]string) error {
	if len(uidls) == 0 {
		return nil
	}
	if mb.ro {
		return storage.Errorf("pop3 save uidl", mb.name, storage.ErrNoPerm, errors.New("mailbox opened read-only"))
	}
	b := mb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(false); err != nil {
		return err
	}
	defer b.unlock()
	lk, err := format.LockUidlist(b.dir, format.UidlistLockTimeout)
	if err != nil {
		return storage.Errorf("pop3 save uidl", mb.name, storage.ErrTemporary, err)
	}
	held := true
	defer func() {
		if held {
			lk.Unlock()
		}
	}()
	ul, err := b.readUidlist()
	if err != nil {
		return err
	}
	// The records may share memory with the parsed-uidlist cache.
	ul.Records = slices.Clone(ul.Records)
	changed := false
	for i := range ul.Records {
		r := &ul.Records[i]
		u, ok := uidls[r.UID]
		m := b.st.msgs[r.UID]
		if !ok || m == nil || m.base != r.Base || !uidlStorable(u) {
			continue
		}
		if _, has := r.GetExt(format.ExtPOP3UIDL); has {
			continue
		}
		if u == m.base {
			u = ""
		}
		r.Ext = append(slices.Clone(r.Ext), string(format.ExtPOP3UIDL)+u)
		changed = true
	}
	if !changed {
		return nil
	}
	held = false
	return b.writeUidlist(lk, ul, nil)
}

// uidlStorable reports whether u fits a uidlist extension value.
func uidlStorable(u string) bool {
	if u == "" {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] == 0x7f {
			return false
		}
	}
	return true
}
