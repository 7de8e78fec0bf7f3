// Package smtpd is cote's receiving MTA: an RFC 5321 ESMTP server on
// github.com/emersion/go-smtp's server, with Postfix's relay policy and
// setting names, writing accepted mail into the queue's spool through the
// Sink interface (cmd/smtpd adapts *queue.Spool; tests use a fake).
//
// Listeners (named by the service definition): "smtp" (port 25, MX
// traffic), "submission" (587, STARTTLS then AUTH) and "submissions" (465,
// implicit TLS). Every listener whose name starts with "submission" is a
// submission port: MAIL needs AUTH, and AUTH is only offered over TLS. On
// "smtp" AUTH is never offered.
//
// EHLO advertises PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES,
// STARTTLS (when TLS is configured), AUTH (see above), SMTPUTF8, CHUNKING
// and DSN (RET, ENVID, NOTIFY and ORCPT travel in the queue envelope).
// Left out on purpose: REQUIRETLS (the queue does not enforce it on relay),
// BINARYMIME, DELIVERBY and MT-PRIORITY (go-smtp parses the latter two on
// RCPT instead of MAIL).
//
// Policy, in Postfix's terms (RFC 5321, Postfix smtpd(8)):
//   - Recipient domains are classified by pkg/smtp's Routing (mydestination,
//     virtual_mailbox_domains, relay_domains). Mail to any other domain is
//     relayed only for clients in mynetworks or authenticated ones; else
//     "554 5.7.1 <rcpt>: Relay access denied" at RCPT. A local-domain
//     recipient whose local part carries '%', '!' or '@' (percent hack, bang
//     path, quoted "b@c"@local) or an address literal is a relay attempt too.
//   - Local and virtual recipients are checked at RCPT: virtual_alias_maps,
//     then alias_maps (local domains), then the userdb (auth-userdb, the
//     same lookup lmtp makes, so nothing accepted here bounces there):
//     "550 5.1.1 <rcpt>: Recipient address rejected: User unknown in local
//     recipient table". No backscatter: nothing is accepted to be bounced.
//     cmd/smtpd keeps the userdb's answers per process for UserCacheTTL
//     (5 s; positive and negative, at most UserCacheSize names, lookup
//     errors never kept; usercache.go), so a client sending many messages
//     to the same recipients costs one lookup per name per 5 s, not one per
//     RCPT. The replies are the same; only their timing shifts: a user
//     removed from the userdb is still accepted for up to 5 s (lmtp looks
//     it up again at delivery, and then bounces), a user just added is
//     refused with 550 for up to 5 s if it was looked up just before.
//   - smtpd_sender_must_match_login (default yes): on submission the MAIL
//     FROM address must be the authenticated user's own (its login name, or
//     login@domain of a local domain when the login has no domain).
//   - message_size_limit (SIZE, and enforced while reading DATA),
//     smtpd_recipient_limit, smtpd_hard_error_limit (errors.go: every
//     4xx/5xx reply the client hears counts, go-smtp's own syntax errors
//     included; the reply that reaches the limit is followed at once by
//     "421 4.7.0 <host> Error: too many errors" and the session ends, and
//     nothing pipelined behind it is answered or takes effect),
//     smtpd_forbid_bare_newline (no | normalize | yes; clients in mynetworks
//     are exempt, as Postfix's default smtpd_forbid_bare_newline_exclusions).
//   - postscreen_greet_wait: on the "smtp" listener, a client outside
//     mynetworks first gets "220-" and must stay silent for that long; one
//     that talks first gets "554 5.5.1" and is closed (a listener-side
//     check: go-smtp's greeting cannot be hooked). Never on submission.
//   - smtpd_client_connection_count_limit: concurrent connections per
//     client IP, counted by anvil (service "smtpd"), so all smtpd processes
//     share one count; clients in mynetworks are exempt.
//   - smtpd_client_connection_rate_limit: connections per client IP per
//     anvil_rate_time_unit (Postfix's fixed window), counted by anvil's
//     RATE verb (cote's extension, see pkg/anvil) at connect, refused
//     connections included; over the limit the client gets Postfix's
//     "421 4.7.0 <host> Error: too many connections from <ip>". mynetworks
//     is exempt (Postfix's smtpd_client_event_limit_exceptions default).
//
// HELO: go-smtp refuses MAIL before HELO/EHLO, which is Postfix's
// smtpd_helo_required = yes; the setting exists so a configuration says
// so, and "no" is refused as a configuration error.
//
// Limits of go-smtp: it also closes a session itself after four of its own
// syntax errors ("500 5.5.1 Too many errors"), whatever
// smtpd_hard_error_limit says; and after a STARTTLS sent before any EHLO
// the 421 of the error limit cannot be written (go-smtp's TLS layer is not
// reachable until the next EHLO), so the session just ends.
//
// Replies are corked (RFC 2920 section 3.2 lets a server group the
// replies to a pipelined group): go-smtp writes and flushes each reply
// line by itself, so the connection below any TLS layer (oneConn in
// smtpd.go; implicit TLS and STARTTLS wrap it, so go-smtp still sees a
// *tls.Conn) holds written bytes until go-smtp or TLS next reads from it.
// That read happens only once all input buffered above it is consumed,
// i.e. right before the server may block waiting for the client, so a
// reply the client waits for is never held; a pipelined MAIL/RCPT/DATA
// gets its three replies in one write. Held replies also go out on Close,
// before a past write deadline is set (crypto/tls's close_notify), before
// the spool's Commit (a wait for the disk), and the reply to DATA or BDAT
// LAST goes out at once even when the client pipelined more behind the
// dot. Write deadlines are the socket's own: go-smtp's per-reply
// deadline covers the flush. While the RCPT lookups of a pipelined group
// run, the replies before them are held (the client is still sending or
// has not yet asked for them).
//
// Throughput: the DATA path copies through pooled buffers (no allocation
// per message for them) in chunks as read, and into a pooled 64 KiB
// buffered writer in front of the spool; BenchmarkMessage measures it.
//
// Durability: the reply to DATA/BDAT is 250 only after Sink's Commit
// returned (the queue fsyncs the file and, where that fsync does not make
// its name durable too, its directory; pkg/queue doc). A client that
// drops mid-DATA, a size overrun, a bare LF refusal or any error aborts the
// spool file, so nothing half-received is queued.
//
// Imports: smtp (addresses), authproto/login (AUTH through cote's auth
// service), anvil, settings, service, tlsconf. It must not import the
// store or pkg/queue (cmd/smtpd wires the queue's spool in).
package smtpd
