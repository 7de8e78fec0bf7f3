// Package pop3d is the post-login POP3 session: the TRANSACTION and
// UPDATE states of RFC 1939 (STAT, LIST, RETR, DELE, NOOP, RSET, QUIT,
// TOP, UIDL) and RFC 2449's CAPA and response codes, over the user's
// INBOX (package storage). cmd/pop3 wires it to pkg/postlogin; pkg/pop3
// is the wire (bounded command lines, dot-stuffing, corked output).
//
// Behaviour follows Dovecot 2.3's pop3 so clients moving from it see the
// same thing: the message list is INBOX as of login (mail delivered during
// the session appears in the next one), sizes are RFC822.SIZE (the CRLF
// octets RETR sends), the error texts and message-number parsing are
// Dovecot's. A message's UIDL is, as in Dovecot's pop3_get_uid: the one
// the store recorded (dovecot-uidlist P, written by Dovecot's
// pop3_save_uidl or a migration; an empty P means the file name), else
// its X-UIDL header (pop3_reuse_xuidl), else pop3_uidl_format (default
// %08Xu%08Xv; %u UID, %v UIDVALIDITY, %f Maildir file name up to ":2,",
// %g GUID; %m is refused: Dovecot has it only for mbox). Messages with a
// stored POP3 order (dovecot-uidlist O) are listed first, by it, as
// Dovecot's MAIL_SORT_POP3_ORDER does. With pop3_save_uidl the UIDLs
// sent by UIDL that were not stored are stored when the session ends (as
// Dovecot commits them), QUIT or not. storage.POP3Mailbox carries these.
//
// Files: config.go (Config, NewConfig, pop3_uidl_format), session.go
// (Serve: the read loop, login listing, X-UIDL, disconnect), commands.go
// (the command table and handlers, UPDATE), lock.go (pop3_lock_session).
// Tests: testdata/*.tr transcripts run in lockstep and pipelined;
// dovecot_test.go compares a whole session with Dovecot's pop3 on the
// same Maildir, dovecot_uidl_test.go the UIDL lists for each format and
// with UIDLs and orders Dovecot stored; BenchmarkRetrAll measures a 10,000-message download.
//
// Invariants:
//   - Nothing in the mailbox changes before QUIT: DELE and RETR only mark
//     messages in the session. QUIT applies the deletions (expunge, or
//     the pop3_deleted_flag keyword) and the \Seen flags in one step; a
//     client that disconnects or times out deletes nothing.
//   - Responses are flushed only when no complete pipelined command is
//     buffered (RFC 2449 §6.6), so a pipelined batch of RETRs leaves in
//     buffer-sized writes, never one write per line.
//   - Every read has the autologout deadline (RFC 1939 §3: at least 10
//     minutes); every flush has a write deadline.
//   - Client text never names paths or settings; storage causes go to the
//     log.
//
// Imports: pop3, storage, settings (for its %-variable expander only),
// zap. It must not import postlogin, service, auth or a storage driver.
package pop3d
