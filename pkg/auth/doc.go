// Package auth is cote's authentication service (cmd/auth) and the logic of
// its root helper (cmd/auth-worker): passdb and userdb drivers with
// Dovecot 2.3's semantics, the chains that combine them, and the servers of
// Dovecot's auth protocols (ARCHITECTURE.md, contracts 2 and 3).
//
// # Drivers
//
//   - passwd-file (passdb and userdb): `user:password:uid:gid:gecos:home:
//     shell:extra_fields`, args `[scheme=X] [username_format=%u] PATH`
//     (PATH may hold %-variables: per-domain files; a missing per-domain
//     file means an unknown user, a missing fixed file an internal failure).
//     Each lookup stats the file and rereads it when inode, size or mtime
//     changed. A malformed line is logged with file and line number (never
//     its content) and skips only that user; a duplicate keeps the first.
//   - static passdb (`password=...` or `nopassword`, plus fields) and static
//     userdb (`uid= gid= home=` plus fields; without allow_all_users=yes a
//     USER lookup not preceded by an authentication checks the passdbs for
//     the user first, as Dovecot does).
//   - shadow passdb and pam passdb go to the root auth-worker, which
//     verifies (the shadow hash never reaches the unprivileged auth
//     process). pam args: session=, setcred=, failure_show_msg= honoured;
//     max_requests= and cache_key= refused with the reason.
//   - passwd userdb reads /etc/passwd directly (world-readable; files only,
//     no NSS modules, as a CGO_ENABLED=0 binary).
//   - Every other Dovecot driver (ldap, sql, prefetch, ...) is a start-up
//     error naming the supported ones.
//
// Extra fields: nopassword, nologin (+ reason, sent in FAIL only after a
// correct password), allow_nets (IPs, CIDRs, "local"), user (rename for the
// rest of the chain), userdb_* (passed to the userdb lookup), and userdb
// fields uid, gid, home, mail, quota_rule passed through. proxy, host,
// proxy_maybe and master fields are refused: the lookup fails internally
// with "proxying is not supported" in the log, never silently ignored.
//
// Chains: passdbs run in order with skip (never, authenticated,
// unauthenticated), result_success, result_failure, result_internalfail
// (return-ok, return, return-fail, continue, continue-ok, continue-fail),
// deny, mechanisms, username_filter, default_fields and override_fields;
// userdbs likewise with skip = found/notfound. master = yes, auth_verbose
// per database and passdb/userdb sections inside filters are refused.
// User names: auth_username_chars, then auth_default_realm, then
// auth_username_format (default %Lu).
//
// # Protocols
//
// auth-client (login processes, Postfix's smtpd_sasl_type = dovecot):
// Dovecot's protocol 1.2 through pkg/authproto and pkg/sasl. The server
// offers the auth_mechanisms it knows; a mechanism that needs stored
// credentials (CRAM-MD5, SCRAM-*, APOP) is a start-up error when no passdb
// can look them up, and OAUTHBEARER/XOAUTH2 are refused (no token
// validator). With disable_plaintext_auth, plaintext mechanisms are refused
// on requests without "secured" (defence in depth; the login side filters
// first). CPID must match the peer's SO_PEERCRED pid.
//
// Finished authentications: an OK is remembered under (client pid, request
// id) with the connection's handshake COOKIE (random per connection, so it
// is bound to the connection's CUID) for cookieLifetime. A REQUEST on
// auth-master redeems it once: the entry is removed by any attempt, so a
// second redeem, another pid, a wrong cookie or an expired entry all get
// FAIL. This is Dovecot's scheme; the login process passes the handshake
// cookie it saw with the auth id in the handoff.
//
// auth-master: REQUEST, USER and LIST; auth-userdb: USER and LIST (REQUEST
// refused). PASS lookups are refused (they would hand out passwords).
//
// # Brute force and oracles
//
// Every FAIL waits auth_failure_delay. Unless the request says no-penalty
// or comes from login_trusted_networks, an AUTH first waits the client
// IP's penalty delay from anvil (2 s * 2^(n-1), capped at 15 s, as
// Dovecot's auth-penalty.c), and a failure raises the penalty by one (at
// most 4), with a CRC of the credentials as anvil's repeat checksum. An
// unknown user and a wrong password get byte-identical FAIL lines; an
// unknown user costs a dummy verification (passwd.Dummy), counted by
// Auth.DummyVerifications for tests. Passwords, SASL payloads and hashes
// never reach a log line: parse errors are logged by class only.
//
// # Invariants
//
//   - auth is a single process (its definition fixes process_limit = 1):
//     REQUEST must reach the process that remembered the OK.
//   - A connection's requests run concurrently (a login process multiplexes
//     all its clients on one connection); one request's steps never overlap
//     (a CONT while a step runs closes the connection).
//   - A malformed line closes that connection only.
//
// Imports: authproto, sasl, passwd, settings of cote's; never service,
// storage or a login package (cmd/auth wires the service runtime).
package auth
