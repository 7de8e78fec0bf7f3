package imapd

import (
	"sort"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// storageFlags splits canonical flags (imap.CanonicalFlag) into system
// flags and keywords.
func storageFlags(flags []string) (storage.Flags, []string, error) {
	var f storage.Flags
	var kws []string
	for _, v := range flags {
		if sf, ok := storage.ParseFlag(v); ok {
			f |= sf
			continue
		}
		if !storage.ValidKeyword(v) {
			return 0, nil, bad("Invalid keyword.")
		}
		kws = append(kws, v)
	}
	return f, kws, nil
}

// cmdStore: STORE and UID STORE, RFC 9051 §6.4.6. The new flags are
// reported unless .SILENT; with UID STORE the responses carry the UID.
func cmdStore(s *Session, c *cmdCtx) error {
	if len(c.args) < 2 || c.args[0].Kind != imap.Atom {
		return bad("Invalid arguments.")
	}
	st, err := imap.ParseStore(c.args[1:])
	if err != nil {
		return err
	}
	op := map[imap.StoreMode]storage.StoreOp{imap.StoreReplace: storage.StoreReplace, imap.StoreAdd: storage.StoreAdd, imap.StoreRemove: storage.StoreRemove}[st.Mode]
	silent := st.Silent
	flags, kws, err := storageFlags(st.Flags)
	if err != nil {
		return err
	}
	uids, err := s.resolveSet(c.args[0].Value, c.uid)
	if err != nil {
		return err
	}
	if s.mbox.ReadOnly() {
		return no("CANNOT", "Mailbox is read-only.")
	}
	if len(uids) == 0 {
		return nil
	}
	if st.Conditional {
		s.enableCondStore()
	}
	var failed []uint32
	if st.Conditional && st.UnchangedSince == 0 {
		// RFC 7162 §3.1.3: UNCHANGEDSINCE 0 fails for every message.
		failed = uids
	} else if failed, err = s.mbox.Store(uids, op, flags, kws, st.UnchangedSince); err != nil {
		return err
	}
	if s.mbox.KeywordsChanged() {
		// RFC 9051 §7.3.5: FLAGS before any FETCH that shows a new
		// keyword.
		s.writeFlags()
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	if s.condstore {
		return s.storeResult(c, uids, failed, silent)
	}
	if silent {
		return nil
	}
	return s.mbox.Messages(uids, func(m storage.Message) error {
		seq := s.mbox.Seq(m.UID)
		s.w.WriteString("* " + itoa(seq) + " FETCH (")
		if c.uid {
			s.w.WriteString("UID " + itoa(m.UID) + " ")
		}
		s.w.WriteString("FLAGS " + s.flagList(m) + ")\r\n")
		return nil
	})
}
