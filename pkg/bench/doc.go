// Package bench is cote-bench's engine: it runs a workload with N simulated
// clients for a duration or an operation count, records every operation's
// latency in a histogram per client (merged at the end, so recording takes
// no lock), counts every failure by kind, and produces one Result (a table
// or JSON). cmd/cote-bench parses flags and calls it.
//
// Workloads implement Workload:
//   - IMAP: imaptest's default mixed session (imaptest is Dovecot's IMAP
//     tester; its state table is the model): connect, LOGIN, LIST, STATUS,
//     SELECT, FETCH of flags, of ENVELOPE/BODYSTRUCTURE and of whole
//     bodies, SEARCH, COPY, STORE, STORE \Deleted, EXPUNGE, APPEND,
//     LOGOUT, each with imaptest's probability (see DefaultMix for the two
//     departures), or the no-logout variant that keeps each session
//     selected; LoginMix is connect, LOGIN, LOGOUT only (logins/s).
//   - LMTP: durable deliveries, one session per client, MAIL/RCPT/DATA
//     pipelined; an operation is complete at the last recipient's 250.
//   - SMTP (NewSMTP): the same over SMTP to a port 25 listener (EHLO, one
//     reply after the data): durable acceptances, the message in the
//     server's queue at the 250.
//   - POP3: download of a whole mailbox per operation (USER, PASS, STAT,
//     RETR of every message, QUIT); the RETRs' octets, dot-stuffing
//     removed, must add up to what STAT announced. Result.MBPerSec is its
//     data rate.
//   - Visible: from a delivery's 250 to the EXISTS an IMAP session in IDLE
//     receives for it; the delivery goes over LMTP, or over SMTP through
//     the server's queue (VisibleConfig.SMTPAddr), one user per client.
//   - BigMailbox: SELECT, FETCH 1:* (FLAGS), SEARCH UNSEEN, SEARCH SUBJECT
//     on a large mailbox that WriteMaildir generated before the server
//     started.
//
// OpenIdle is not a timed workload: it opens N connections in IDLE and
// sums the server's RSS over its process tree (TreeRSS) before and after.
// FsyncRate measures the disk's durable-delivery ceiling. Comparison holds
// figures of several servers over alternating rounds, prints cote/peer
// ratios (min/median/max) and draws its charts as SVG with WriteSVG (no
// plotting dependency).
//
// What counts as an error (never ignored, reported by kind): a BAD, a NO
// other than [EXPUNGEISSUED] (RFC 9051 §7.1: a message another session
// expunged; counted as a note), an untagged response that does not belong
// to the command, an unsolicited BYE, a FETCH, EXPUNGE or SEARCH number
// beyond the message count the server announced, a malformed response, a
// FETCH BODY[] without its literal, a disconnect, a timeout, a failed
// connect; for SMTP/LMTP and POP3 likewise a refusal, a success code where
// another was due (250 to DATA: the data was never taken), a malformed
// reply, a POP3 answer that is neither +OK nor -ERR, a mailbox whose
// RETRs do not add up to its STAT. Errors caused by the run's own end (connections cut when the
// time is up) are not counted, and neither are operations completing
// after it.
//
// RFCs: RFC 3501 / RFC 9051 (IMAP), RFC 2033 (LMTP), RFC 5321 (SMTP),
// RFC 1939 (POP3), RFC 5322 (the generated messages).
//
// Imports: pkg/bench/imapc only (and the standard library: its LMTP, SMTP
// and POP3 clients are its own). The benchmark drives any server, cote or a peer, so it must
// not link cote's server packages.
//
// Invariants:
//   - Each simulated client owns its recorder and random source (seeded
//     from Options.Seed and its index), so a run's choices are reproducible
//     and recording never contends.
//   - Result.Seconds is the measured window, from start to the moment the
//     run stopped; only operations completed inside it are counted.
package bench
