// Package pop3login is the pre-authentication POP3 handler set that runs
// in the pop3-login process on top of the shared login core (pkg/login),
// as Dovecot's pop3-login runs on login-common: the greeting, CAPA, USER,
// PASS, APOP, AUTH, STLS and QUIT of the AUTHORIZATION state (RFC 1939
// §4). Replies follow Dovecot 2.3's pop3-login wording and response codes
// where clients or admins may rely on them.
//
// Every login runs through the auth service (login.Auth): USER/PASS is
// sent as SASL PLAIN, APOP as Dovecot's private APOP mechanism (the
// greeting's timestamp, the user and the 16-byte digest, with the
// timestamp in the cote_apop_challenge field so the auth service knows it
// was issued here), AUTH (RFC 5034) relays the mechanism's challenges as
// "+ base64" lines, "*" cancels. The APOP timestamp is in the greeting only
// when the auth service offers APOP and auth_mechanisms enables it. SASL
// mechanisms are the auth service's, restricted to auth_mechanisms and to
// what the connection allows (plaintext ones only where plaintext
// authentication is allowed, -PLUS only over TLS, private ones such as
// APOP never). A successful login hands the client to the pop3 service on
// login/pop3 (ARCHITECTURE.md contract 4) with Tag "" and, as Preamble,
// the bytes the client pipelined after the login command; the pop3
// process answers "+OK Logged in." itself.
//
// Response codes (RFC 2449 §8, RFC 3206): [AUTH] for credentials refused
// (also plaintext authentication refused, unknown mechanism, bad base64,
// as Dovecot), [SYS/TEMP] for a temporary failure (auth service down or
// temporarily failing, pop3 service unavailable). [SYS/PERM] and [IN-USE]
// (the maildrop is locked) are post-login answers of the pop3 process.
//
// RFCs: RFC 1939 (POP3), RFC 2449 (CAPA, response codes, PIPELINING),
// RFC 2595 (STLS), RFC 3206 (SYS and AUTH codes), RFC 5034 (AUTH, SASL),
// RFC 8314 (implicit TLS, pop3s).
//
// Imports: login, pop3, authproto, settings, service (the handler
// signature). It must not import storage, auth or queue: the login binary
// links neither.
//
// Invariants:
//   - Only what this process implements is advertised: STLS only when TLS
//     is configured and not yet active, USER and plaintext mechanisms only
//     where plaintext authentication is allowed, the APOP timestamp only
//     when APOP can succeed.
//   - Bytes pipelined after STLS are never executed (CVE-2011-0411): they
//     are discarded when TLS starts.
//   - Three unknown commands in a row end the session (Dovecot's
//     CLIENT_MAX_BAD_COMMANDS for pop3-login).
//   - Passwords, APOP digests and SASL responses are never logged.
package pop3login
