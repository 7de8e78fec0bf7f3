// Package postlogin is the receiving side of the login -> post-login
// handoff (ARCHITECTURE.md, contract 4), shared by the post-login
// services (imap now, pop3 later): it takes the record and the client
// socket that a login process sends on login/<proto>, redeems the auth id
// and cookie with a REQUEST on auth-master, builds the user's mail store
// configuration (pkg/mailuser) and opens it, and hands the logged-in
// client to the protocol's session. It counts the sessions with anvil
// (AnvilSocket: CONNECT while a session lasts), which is what
// mail_max_userip_connections checks (a login that would exceed it is
// refused with "NO [LIMIT]" and Dovecot's text) and `coteadm who` lists.
//
// Invariants:
//   - The user is never taken from the record: it is what auth-master
//     answers to REQUEST for (peer pid, auth id, cookie), and the pid is
//     the handoff connection's SO_PEERCRED pid, not the record's claim. A
//     record naming another pid, or another auth server than the one this
//     process talks to, is refused.
//   - A userdb uid or gid different from the process's (mail_uid,
//     mail_gid) refuses the login: one process serves many virtual users
//     of one uid, and it cannot switch uid (setuid changes a whole Go
//     process).
//   - Every refusal answers the pending tag through the protocol's Refuse
//     and closes the client; the cause goes to the log, never to the
//     client (the connection limit is the one refusal whose text says
//     why: the user can act on it).
//   - anvil is advisory, as in Dovecot: when it is down, logins go on
//     uncounted. After CONNECT and DISCONNECT (which have no reply) a
//     LOOKUP round trip makes the change visible to other processes
//     before the login proceeds or the client connection is closed.
//
// Imports: ipc, authproto, anvil, settings, mailuser, storage, service, log
// fields through zap. It must not import a protocol package (the protocol
// plugs in as Protocol) nor auth.
package postlogin
