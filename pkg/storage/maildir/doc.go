// Package maildir is the Maildir++ driver of package storage, sharing the
// directory with Dovecot 2.3, mutt and mbsync: INBOX at the root, folders
// in `.A.B` directories (modified UTF-7), flags in `:2,` file names,
// keywords through dovecot-keywords, UIDs and UIDVALIDITY through
// dovecot-uidlist under its dotlock (package format holds the file
// formats).
//
// Each mailbox has cote's own index beside new/ and cur/: cote-index (a
// checksummed, versioned snapshot), cote-index.log (records appended since
// the snapshot, each with a CRC so a torn append is cut off), and
// cote-modseq (an fsynced HIGHESTMODSEQ reservation, so a rebuild always
// starts above every modseq announced). Writers serialise with an OFD
// lock on cote-index.lock (processes) and box.mu (goroutines); the index
// is an accelerator: deleting it loses no mail, UID or flag, and a corrupt
// one is logged and rebuilt.
//
// Scale (scale_test.go measures it): the first open of a Maildir cote
// has no index for reads file names and stats the files (S= and W= give
// the sizes, the mtime the internal date), on a few goroutines; only a
// name without W= costs a read, which counts line ends (RFC822.SIZE)
// without parsing MIME. Structures and header caches are made on first
// use. The snapshot is streamed both ways (one record buffer, bufio;
// written to a temporary file, fsynced, renamed), so beside the state
// itself a load or a compaction holds no copy of the index.
//
// Sync cost (dirsync.go): every IMAP command ends with a sync, which is
// a lock, two stats of the index files and two of new/ and cur/ when
// nothing changed. Saves, flag renames (STORE) and expunges are recorded
// as cote's own changes of new/ and cur/, so they cost no directory read
// in any cote process; a directory is read when another program changed
// it, or once dirtyWindow after cote's changes (a change hidden behind
// the same timestamp). A STORE or EXPUNGE writes its index records in
// one log append.
//
// METADATA (metadata.go): a mailbox's RFC 5464 entries are in
// cote-metadata in its directory (so they follow RENAME and go with
// DELETE), the server's in cote-metadata-server at the root, each
// replaced atomically under cote-metadata*.lock.
//
// Quota (quota.go): each index keeps the sizes and count of its messages
// as records are applied; the Driver remembers them for closed mailboxes,
// so usage is counted, never recounted from file names on a save. With
// quota = maildir the Maildir++ maildirsize file is kept up to date on
// every commit and expunge, as Dovecot and Courier keep it.
//
// Cache (cache.go): a save parses the message once and stores its MIME
// tree under storage.CacheStructure and its preview under
// storage.CachePreview (charsets other than UTF-8 converted by the
// decoder Driver.SetCharsetDecoder gives; without one such previews are
// left to the IMAP engine) and its header fields under
// storage.CacheHeaders; a copy keeps the source's tree, preview, header
// fields and GUID (the uidlist's G extension, as Dovecot records it), so
// EMAILID survives copies and rebuilds. SetCacheBatch appends many cache
// records (a search filling header caches) in one log write under one
// lock.
//
// POP3 (pop3.go): storage.POP3Mailbox reads dovecot-uidlist's P (POP3
// UIDL) and O (POP3 order) extensions at each call, so values Dovecot
// stored after cote indexed a message count; %f is the base name and %g
// the G extension or the base name, as Dovecot's maildir-mail.c has them.
// Rewrites of the uidlist keep every record extension they read.
//
// Delivery speed (commit.go, share.go): concurrent commits into one
// mailbox are made together by whichever gets the mailbox first (group
// commit: one index lock, one uidlist dotlock, one fsync of new/ and one
// of dovecot-uidlist for all of them, the two running at the same time,
// so on a disk where each fsync ends in a cache flush the flushes
// overlap); a save-only handle (OpenSave)
// reads no directory; a message shared through storage.Delivery is
// hard-linked from the first recipient's tmp/ into the others' tmp/ and
// committed there like any message. Commits into different mailboxes
// fsync in parallel: the file system batches concurrent fsyncs into one
// journal commit. syncfs(2) batching (BenchmarkFsyncRate/syncfs) was not
// clearly faster on a loaded disk and flushes every dirty file of the
// file system, whoever wrote it, so one large write elsewhere would
// stall every delivery.
//
// Invariants:
//   - A saved message is in tmp/, fsynced, renamed into new/ or cur/, the
//     directory fsynced and its UID written (fsynced) to dovecot-uidlist
//     before Commit returns, also when its commit was made by another
//     goroutine's group commit or its file is a link to another
//     recipient's.
//   - A UID is assigned only under the dovecot-uidlist lock and never
//     reused; files renamed, added or removed by other programs are picked
//     up by the next scan (directory mtimes say when one is needed).
//   - One Driver per process: one in-memory index per mailbox and one
//     inotify watcher (fsnotify) for all sessions. The last few mailboxes
//     no session has open keep their index in memory (Driver.idle, no
//     file descriptor); reopening one revalidates it against the index
//     files (snapshot identity, mtime and size; log offset) like any
//     refresh, so a repeated SELECT does not decode it again. How many
//     is a per-process choice (Driver.SetIdleLimits: the lmtp process
//     keeps dozens, bounded in messages, so a delivery reads only the
//     index changes since its last delivery to the same mailbox).
//
// Must not import protocol packages (imap, pop3, lmtp) or auth.
package maildir
