// Package delivery is the local delivery path shared by the LMTP service
// (pkg/lmtp, cmd/lmtp) and the LDA (cmd/deliver): given a user's store
// configuration, the envelope and a spooled message, it adds the trace
// headers (Return-Path, Delivered-To, and Received for LMTP), picks the
// target mailbox (deliver -m, or the address detail with
// lmtp_save_to_detail_mailbox; a missing one is created with
// lda_mailbox_autocreate, subscribed with lda_mailbox_autosubscribe, else
// the message goes to INBOX, as Dovecot does) and saves it through the
// store's save transaction. The outcome is a *Failure carrying the SMTP
// reply and the sysexits code (quota: 552 5.2.2, or 452 4.2.2 with
// quota_full_tempfail).
//
// Several recipients of one transaction (DeliverAll): the message is
// written once and hard-linked into the other recipients' mailboxes
// where the store can (storage.NewDelivery), and the recipients' Commits
// run concurrently so their syncs overlap; each recipient's outcome is
// reported when its own Commit returned. As Dovecot 2.3's lmtp does
// (lmtp_hdr_delivery_address is "none" when a mail has several
// recipients), the trace fields then name no recipient: no Delivered-To
// and no "for" clause in Received, so every recipient stores the same
// bytes. With one recipient they name it (Dovecot's default, "final").
//
// Users whose uid differs from the delivering process's are delivered by
// a helper process (cmd/deliver's helper mode) started with
// SysProcAttr.Credential: RunHelper starts it, ServeHelper is its side.
// The Job travels as JSON in an environment variable, the message on
// stdin (the spool fd itself), the outcome as one JSON line on stdout.
//
// Delivered is the resume check of lmtp: whether a message is already
// in the mailbox delivery would pick (or INBOX) among the messages saved
// since a time, compared byte for byte after the trace fields; it scans
// newest first and stops at the first older SAVEDATE, so its cost is the
// mail saved since then.
//
// Sieve (not implemented) hooks in through Deliverer.Sieve, which is nil.
//
// Settings (Dovecot's names and defaults): recipient_delimiter,
// lmtp_add_received_header, lmtp_save_to_detail_mailbox,
// lmtp_rcpt_check_quota, lda_mailbox_autocreate,
// lda_mailbox_autosubscribe, quota_full_tempfail.
//
// Invariants:
//   - Deliver returns nil only after the store's Commit returned, which
//     is after the message is on stable storage.
//   - Every non-nil error Deliver returns is a *Failure.
//   - DeliverAll calls done exactly once per recipient, only after that
//     recipient's Commit returned (or its delivery failed), and returns
//     after the last call.
//
// Imports: storage, mailuser, settings, zap. It must not import the
// protocol packages (lmtp, imap, pop3), go-smtp, auth or storage drivers.
package delivery
