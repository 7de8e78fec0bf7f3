// Package passwd implements Dovecot's password schemes: it hashes and
// verifies stored passwords exactly as Dovecot 2.3 writes and reads them,
// so a users file or SQL column made with `doveadm pw` works unchanged,
// and `coteadm pw` output works in Dovecot.
//
// Stored values are "{SCHEME}data", or data alone in the passdb's default
// scheme. Schemes are those `doveadm pw -l` lists on Debian 12: PLAIN,
// CLEAR, CLEARTEXT, PLAIN-TRUNC, PLAIN-MD4, PLAIN-MD5, LDAP-MD5, MD5 (MD5-
// crypt, or a PLAIN-MD5 digest when reading), SMD5, SHA, SHA1, SHA256,
// SHA512, SSHA, SSHA256, SSHA512, CRYPT, DES-CRYPT, MD5-CRYPT,
// SHA256-CRYPT, SHA512-CRYPT, BLF-CRYPT, ARGON2I, ARGON2ID, PBKDF2,
// CRAM-MD5, HMAC-MD5, DIGEST-MD5, SCRAM-SHA-1 and SCRAM-SHA-256, each with
// the ".b64"/".base64"/".hex" encoding suffixes and Dovecot's default
// encodings (for fixed-length digests without a suffix the encoding is
// guessed from the length, as Dovecot does). OTP is listed but refused
// with the reason: a one-time password needs its sequence number written
// back after every login, and cote's password databases are read-only.
//
// The crypt(3) formats (the *-CRYPT schemes and the CRYPT default scheme
// of passwd-file and shadow) are recognised by their prefix, as libc's
// crypt() does for Dovecot: $1$ MD5-crypt, $5$/$6$ SHA-crypt, $2a$/$2b$/
// $2y$ bcrypt, $y$ yescrypt (what Debian 11+ and Fedora 35+ write to
// /etc/shadow, via go-crypt), and 13-character traditional DES, which is
// implemented here because no pinned module has it. Other libxcrypt
// formats ($7$, $gy$, $sha1$, $md5, _ BSDi DES) are refused as
// unsupported.
//
// Differences from Dovecot, each deliberate: Hash of PLAIN-TRUNC writes
// "<length>-<password>" (Dovecot writes a value its own verifier refuses);
// Options.Rounds is honoured for SCRAM-SHA-* (Dovecot 2.3 ignores -r
// there) and refused for schemes without a cost instead of being ignored;
// an unrecognised crypt string is an error rather than a silent mismatch.
//
// References: RFC 2104 (HMAC; the CRAM-MD5 context), RFC 2195
// (CRAM-MD5), RFC 2831 (DIGEST-MD5 HA1), RFC 5802 and RFC 7677 (SCRAM
// StoredKey/ServerKey), RFC 8018 (PBKDF2), RFC 9106 (Argon2), Drepper's
// SHA-crypt specification, the PHC string format.
//
// Imports: no cote package. passwd is a leaf so that coteadm can link it
// without the auth service, and the auth service and SASL code build on it.
//
// Invariants:
//   - A wrong password is (false, nil); an error always means the stored
//     value or the scheme is unusable, so the caller can log it as a
//     database problem. Errors never quote the password and quote a
//     stored value only by its format prefix.
//   - Comparisons of secrets are constant-time.
//   - Dummy's values verify no password anyone knows, and cost what a real
//     value of the scheme costs with default parameters.
package passwd
