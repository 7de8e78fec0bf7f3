package storage

import (
	"io"
)

// Storage is one mail store: the location of one namespace (a Maildir
// root now, an mbox tree next). Mailbox names here are store names:
// hierarchy levels joined with "/", UTF-8, "INBOX" for the inbox; the
// namespace prefix and separator are the User's business. Drivers
// implement it; sessions use it through User.
type Storage interface {
	// List returns every mailbox of the store, INBOX included, with the
	// hierarchy attributes filled (subscription and special-use are the
	// User's).
	List() ([]MailboxInfo, error)
	Create(name string) error
	// Delete removes a mailbox; one with children becomes \NoSelect or
	// fails with ErrInUse as the driver's layout requires (RFC 9051
	// §6.3.5).
	Delete(name string) error
	// Rename renames a mailbox with its children; renaming INBOX moves
	// its messages into a new mailbox and leaves INBOX empty (RFC 9051
	// §6.3.6).
	Rename(oldName, newName string) error
	Subscriptions() ([]string, error)
	SetSubscribed(name string, subscribed bool) error
	Status(name string) (Status, error)
	Open(name string, readOnly bool) (Mailbox, error)
	// OpenSave opens a mailbox only to add messages to it (APPEND, the
	// destination of COPY and MOVE, delivery): the handle can BeginSave
	// and be a Copy destination but does not claim \Recent, so the next
	// session that selects the mailbox still sees the new messages as
	// \Recent (RFC 3501 §2.3.2). It does not watch for changes.
	OpenSave(name string) (Mailbox, error)
	// Usage sums the sizes and counts of every message in the store
	// (for quota).
	Usage() (QuotaUsage, error)
	Close() error
}

// MailboxInfo is one LIST entry.
type MailboxInfo struct {
	Name     string // store name (Storage) or full IMAP name (User)
	NoSelect bool
	// NonExistent: no mailbox has this name, it is only the parent of
	// others (a Maildir++ level without a directory). It implies
	// NoSelect; IMAP shows it as \NonExistent to LIST-EXTENDED and
	// IMAP4rev2 clients (RFC 5258 §3, RFC 9051 §7.3.1), else \Noselect.
	NonExistent bool
	NoInferiors bool
	Children    bool // \HasChildren, else \HasNoChildren
	Subscribed  bool
	SpecialUse  []string // RFC 6154 attributes from the configuration
}

// Mailbox is a selected (or examined) mailbox as one session sees it.
// Sequence numbers refer to the session's view, which changes only in
// Sync (RFC 9051 §7.5: the server must not renumber messages behind the
// client's back). A Mailbox is used by one goroutine at a time.
type Mailbox interface {
	Name() string
	ReadOnly() bool
	UIDValidity() uint32
	// Status is computed from the current state of the mailbox, not the
	// session view.
	Status() (Status, error)
	// Keywords are the keywords defined in the mailbox (IMAP FLAGS). The
	// handle takes the caller to announce them: KeywordsChanged and
	// Changes.NewKeywords compare with the set it last returned.
	Keywords() []string
	// KeywordsChanged reports whether keywords were created (by anyone,
	// this handle's Store included) since Keywords last returned: FLAGS
	// must be sent again before a FETCH shows one (RFC 9051 §7.3.5). It
	// does not change the view, so it is safe during any command.
	KeywordsChanged() bool
	// PermanentKeywords reports whether new keywords can still be
	// created (Maildir file names hold 26).
	CanCreateKeywords() bool

	// Count, UIDAt, Seq and UIDs read the session view.
	Count() uint32
	UIDAt(seq uint32) uint32 // 0 when out of range
	Seq(uid uint32) uint32   // 0 when not in the view
	UIDs() []uint32
	UIDNext() uint32
	HighestModSeq() uint64
	// ExpungedSince returns the UIDs expunged with a modseq above modseq,
	// ascending (QRESYNC VANISHED (EARLIER), RFC 7162 §3.2.5). complete is
	// false when the store's record of expunges does not reach back to
	// modseq (an index rebuilt since): the caller must then take every
	// UID it cannot find as possibly expunged.
	ExpungedSince(modseq uint64) (uids []uint32, complete bool)
	// Recent reports \Recent for the session (RFC 3501 §2.3.2): the
	// messages that arrived since the previous session that selected the
	// mailbox read-write.
	Recent(uid uint32) bool

	// Sync brings the view up to date with changes made by others and
	// reports them.
	Sync() (Changes, error)
	// Notify returns a channel that receives a value when the mailbox
	// may have changed (a delivery, a flag change, an expunge by another
	// session or process); the session then calls Sync.
	Notify() <-chan struct{}

	// Message returns the metadata of one message of the view; an
	// expunged message gives ErrExpunged.
	Message(uid uint32) (Message, error)
	// Messages calls fn for each UID of uids (all of the view if nil) in
	// order, skipping expunged ones; it is the fast path for FETCH FLAGS
	// over a large mailbox.
	Messages(uids []uint32, fn func(Message) error) error
	// Open returns the raw message (ErrExpunged if it is gone).
	Open(uid uint32) (Body, error)
	// Cache returns a cached datum of a message (a parsed MIME
	// structure, header fields) stored with SetCache; the store never
	// interprets it. Cached data is dropped when the index is rebuilt.
	Cache(uid uint32, field string) ([]byte, bool)
	SetCache(uid uint32, field string, data []byte) error

	// Store changes flags and keywords of uids. With unchangedSince > 0
	// only messages whose modseq is <= unchangedSince change; the others
	// are returned in failed (RFC 7162 §3.1.3).
	Store(uids []uint32, op StoreOp, flags Flags, keywords []string, unchangedSince uint64) (failed []uint32, err error)
	// Expunge removes uids (all \Deleted ones if uids is nil; of uids only
	// those with \Deleted) and returns the UIDs removed. The view keeps
	// them until Sync.
	Expunge(uids []uint32) ([]uint32, error)
	// BeginSave starts a save transaction into this mailbox.
	BeginSave() (Save, error)
	// Copy copies uids into dst and returns the new UIDs in the order of
	// src (RFC 4315 COPYUID).
	Copy(dst Mailbox, uids []uint32) (srcUIDs, dstUIDs []uint32, err error)
	Close() error
}

// Body is one stored message.
type Body interface {
	io.ReaderAt
	io.Reader
	Size() int64
	Close() error
}

// Save is a save transaction: messages appended to it appear in the
// mailbox together at Commit, or not at all (RFC 3502 MULTIAPPEND).
type Save interface {
	// Append stores one message (read to EOF from r) in the transaction.
	Append(r io.Reader, opts AppendOptions) error
	// Commit makes the messages visible, durable before it returns, and
	// returns their UIDs (RFC 4315 APPENDUID).
	Commit() (uidValidity uint32, uids []uint32, err error)
	// Abort discards the messages; it is a no-op after Commit.
	Abort() error
}

// Move copies uids into dst and expunges them from src (RFC 6851).
// Drivers that can move atomically may be used through their own method;
// this fallback is safe against crashes: at worst a message is in both.
func Move(src, dst Mailbox, uids []uint32) (srcUIDs, dstUIDs []uint32, err error) {
	srcUIDs, dstUIDs, err = src.Copy(dst, uids)
	if err != nil {
		return nil, nil, err
	}
	if len(srcUIDs) == 0 {
		return nil, nil, nil
	}
	if _, err := src.Store(srcUIDs, StoreAdd, FlagDeleted, nil, 0); err != nil {
		return nil, nil, err
	}
	if _, err := src.Expunge(srcUIDs); err != nil {
		return nil, nil, err
	}
	return srcUIDs, dstUIDs, nil
}

// CopyByReading copies messages between mailboxes of any drivers by
// reading and saving them; drivers use it when they cannot link.
func CopyByReading(src, dst Mailbox, uids []uint32) (srcUIDs, dstUIDs []uint32, err error) {
	save, err := dst.BeginSave()
	if err != nil {
		return nil, nil, err
	}
	defer save.Abort()
	for _, uid := range uids {
		m, err := src.Message(uid)
		if err != nil {
			if KindOf(err) == ErrExpunged {
				continue
			}
			return nil, nil, err
		}
		b, err := src.Open(uid)
		if err != nil {
			if KindOf(err) == ErrExpunged {
				continue
			}
			return nil, nil, err
		}
		err = save.Append(io.NewSectionReader(b, 0, b.Size()), AppendOptions{Flags: m.Flags, Keywords: m.Keywords, InternalDate: m.InternalDate})
		b.Close()
		if err != nil {
			return nil, nil, err
		}
		srcUIDs = append(srcUIDs, uid)
	}
	if len(srcUIDs) == 0 {
		return nil, nil, nil
	}
	_, dstUIDs, err = save.Commit()
	if err != nil {
		return nil, nil, err
	}
	return srcUIDs, dstUIDs, nil
}
