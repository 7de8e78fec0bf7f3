// Package login is the pre-authentication core shared by imap-login and
// pop3-login, in the way Dovecot's login-common serves both: it owns the
// client table, the connection's TLS state (implicit TLS on ssl listeners,
// STARTTLS/STLS upgrades with a handshake deadline), the pre-login
// deadlines (idle, whole session, writes), shutdown, the "secured"
// classification that decides whether plaintext authentication is allowed,
// and the per-connection log fields. A protocol plugs in as a Session
// function that speaks its wire protocol over Client.Conn.
//
// Auth is the process's connection to the auth service (Dovecot's
// auth-client protocol, ARCHITECTURE.md contract 2) on login/auth-client
// inside the chroot: dialled lazily, redialled after the auth service
// restarts, ErrAuthUnavailable while it is down. Client.AuthRequest fills
// the AUTH fields (secured, lip/rip, local_name) and Client.ChannelBinding
// computes tls-exporter (RFC 9266) and tls-server-end-point (RFC 5929)
// data for SCRAM-*-PLUS. Client.Handoff passes an authenticated client to
// the post-login service on login/<proto> (contract 4, the record and
// SCM_RIGHTS of pkg/ipc): without TLS the socket itself, with TLS one end
// of a socketpair, the login process keeping the TLS session and proxying
// plaintext (Proxy.Run) with half-closes passed on in both directions; the
// client's slot stays taken while it proxies. A control "stop" (reload)
// leaves proxies running; "shutdown" ends them.
//
// Server.EvictOldest is Dovecot's answer to a full service (process_limit
// reached and a client waiting): the oldest client that has not logged in
// is told to go ("BYE Connection queue full", Client.ByeText) so its slot
// frees. Its trigger, the master telling full login processes that a
// client waits, is not wired yet (pkg/master and pkg/service, issue 5).
//
// RFCs: RFC 9051 §6.2.1 and RFC 2595 (STARTTLS), RFC 8314 (implicit TLS).
//
// Imports: service, settings, tlsconf, ipc, authproto. It must
// not import storage, auth, queue or any protocol package: protocols import
// login, not the other way round.
//
// Invariants:
//   - Every read and write of a client has a deadline; no read deadline
//     extends past the whole-session deadline before login.
//   - Once the service context is cancelled, no deadline is extended
//     (Client.PrepareRead and PrepareWrite set them in the past), so a
//     blocked read returns at once and the session can say BYE. An
//     evicted client is treated the same way, one client at a time.
//   - A client whose handoff has started is never evicted, and an
//     evicted client is never handed off.
//   - A connection on an ssl listener is never served in plaintext: with
//     no TLS configuration it is closed and the problem logged.
package login
