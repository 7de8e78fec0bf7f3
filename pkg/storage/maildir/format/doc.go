// Package format reads and writes the files of a Maildir++ mailbox tree
// byte-compatibly with Dovecot 2.3, so that cote, Dovecot, mutt and other
// Maildir programs can share one Maildir and keep its UIDs, UIDVALIDITY,
// flags, keywords, folders and subscriptions.
//
// Formats (sources: Dovecot 2.3 src/lib-storage/index/maildir/ and
// src/lib-storage/list/subscription-file.c, the Maildir specification at
// cr.yp.to/proto/maildir.html, the Maildir++ quota specification at
// www.courier-mta.org/imap/README.maildirquota.html, RFC 3501 §5.1.3):
//
//   - dovecot-uidlist, version 3 (versions 1 read): ParseUidlist,
//     Uidlist.Marshal, ReadUidlist, LockUidlist, WriteUidlist, AppendUidlist.
//   - dovecot-keywords: ParseKeywords, Keywords.Marshal, ReadKeywords,
//     WriteKeywords; keyword letters a..z in ":2," infos.
//   - Message file names: ParseFilename, Filename.String, BaseGenerator,
//     EscapeHostname, WithSizes, CompareNames, SizeCounter (,W= sizes).
//   - Maildir++ folder names with modified UTF-7 levels: FolderDir,
//     FolderName, ValidateName, EncodeMUTF7, DecodeMUTF7; the maildirfolder
//     marker is MaildirFolderName.
//   - subscriptions (version 2): ParseSubscriptions, MarshalSubscriptions,
//     ReadSubscriptions, UpdateSubscriptions.
//   - maildirsize (Maildir++ quota): ParseMaildirSize, ReadMaildirSize,
//     WriteMaildirSize, AppendMaildirSize, Quota.NeedsRecalc.
//   - Dotlocks as Dovecot's file-dotlock.c takes them (LockFile, Lock) and
//     durable writes (WriteFileAtomic, SyncDir, CreateMaildir).
//
// This package imports no cote package and holds no state beyond a Lock or
// BaseGenerator value and the process's table of held locks (weak
// pointers, lock.go): the Maildir driver (pkg/storage/maildir) decides
// when to lock, read and write.
//
// Invariants:
//   - Parsers never panic and never fail on a line they do not understand:
//     they skip it and report it (Uidlist.Problems, Keywords.Problems), so a
//     damaged file costs at most the damaged lines. Only an unusable
//     uidlist header is an error (ErrCorrupt), as Dovecot then rebuilds.
//   - Every file that other processes read is replaced whole by renaming a
//     fully written, fsynced file over it (the dotlock file itself for
//     uidlist, keywords, subscriptions and maildirsize, as Dovecot's
//     file_dotlock_replace does), then the directory is fsynced; readers see
//     the old or the new content, never a mix. The only in-place writes are
//     appends Dovecot also makes (uidlist records under the lock,
//     maildirsize change lines), which readers tolerate as a torn last line.
//   - A writer of dovecot-uidlist, dovecot-keywords, subscriptions or
//     maildirsize holds the matching ".lock" dotlock, which Dovecot honours
//     and which this package honours when Dovecot holds it.
//   - A dotlock this package takes always names its holder: it is linked
//     into place with "<pid>:<host>" already written, so a holder killed at
//     any instant leaves a lock the next locker overrides at once (dead
//     PID), never one that blocks for the two-minute stale timeout. A Lock
//     dropped without Unlock is overridden by its own process once the
//     garbage collector has freed it.
package format
