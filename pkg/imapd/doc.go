// Package imapd is the post-login IMAP session engine: given an
// authenticated *storage.User and the client connection, a Session serves
// every command of the authenticated and selected states (RFC 9051, RFC
// 3501) until LOGOUT, an I/O error or shutdown.
//
// RFCs: 9051 and 3501 (IMAP4rev2 and IMAP4rev1, with \Recent for rev1
// clients until ENABLE IMAP4rev2), 5161 (ENABLE), 2177 (IDLE), 2342
// (NAMESPACE), 2971 (ID), 3691 (UNSELECT), 4315 (UIDPLUS), 6851 (MOVE),
// 3348 (CHILDREN), 6154 (SPECIAL-USE), 5258 and 5819 (LIST-EXTENDED,
// LIST-STATUS), 4731 (ESEARCH), 5182 (SEARCHRES), 8438 (STATUS=SIZE),
// 7889 (APPENDLIMIT), 3516 (BINARY), 3502 (MULTIAPPEND), 7888 (LITERAL+, or LITERAL- when
// Config.Limits.MaxNonSync is set), 5256 (SORT, THREAD=ORDEREDSUBJECT,
// THREAD=REFERENCES, and Dovecot's THREAD=REFS), 5957 (SORT=DISPLAY),
// 5267 (ESORT, CONTEXT=SEARCH, CONTEXT=SORT: PARTIAL, and UPDATE
// contexts reported with the selected mailbox's changes, context5267.go),
// 9208 (QUOTA, QUOTA=RES-STORAGE, QUOTA=RES-MESSAGE, when
// Config.Quota), 4978 (COMPRESS=DEFLATE, when Config.Compress), 7162
// (CONDSTORE, QRESYNC), 5032 (WITHIN), 8514 (SAVEDATE), 8474 (OBJECTID:
// EMAILID, THREADID always NIL for want of a thread index, and MAILBOXID,
// the store's storage.Status.MailboxID, in SELECT/EXAMINE, CREATE and
// STATUS; objectid.go) and 8970 (PREVIEW, preview.go: message.Preview,
// the first text part's first 200 characters as Dovecot makes them, kept
// in the store's cache field storage.CachePreview, which the store fills
// at save when no charset tables are needed and the first FETCH fills
// otherwise; LAZY answers from that cache only, NIL otherwise, as
// Dovecot does).
// UTF8=ACCEPT (RFC 6855): after ENABLE UTF8=ACCEPT (authenticated state
// only) mailbox names travel in UTF-8 as after ENABLE IMAP4rev2
// (names.go), APPEND takes the "UTF8 (~{n})" data item, streamed into
// the save like any message literal and stored as sent, and SEARCH with
// a CHARSET is BAD (§3); UTF8=ONLY is not offered.
//
// CONDSTORE and QRESYNC (condstore.go) are always on, as in Dovecot: the
// store gives every change a modseq and keeps expunged UIDs with theirs
// (storage.Mailbox.ExpungedSince). A CONDSTORE-enabling command (RFC
// 7162 §3.1: ENABLE, SELECT (CONDSTORE), FETCH MODSEQ or CHANGEDSINCE,
// STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS HIGHESTMODSEQ) makes the
// FETCH responses of STORE, of a \Seen set by FETCH and of changes by
// others carry MODSEQ, and SELECT answer [HIGHESTMODSEQ], as Dovecot
// does; after ENABLE QRESYNC expunges are reported as VANISHED
// (IDLE, EXPUNGE and MOVE included) and a mailbox switch says [CLOSED].
// SELECT (QRESYNC ...) answers VANISHED (EARLIER) from the store's record
// of expunges; when the store cannot vouch for it (an index rebuilt since
// the client's modseq) it reports every known UID it lacks, narrowed by
// the client's sequence match data (RFC 7162 §3.2.5.2).
//
// SORT and THREAD (sort.go, thread.go, subject.go, sortdata.go) read only
// the header of each message, once: the fields they use and the parsed
// Date are cached in the store (cache field "imap.sorthdr1"). Base
// subjects follow RFC 5256 §2.1 as Dovecot's imap-base-subject reads it,
// and every string key is compared in i;unicode-casemap form
// (foldString), like Dovecot; testdata/sortcorpus is compared with
// Dovecot's answers by TestSortThreadDovecot.
//
// METADATA (RFC 5464, metadata.go), when Config.Metadata (Dovecot's
// imap_metadata): GETMETADATA (MAXSIZE, DEPTH) and SETMETADATA over
// server entries (mailbox "") and mailbox entries, kept by the store
// (storage.MetadataStorage). Entry names are compared lowercased; one
// user owns the mailboxes, so /private and /shared entries are both kept
// and both visible to every session of the user. Limits: values of
// MaxMetadataValue bytes ([METADATA MAXSIZE]), MaxMetadataEntries per
// mailbox ([METADATA TOOMANY]).
//
// NOTIFY (RFC 5465, notify5465.go; the command's grammar is pkg/imap's
// ParseNotify): every filter (SELECTED, SELECTED-DELAYED, INBOXES, which
// is PERSONAL as mail may be delivered to any mailbox, PERSONAL,
// SUBSCRIBED, SUBTREE, MAILBOXES) and the events MessageNew (with
// fetch-att for the selected mailbox), MessageExpunge, FlagChange,
// MailboxName and SubscriptionChange; AnnotationChange and the METADATA
// events get NO [BADEVENT (the supported events)]. While NOTIFY is in
// force events are sent between commands too, as Dovecot does, and in
// IDLE the same ones. The selected mailbox's group decides what is
// pushed for it (none given means NONE); at a command the base
// protocol's reports are unchanged, expunges only where RFC 9051 §7.5.1
// allows them, also under SELECTED. The other mailboxes are compared
// with a snapshot (List, Subscriptions, Status with MAILBOXID for
// renames) after every command and every Config.NotifyPoll while
// waiting, which become STATUS and LIST (OLDNAME) responses; the
// session's own CREATE, DELETE, RENAME, (UN)SUBSCRIBE, APPEND, COPY and
// MOVE are not reported to it. More than maxNotifyMailboxes mailboxes
// is [NOTIFICATIONOVERFLOW].
//
// Structure: one command table (table.go) maps a command name ("UID
// FETCH" is a two-word key) to its handler, the states it is allowed in
// and its flags; the dispatcher checks the state, so handlers never do.
// One file per command family. Errors are mapped to responses in one
// place (errors.go): syntax -> BAD, storage kinds -> NO with a response
// code, anything else -> NO [SERVERBUG] with the cause logged, I/O ->
// the connection closes.
//
// SEARCH compares text with RFC 5051's i;unicode-casemap (titlecase, then
// NFKD: golang.org/x/text/unicode/norm), after undoing transfer encodings
// and converting legacy charsets to UTF-8, as Dovecot does.
// Header keys (SUBJECT, FROM, TO, CC, BCC, HEADER, SENT*) and SORT/THREAD
// read the message's storage.CacheHeaders record when it covers the field
// (searchcache.go); a search that has to read a header stores a record
// covering the fields it asked for, so the next one opens no file.
//
// Memory: one process serves many sessions under one vsz_limit. FETCH and
// SEARCH read messages through storage.LoadMessage, which maps large
// files instead of copying them into the heap (released when the response
// is written); decoding large parts (BINARY, SEARCH BODY) first reserves
// from pkg/membudget's per-process budget (Config.Budget), so sessions
// take turns rather than exhaust the limit; a part over the whole budget
// is NO [LIMIT] for BINARY and searched as stored for SEARCH BODY.
// Sessions run with debug.SetPanicOnFault: a mapped file truncated behind
// the store's back ends the session, which the service recovers.
//
// Imports: pkg/imap (wire), pkg/storage, pkg/message, pkg/membudget, zap, x/text/unicode/norm. It must not
// import login, auth, settings or the storage drivers: the process main
// wires those in.
//
// Invariants:
//   - Only the session goroutine writes to the connection; during IDLE a
//     helper goroutine reads the one line that ends it while the session
//     goroutine waits, so the reader is never used by two at once.
//   - Output is corked: the writer is flushed only when the command
//     reader needs more bytes from the connection (flushReader), i.e.
//     when no complete pipelined command is buffered, so a burst of
//     commands and a FETCH over many messages are a few buffer-sized
//     writes, never one per response.
//   - The session's view of the selected mailbox (sequence numbers)
//     changes only in Mailbox.Sync, which runs only where RFC 9051 §7.5
//     allows EXPUNGE responses: never during FETCH, STORE or SEARCH by
//     sequence number.
//   - APPEND never holds a message in memory: the reader's Stream hook
//     (append.go) checks each message literal against APPENDLIMIT before
//     its continuation request and copies it from the connection into one
//     save transaction, which is committed only when the whole command
//     has been read and aborted otherwise (MULTIAPPEND is all or nothing).
//     Config.AppendLimit 0 is no limit, and no APPENDLIMIT is advertised.
//   - After COMPRESS DEFLATE (compress.go) the writer compresses and the
//     reader decompresses; every flush of the corked output ends with a
//     deflate sync flush, so the flushing rule above still guarantees
//     that a client never waits for bytes the server holds.
//   - Client text never names paths or backends: storage errors carry a
//     kind, and only the kind reaches the client.
package imapd
