// Package sasl holds cote's SASL mechanisms in one registry, each a
// go-sasl Server (Next(response) (challenge, done, err)) over a Backend that
// pkg/auth implements with its passdbs.
//
// Mechanisms and their specifications:
//
//	PLAIN                     RFC 4616 (go-sasl's server)
//	LOGIN                     draft-murchison-sasl-login
//	CRAM-MD5                  RFC 2195, verified from Dovecot's stored HMAC-MD5
//	                          context (passwd.Creds.CRAM) without the password
//	SCRAM-SHA-1, SCRAM-SHA-256  RFC 5802, RFC 7677 (xdg-go/scram)
//	SCRAM-SHA-1-PLUS, SCRAM-SHA-256-PLUS  with channel binding: tls-exporter
//	                          (RFC 9266) or tls-server-end-point (RFC 5929 §4)
//	EXTERNAL                  RFC 4422 Appendix A, TLS client certificate
//	                          (go-sasl's server)
//	APOP                      RFC 1939 §7, in Dovecot's SASL form
//	OAUTHBEARER               RFC 7628; XOAUTH2 (Google's form)
//
// Rules every mechanism keeps:
//   - A response over MaxResponse (8 KiB) is refused (ErrTooLarge), before
//     it is parsed.
//   - An authorization identity other than the authentication identity is
//     refused with ErrAuthzid: cote has no master users.
//   - An unknown user and a wrong password end the same way (ErrAuthFailed);
//     SCRAM runs its exchange on per-user dummy keys for an unknown user so
//     server-first does not tell either. The Backend does the dummy password
//     verification for the plaintext mechanisms.
//   - Backend errors that are not the package's sentinels become
//     ErrTempFail, never ErrAuthFailed.
//   - Nothing here logs: responses carry passwords.
//
// Channel-binding data and client-certificate facts come from the login
// process that holds the TLS session, through authproto's cote_cbind_type,
// cote_cbind and cote_cert_user AUTH fields (see pkg/authproto).
//
// Imports: authproto and passwd of cote's packages, go-sasl and
// xdg-go/scram; never settings, auth or anything that does I/O.
package sasl
