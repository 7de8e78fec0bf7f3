// Package queue is the mail queue: the durable spool that smtpd and pickup write into, and the
// delivery engine run by cmd/queue (LMTP to base_dir/lmtp for local and virtual domains, SMTP
// to MX hosts for remote ones, retries with backoff, RFC 3464 bounces and delay warnings).
//
// # Spool layout (queue_directory)
//
//	incoming/  files being written where O_TMPFILE is unavailable (see Commit); a file here is
//	           never acknowledged. Writers hold an flock on it; Spool.Recover (queue daemon
//	           start) removes the unlocked ones.
//	active/    committed messages waiting for (or in) delivery; the daemon watches it.
//	deferred/  messages whose last attempt failed temporarily; retried after a backoff.
//	hold/      messages held by the administrator (Hold/Release); never delivered.
//	corrupt/   files that failed to parse, moved aside with a log line.
//
// The file name is the queue ID: 13 uppercase hex digits of microseconds since the epoch then
// 6 of the writer's pid, so IDs are unique across processes and sort by time.
//
// # Queue file format (version 1)
//
// A text envelope, the message bytes, then appended progress records:
//
//	COTEQ 1
//	size 00000000000000001234         body size, fixed width (patched in place by Commit)
//	from <sender>                     "-" is the null sender
//	received <unix nanoseconds>
//	client <addr> <helo> <authuser>
//	dsn <RET> <ENVID>
//	flags <SMTPUTF8 0|1> <8BITMIME 0|1>
//	rcpt <addr> <orcpt> <notify,comma,separated>     one line per recipient, in order
//	                                  blank line
//	<size bytes of message, CRLF lines>
//	done|fail|defer|bounced <rcpt index> <unix ns> <status> <mta> <diagnostic>
//	next <unix ns> <attempts>
//	warned
//	attempt <unix ns> <rcpt index,rcpt index,...>   an LMTP transaction started (not fsynced)
//
// Every field is one token: bytes <= ' ', '%' and DEL are written %XX and the empty string is
// "-". Records are appended and fsynced before the daemon moves on (attempt records are not
// synced: see the duplicate window), so a recipient recorded done is never delivered again
// after a crash; a record cut short by a crash (no final newline) is ignored and truncated by
// the next writer. State only moves forward: pending
// (defer records only refresh the last error) -> done, or -> fail -> bounced (the bounce for
// it was committed to the spool). A file is finished and removed when no recipient is pending
// or failed. A file that does not parse is moved to corrupt/.
//
// The duplicate window: an outcome is recorded after the reply that carries it, so a recipient
// whose delivery was in flight when the daemon died would be delivered again after the
// restart (lmtp finishes a transaction whose data it read even when the queue is gone;
// Postfix has this window). Local delivery closes it with lmtp's cooperation. Before each
// LMTP transaction the daemon appends "attempt <unix ns> <rcpt index,...>" for its
// recipients, written but not fsynced: the hot path pays one write and no sync. A killed
// process leaves the record in the page cache, so it survives; a power loss may lose it
// together with the outcome, and the recipient is then delivered again unchecked (a
// duplicate, never a loss). A recipient that has an attempt (the first one counts: a
// transaction whose reply was lost may have stored the message, so the bound never moves
// later) is delivered in resume mode: MAIL FROM carries ENVID=cote-resume.<queue id>.<unix
// seconds of that attempt> (ResumeEnvID). lmtp offers DSN only to a peer whose SO_PEERCRED
// uid is mail_owner or root, as the channel of this signal, so no other client can make it
// skip a delivery; the sender's own DSN parameters are not sent over LMTP (the queue reports
// local success itself). For each recipient lmtp then looks, in the mailbox delivery would
// pick (and INBOX), at the messages saved since that second, newest first, for one whose
// bytes end with this message (which carries the queue ID in its smtpd or pickup
// Received field) and answers 250 "already delivered" without storing it again. Not
// covered: recipients lmtp delivers through the root helper (its store is not opened as
// root), a copy moved or expunged by a client before the resume, bounces and other mail
// the queue generates (they carry no queue ID Received field), and SMTP relay (a remote
// server has no such check; Postfix's window remains there). test/e2e TestMTACrash asserts
// exactly-once local delivery across a kill of the queue.
//
// # Crash safety of Commit
//
// Create opens an unnamed file (O_TMPFILE) in active/ and flocks it; the message is written
// into it. Commit writes the size, links the file into active/ under its queue ID (linkat of
// /proc/self/fd/N; link never replaces an existing file), fsyncs the file, then fsyncs active/
// (group commit: concurrent callers share one directory fsync, none skips it), and only then
// closes the file, releasing the lock. The fsync of active/ is left out where the file's
// own first fsync after the link is known to make the name durable too (fsdurable.go):
// XFS (the log is forced up to the link), ext4 and ext3 with a journal (the link is in the
// journal transaction that fsync commits) and ext4 without one (the first fsync after a new
// directory entry also writes the parent directory: ext4_sync_parent); that is Postfix's
// one fsync per queue file. Elsewhere (ext2, btrfs, NFS, unknown) the directory fsync
// stays. Either way, once Commit returns, the bytes and the active/ name are on stable
// storage.
//
// The daemon never delivers a file before its Commit returned: it locks a queue file before
// reading it, and the writer holds the lock from Create until both fsyncs are done; the
// watcher's Create event (at the link) finds the file busy and retryBusy picks it up 20 ms
// later (a Commit slower than retryBusy's ~1.3 s waits for the next rescan). A failed fsync
// removes the name while still locked. A writer killed before the link leaves no name at
// all (the kernel frees the unnamed file); killed between the link and the fsyncs, it leaves
// a complete file (the size was written first) that is delivered although never
// acknowledged: the client retries, a duplicate, as when a crash falls between Commit and
// the 250. After a power loss in that window a file system that does not order data before
// metadata (ext4 data=ordered does) may keep the name with short data: ParseFile refuses it
// (body shorter than its size) and the daemon moves it to corrupt/; nothing partial is
// delivered.
//
// Where O_TMPFILE is refused (EOPNOTSUPP, EISDIR, EINVAL: the spool remembers it) or
// /proc/self/fd is missing (a chroot), Create writes incoming/ID instead and Commit fsyncs
// the file, hard-links it into active/, fsyncs active/, then unlinks the incoming name. A
// crash before the active/ fsync loses only an unacknowledged message; a crash after it
// leaves an incoming/ leftover that Recover removes (so the unlink is not fsynced: a 250
// waits for two fsyncs, the file and active/, in two journal commits).
//
// # Locking against a running daemon
//
// The daemon holds an flock (LOCK_EX) on a queue file while it delivers it; the admin
// operations (Hold, Release, Delete) take the same lock (non-blocking: they fail with
// ErrBusy during a delivery) before they move or remove a file.
//
// # Delivery (Daemon, cmd/queue)
//
// The daemon watches active/ with one fsnotify watcher and rescans active/ and deferred/
// every ScanInterval (a deferred file's mtime is its retry time, as in Postfix; due files
// move back to active/). Each attempt locks the file, groups the pending recipients by
// destination and delivers destinations in parallel, each bounded by
// default_destination_concurrency_limit: local and virtual domains (pkg/smtp Routing) in one
// LMTP transaction to base_dir/lmtp (per-recipient replies; idle LMTP connections are kept
// for the next message and checked before reuse by a non-blocking peek at the socket, no
// round trip); remote domains per domain over SMTP to the MX hosts by preference (no MX:
// the domain's A/AAAA; null MX and NXDOMAIN are permanent), or all to relayhost.
// smtp_tls_security_level may uses STARTTLS when offered, encrypt defers when it is not;
// certificates are not verified (Postfix's may and encrypt).
// Every recipient's outcome is appended and fsynced before the next step. 4xx replies and
// connection failures defer the message with a backoff doubling from minimal_backoff_time
// to maximal_backoff_time; 5xx replies and expiry (maximal_queue_lifetime, or
// bounce_queue_lifetime for null-sender mail) record a failure, then one RFC 3464 report
// goes to the sender (none for the null sender or NOTIFY=NEVER). delay_warning_time > 0
// sends one "delayed" report; NOTIFY=SUCCESS gets "delivered" (LMTP) or "relayed" (to a
// server without DSN) reports, at most once. SMTPUTF8 mail to a server without SMTPUTF8
// fails with 5.6.7 (no downgrade).
//
// # pickup
//
// base_dir/pickup (0666) speaks ESMTP (go-smtp) for local programs. The client's uid comes
// from SO_PEERCRED; MAIL FROM:<> means <login name>@myhostname (pickup never queues
// null-sender mail), domainless paths get @myhostname, and the Received: header names the
// uid. Accepted mail goes through Create and Commit like smtpd's.
//
// # Admin operations (coteadm queue, mailq)
//
// List reads every queue without locks. Hold, Release and Delete take the file's flock (they
// fail with ErrBusy during a delivery) and move or remove it. Flush moves every deferred
// file to active/, where the daemon's watcher picks it up at once: it needs no connection
// to the daemon.
//
// # Deployment
//
// The master creates queue_directory 0700 owned by mail_owner when the queue service is
// enabled; the queue (and smtpd) create the subdirectories. The lmtp socket is 0660 owned by
// mail_uid and the group named like mail_owner, so the queue may deliver and no other user.
//
// Imports: pkg/smtp (addresses, routing), pkg/log, pkg/settings; never pkg/storage (local
// delivery goes through LMTP) nor pkg/smtpd.
package queue
