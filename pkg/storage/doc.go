// Package storage is the mail store API that the IMAP, POP3 and LMTP
// sessions use, independent of the on-disk format: a User opened from
// userdb fields (home, mail location, quota_rule) holds namespaces
// (prefix, separator, inbox, special-use and auto mailboxes from
// `mailbox {}` sections) over Storages (one per location, implemented by
// drivers such as storage/maildir), and a Mailbox is one session's view of
// a selected mailbox.
//
// RFCs: 9051 and 3501 (mailbox names, INBOX, \Recent, sequence numbers),
// 7162 (CONDSTORE/QRESYNC modseqs), 4315 (UIDPLUS), 6851 (MOVE), 6154
// (special-use), 9208 (QUOTA), 8474 (EMAILID; MAILBOXID as
// Status.MailboxID and the optional MailboxIDer: fixed when the mailbox
// is created, kept through renames; the maildir driver uses the mailbox
// GUID of dovecot-uidlist's header, as Dovecot does), 8514 (SAVEDATE).
//
// Invariants:
//   - Sequence numbers of a Mailbox change only in Sync, never behind the
//     session's back.
//   - Only a handle opened to select read-write (Open(name, false))
//     claims \Recent; a save-only handle (OpenSave: APPEND, COPY/MOVE
//     targets, delivery) never does, so \Recent reaches the next session
//     that selects the mailbox (RFC 3501 §2.3.2).
//   - Every error a driver returns carries one of the Err* kinds
//     (errors.Is), so protocols map outcomes to response codes in one
//     place; the wrapped cause is for the log and may name paths.
//   - Nothing here assumes Maildir: names are "/"-joined levels in the
//     Storage interface, and cached message data is opaque bytes.
//
// Quota (RFC 9208): one root per user over all namespaces; drivers count
// usage (the maildir driver in its indexes, or in a Dovecot-compatible
// maildirsize with QuotaBackend "maildir") and refuse a save that would
// exceed it with ErrOverQuota before anything becomes visible.
//
// Cached message structure: CacheStructure holds message.Part's binary
// form, written at save time; LoadMessage reads it and repairs a missing
// or corrupt entry. LoadMessage reads the message through ReadBody, which
// maps files of MapThreshold bytes or more read-only (outside the Go heap
// and RLIMIT_DATA) and returns the release the caller must call. CachePreview holds the RFC 8970 PREVIEW text
// (ParseAtSave computes both at save).
// CacheHeaders (hdrcache.go) holds raw header fields (HeaderCache:
// every occurrence of each covered name, values as written), made at save
// for CachedHeaderNames (HeaderCacheOf) and extended by the IMAP engine
// with the fields a search reads, so header SEARCH keys, SORT and THREAD
// read no message file; a record that does not decode exactly (checksum,
// canonical form) is ignored. CacheBatcher stores many entries in one
// index write (SetCaches).
//
// One write for many recipients (shared.go): a Delivery saves one message
// into many users' mailboxes, writing and syncing it once (the first
// Save.Append) and adding it to the others by reference where the driver
// can (Save implementing Sharer and Linker: a Maildir hard link on the
// same file system with the same owner), by writing it again where it
// cannot. Each recipient's save is an ordinary save: quota is checked and
// counted per recipient, and its Commit returns once the message is
// durable in that mailbox.
//
// METADATA (metadata.go, RFC 5464): a Storage may implement
// MetadataStorage to keep name -> value entries per mailbox and for the
// server (""); User.Metadata and UpdateMetadata route a full IMAP name
// (server entries: the inbox namespace's store). The record format
// (FormatMetadata: Go-quoted name and value a line) and its locked,
// fsynced, renamed update (UpdateMetadataFile) are shared by drivers.
//
// POP3 data (pop3.go): a Mailbox may implement POP3Mailbox to give the
// per-message values of pop3_uidl_format's %f and %g and a UIDL and order
// an earlier POP3 server stored (Dovecot's dovecot-uidlist P and O).
//
// Imports: pkg/message, zap. It must not import pkg/settings (pkg/mailuser
// turns settings into a UserConfig), protocol packages, auth, or its own
// drivers (the process main wires drivers in through OpenUser's driver
// map).
package storage
