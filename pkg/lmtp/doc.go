// Package lmtp is cote's local delivery service: an RFC 2033 LMTP server
// (on github.com/emersion/go-smtp's LMTP mode) that looks every recipient up
// in the userdb through auth-userdb (Dovecot's master protocol USER) and
// hands each recipient to pkg/delivery (trace headers, detail mailbox,
// autocreate, quota replies), which saves through the store's save
// transaction, durable before the recipient's 250.
//
// Protocol: LHLO advertises PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES,
// CHUNKING (RFC 3030 BDAT, go-smtp drives it through the same per-recipient
// LMTPData path) and SIZE (quota_max_mail_size when set, enforced by
// go-smtp's reader with 552 before the store sees the message). After
// DATA or the last BDAT, one reply per accepted recipient, in RCPT order
// (RFC 2033 section 4.2). A transaction with several in-process
// recipients is delivered by delivery.DeliverAll: one write, hard links,
// concurrent commits, each status set as its commit returns (go-smtp
// writes them in RCPT order), trace fields without a recipient (Dovecot's
// lmtp_hdr_delivery_address "none" for several recipients; the setting
// itself is not offered: "original" would need ORCPT, which go-smtp
// accepts only with DSN advertised). Userdb answers are cached for the
// transaction. SMTPUTF8 is not advertised: userdb names are
// limited by auth_username_chars, so UTF-8 local parts could not be
// honoured end to end. With lmtp_rcpt_check_quota a recipient already
// over quota is refused at RCPT (552 5.2.2, or 452 4.2.2 with
// quota_full_tempfail).
//
// Privileges: normally the service runs as mail_uid and delivers in
// process; a recipient whose userdb uid or gid differs gets 451 4.3.0 and
// a log line naming the configuration problem. With `service lmtp { user
// = root }` (an explicit choice, never the default) every recipient is
// delivered by cmd/deliver in helper mode, exec'd with the userdb uid/gid
// (or mail_uid/mail_gid) through SysProcAttr.Credential; uid 0 is
// refused, and the RCPT-time quota check is skipped for them (it would
// open the store as root).
//
// Invariants:
//   - A 250 for a recipient is sent only after that recipient's save
//     transaction committed (the store fsyncs before Commit returns).
//   - One recipient's failure (a broken store, quota) never changes the
//     outcome of the others in the same transaction.
//   - An unknown user is refused at RCPT (550 5.1.1); a userdb that cannot
//     be reached is a temporary failure at RCPT (451 4.3.0).
//   - Bare LF line endings in the message are stored as CRLF (as
//     Dovecot's lmtp does; there is no setting to refuse them), so the
//     stored message has one line-ending convention and no bare LF is
//     smuggled to IMAP clients.
//   - A client that disconnects before the end of DATA/BDAT leaves
//     nothing in any Maildir: the message is spooled first (in memory
//     up to 128 KiB, as Dovecot's lmtp; above that, or for a root
//     helper's stdin, to an unlinked file) and the store sees only
//     complete messages.
//
// Resume (the queue's crash recovery, pkg/queue doc.go "the duplicate
// window"): DSN is advertised only to a unix-socket peer whose
// SO_PEERCRED uid is mail_owner or root, because its only use here is as
// the channel of the queue's resume signal, MAIL FROM
// ENVID=cote-resume.<queue id>.<unix seconds>; lmtp generates no DSNs,
// and a client that saw DSN (Postfix) would leave success notices to it.
// Other peers get no DSN, so go-smtp refuses their ENVID/NOTIFY/ORCPT.
// With the signal, and the queue ID present in the message header (the
// smtpd or pickup Received field), each in-process recipient whose
// mailbox already holds the message (delivery.Delivered: saved since that
// second, same bytes after the trace fields) gets 250 2.0.0 "already
// delivered" and nothing is stored; a failed check delivers (a duplicate
// beats a loss). Recipients delivered by the root helper are not checked.
//
// Recipient names: the address is passed to the userdb as written in RCPT
// (local@domain), with the detail after recipient_delimiter removed, as
// Dovecot's lmtp does; auth applies auth_username_format to it.
//
// Imports: delivery, storage, authproto, mailuser, settings, service. It must not
// import the protocol packages (imap, pop3) or the master.
package lmtp
