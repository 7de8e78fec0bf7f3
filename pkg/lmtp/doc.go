// Package lmtp is cote's local delivery service: an RFC 2033 LMTP server
// (on github.com/emersion/go-smtp's LMTP mode) that looks every recipient up
// in the userdb through auth-userdb (Dovecot's master protocol USER) and
// saves the message into the recipient's INBOX through the store's save
// transaction, durable before the recipient's 250.
//
// Protocol: LHLO advertises PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES,
// CHUNKING (RFC 3030 BDAT, go-smtp drives it through the same per-recipient
// LMTPData path) and SIZE (quota_max_mail_size when set, enforced by
// go-smtp's reader with 552 before the store sees the message). After
// DATA or the last BDAT, one reply per accepted recipient, in RCPT order
// (RFC 2033 section 4.2).
//
// Invariants:
//   - A 250 for a recipient is sent only after that recipient's save
//     transaction committed (the store fsyncs before Commit returns).
//   - One recipient's failure (a broken store, quota) never changes the
//     outcome of the others in the same transaction.
//   - An unknown user is refused at RCPT (550 5.1.1); a userdb that cannot
//     be reached is a temporary failure at RCPT (451 4.3.0).
//   - Bare LF line endings in the message are stored as CRLF, so the
//     stored message has one line-ending convention.
//
// Recipient names: the address is passed to the userdb as written in RCPT
// (local@domain), with the detail after recipient_delimiter removed, as
// Dovecot's lmtp does; auth applies auth_username_format to it.
//
// Imports: storage, authproto, mailuser, settings, service. It must not
// import the protocol packages (imap, pop3) or the master.
package lmtp
