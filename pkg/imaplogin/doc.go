// Package imaplogin is the pre-authentication IMAP handler set that runs
// in the imap-login process on top of the shared login core (pkg/login):
// the greeting, CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN and
// AUTHENTICATE. Its responses follow Dovecot's imap-login wording where
// clients or admins may rely on it.
//
// Until the auth service exists, LOGIN and AUTHENTICATE answer
// "NO [UNAVAILABLE] Authentication service is not available" after every
// check a real login would make first (LOGINDISABLED/PRIVACYREQUIRED,
// mechanism, SASL-IR syntax). No continuation request is sent for
// AUTHENTICATE, so no credentials are collected that could not be checked.
//
// RFCs: RFC 9051 (§6.1 any state, §6.2 not-authenticated state), RFC 3501
// (the IMAP4rev1 capability this build advertises), RFC 2971 (ID), RFC 4959
// (SASL-IR), RFC 7888 (LITERAL+), RFC 5530 (response codes), RFC 8314
// (implicit TLS).
//
// Imports: login, imap, settings, service (for the handler signature). It
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
