// Package imaplogin is the pre-authentication IMAP handler set that runs
// in the imap-login process on top of the shared login core (pkg/login):
// the greeting, CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN and
// AUTHENTICATE. Its responses follow Dovecot's imap-login wording where
// clients or admins may rely on it.
//
// LOGIN and AUTHENTICATE run through the auth service (pkg/login.Auth,
// Dovecot's auth-client protocol): LOGIN is sent as SASL PLAIN,
// AUTHENTICATE relays the mechanism's challenges as "+ base64" lines
// (RFC 9051 §6.2.2; "*" cancels with BAD). The AUTH= capabilities are the
// auth service's MECH list, restricted to auth_mechanisms and to what this
// connection allows (plaintext mechanisms only where plaintext
// authentication is allowed, -PLUS only over TLS). For SCRAM-*-PLUS the
// client's first message is read here so that the channel-binding data of
// the type it names (tls-exporter, tls-server-end-point) travels with AUTH.
// A successful authentication hands the client to the imap service
// (ARCHITECTURE.md contract 4, login.Client.Handoff): the replies to
// commands pipelined before it are flushed, and the bytes read after it
// travel in the record; the imap process answers the tag. When the imap
// service cannot take the client, "NO [UNAVAILABLE] Internal error
// occurred. Refer to server log for more information." and the client
// may try again; a failure "NO [AUTHENTICATIONFAILED] Authentication failed." after
// the auth service's delay; an unreachable auth service or a temporary
// failure "NO [UNAVAILABLE]".
//
// RFCs: RFC 9051 (§6.1 any state, §6.2 not-authenticated state), RFC 3501
// (the IMAP4rev1 capability this build advertises), RFC 2971 (ID), RFC 4959
// (SASL-IR), RFC 7888 (LITERAL+), RFC 5530 (response codes), RFC 8314
// (implicit TLS).
//
// Imports: login, imap, authproto, settings, service (for the handler
// signature). It
// must not import storage, auth or queue: the login binary links neither.
//
// Invariants:
//   - Only what this process implements is advertised: STARTTLS only when
//     TLS is configured and not yet active, AUTH= mechanisms only where
//     they may be used on this connection.
//   - Bytes pipelined after STARTTLS are never executed (CVE-2011-0411):
//     the connection is closed instead.
//   - Three BAD responses before login end the session (Dovecot's
//     CLIENT_MAX_BAD_COMMANDS).
//   - Passwords and SASL responses are never logged.
package imaplogin
