// Package tlsconf turns the ssl settings (ssl, ssl_cert, ssl_key,
// ssl_key_password, ssl_min_protocol, ssl_cipher_list,
// ssl_prefer_server_ciphers and the certificates of local_name blocks) into
// a server *tls.Config for the login processes and smtpd.
//
// Protocols: TLS 1.0 to 1.3 as crypto/tls implements them (RFC 2246, 4346,
// 5246, 8446), SNI (RFC 6066 §3). Go cannot speak SSLv3.
//
// ssl_cipher_list keeps OpenSSL's syntax so that Dovecot configurations read
// unchanged: CipherSuites evaluates the list with OpenSSL 3.0's rules over a
// table that classifies each Go suite as `openssl ciphers -v` does, so a
// list selects exactly the suites OpenSSL would, intersected with Go's. Where
// Go cannot do what the list says (ordering, @STRENGTH, security levels, TLS
// 1.3 suites, suites Go lacks) a warning says so; nothing is dropped
// silently. Suites Go classes as insecure are enabled only when named one by
// one. The tests run the real `openssl ciphers -v` to check the mapping.
//
// Encrypted keys: encrypted PKCS#8 is decrypted with github.com/youmark/pkcs8
// (the standard library cannot), legacy "Proc-Type: 4,ENCRYPTED" PEM with
// x509.DecryptPEMBlock.
//
// scripts/mkcert.sh makes the self-signed certificate the tests load.
//
// Imports: pkg/settings only (for FromSection and the schema default); it
// must not import any protocol, storage, auth or master package, since both
// the login processes and smtpd link it.
//
// Invariants: New is a pure function of its Settings (a reload builds a new
// config; a *tls.Config is never changed after New returns); a returned
// config never negotiates below ssl_min_protocol, and SSLv3 never.
package tlsconf
