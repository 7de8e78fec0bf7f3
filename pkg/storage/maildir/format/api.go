package format

import (
	"errors"
	"time"
)

// File names Dovecot keeps in a Maildir (maildir-uidlist.h, maildir-keywords.c,
// maildir-storage.h, subscription-file.c, Maildir++ quota spec).
const (
	UidlistName       = "dovecot-uidlist"
	KeywordsName      = "dovecot-keywords"
	MaildirFolderName = "maildirfolder"
	SubscriptionsName = "subscriptions"
	MaildirSizeName   = "maildirsize"
	// LockSuffix is appended to a file's name to form its dotlock
	// (file-dotlock.c DEFAULT_LOCK_SUFFIX).
	LockSuffix = ".lock"
)

// UidlistVersion is the dovecot-uidlist format this package writes
// (maildir-uidlist.c UIDLIST_VERSION). Versions 1 and 3 are read; version 2
// was only written by Dovecot development snapshots and is refused, as
// Dovecot 2.3 refuses it.
const UidlistVersion = 3

// Record extension keys of a version-3 uidlist line
// (maildir-uidlist.h enum maildir_uidlist_rec_ext_key). Any key A..Z is
// valid on read; unknown ones are kept and written back.
const (
	ExtPSize     byte = 'S' // physical size in bytes
	ExtVSize     byte = 'W' // virtual (CRLF) size, RFC822.SIZE
	ExtPOP3UIDL  byte = 'P' // POP3 UIDL override
	ExtPOP3Order byte = 'O' // POP3 message order
	ExtGUID      byte = 'G' // message GUID when it is not the base name
)

// UidlistLockStaleTimeout is how old an untouched dovecot-uidlist.lock may
// grow before another process overrides it
// (maildir-uidlist.h MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT = 60*2 seconds).
const UidlistLockStaleTimeout = 2 * time.Minute

// UidlistLockTimeout is how long Dovecot waits for dovecot-uidlist.lock
// before giving up: the stale timeout + 2 seconds (maildir-uidlist.c
// maildir_uidlist_init), so a stale lock is always overridden first.
const UidlistLockTimeout = UidlistLockStaleTimeout + 2*time.Second

// KeywordsLockStaleTimeout is the stale timeout of dovecot-keywords.lock
// (maildir-keywords.c KEYWORDS_LOCK_STALE_TIMEOUT = 60*2 seconds).
const KeywordsLockStaleTimeout = 2 * time.Minute

// MaxKeywords is how many keywords a Maildir file name can carry: one
// letter each, a..z (maildir-keywords.h MAILDIR_MAX_KEYWORDS).
const MaxKeywords = 26

// Uidlist is a parsed dovecot-uidlist file.
type Uidlist struct {
	// Version is the version read (1 or 3); Marshal always writes 3.
	Version     int
	UIDValidity uint32
	// NextUID is the header's next UID raised above the highest UID read,
	// as Dovecot does when records were appended without rewriting the
	// header (maildir_uidlist_update_read).
	NextUID uint32
	// GUID is the mailbox GUID (header key G, 16 bytes as 32 hex digits);
	// HasGUID says whether the file had one. Marshal writes a zero GUID
	// only if HasGUID is false and the caller did not set one: callers
	// creating a new file should fill it with NewGUID.
	GUID    [16]byte
	HasGUID bool
	// HeaderExt holds unknown header fields verbatim ("<key><value>"), in
	// file order, written back unchanged.
	HeaderExt []string
	Records   []UidlistRecord
	// Problems lists lines that were skipped (corrupt, out of order,
	// duplicate, truncated last line). A non-empty list means the file
	// should be rewritten, as Dovecot sets its recreate flag.
	Problems []UidlistProblem
}

// UidlistRecord is one message line: UID, extension fields and the base
// file name (the part before ':', maildir_filename_get_base).
type UidlistRecord struct {
	UID uint32
	// Ext holds the extension fields in file order as "<key><value>".
	Ext  []string
	Base string
}

// UidlistProblem is one line of a uidlist that was not used.
type UidlistProblem struct {
	Line   int // 1-based line number
	Reason string
}

// Lock is a held Dovecot-style dotlock (<path>.lock).
type Lock struct {
	path     string // the file being protected
	lockPath string // path + LockSuffix
	dev, ino uint64 // identity of the lock file we created
	ctime    int64  // its change time in ns after our last write to it
	released bool
	// registered: counted in this process's held locks (lock.go).
	registered bool
}

// LockOptions tunes LockFile.
type LockOptions struct {
	// Timeout is how long to wait for a lock held by someone else;
	// 0 tries once (Dovecot's DOTLOCK_CREATE_FLAG_NONBLOCK).
	Timeout time.Duration
	// StaleTimeout: a lock file older than this (and whose protected file
	// has not changed meanwhile) is overridden. 0 means
	// UidlistLockStaleTimeout.
	StaleTimeout time.Duration
}

// ErrLockTimeout is returned by LockFile when the lock stayed held by a live
// holder for the whole timeout.
var ErrLockTimeout = errors.New("maildir: lock timeout")

// ErrLockOverridden is returned when a lock this process held was replaced
// or removed by another process that judged it stale.
var ErrLockOverridden = errors.New("maildir: lock was overridden")

// Keywords is a parsed dovecot-keywords file: Names[i] is the keyword
// written as letter 'a'+i in file names; "" marks an unused index.
type Keywords struct {
	Names [MaxKeywords]string
	// Problems lists lines that were skipped.
	Problems []string
}

// ErrTooManyKeywords is returned when all 26 keyword letters are in use.
var ErrTooManyKeywords = errors.New("maildir: all 26 keyword letters in use")

// Flags is the set of standard Maildir flags of the ":2," info.
type Flags uint8

// Standard flags, in the ASCII order Dovecot writes them
// (maildir-filename-flags.c, cr.yp.to/proto/maildir.html).
const (
	FlagDraft   Flags = 1 << iota // D
	FlagFlagged                   // F
	FlagPassed                    // P (passed/forwarded; Dovecot maps no IMAP flag to it and keeps it as an unknown flag)
	FlagReplied                   // R (\Answered)
	FlagSeen                      // S
	FlagTrashed                   // T (\Deleted)
)

// Filename is a parsed Maildir message file name.
type Filename struct {
	// Base is everything before the first ':' (including ,S= and ,W=
	// fields): the part that identifies the message across flag changes
	// (maildir_filename_base_cmp). The info is what follows the last ':'.
	Base string
	// Size and VSize are the ,S= and ,W= values; -1 when absent.
	Size, VSize int64
	// HasInfo says the name had a ":2," info part.
	HasInfo bool
	Flags   Flags
	// Keywords are keyword letters 'a'..'z' present, in ascending order.
	Keywords []byte
	// Other holds flag characters that are neither standard flags nor
	// keyword letters, kept so a rename does not drop them (Dovecot keeps
	// unknown flags, maildir-filename-flags.c).
	Other string
	// Extra is a further ",..." flag set after the first one, kept
	// verbatim (including its leading ',').
	Extra string
	// Info holds an info part that is not "2,..." (e.g. "1,..."), verbatim
	// without the ':'; such a name's flags are not interpreted.
	Info string
}

// SubscriptionsVersion is the header of the version-2 subscriptions file
// written by Dovecot 2.2+ (subscription-file.c).
const SubscriptionsVersion = "V\t2"

// Quota is the parsed content of a Maildir++ maildirsize file.
type Quota struct {
	// Limits from the first line; 0 means no limit of that kind.
	StorageLimit, MessageLimit int64
	// Bytes and Count are the sums of all lines after the first.
	Bytes, Count int64
	// Lines is the number of usage lines; Size is the file size.
	Lines int
	Size  int64
}

// Maildir++ recalculation thresholds (Maildir++ quota spec,
// www.courier-mta.org/imap/README.maildirquota.html): a maildirsize larger
// than 5120 bytes or older than 15 minutes is recalculated from scratch.
const (
	MaildirSizeMaxBytes = 5120
	MaildirSizeMaxAge   = 15 * time.Minute
)
