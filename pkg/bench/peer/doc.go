// Package peer starts private instances of the servers cote is compared
// with, on loopback and under a directory of their own, never touching the
// system's configuration: Dovecot (IMAP, imaps and LMTP listeners, for
// cote-bench's tests and bench-compare's reference figures; pop3 and pop3s
// on request), a private Postfix (StartPostfix: smtpd on loopback, its own
// main.cf, master.cf, queue_directory and data_directory below the
// instance's directory, delivering a virtual domain over LMTP into the
// private Dovecot) and Postfix's smtp-sink (the load generator's own
// ceiling). The settings follow the project's notes on reference peers: a
// passwd-file of PLAIN passwords, a static userdb, performance-mode login
// processes, mail_fsync = optimized.
//
// It runs programs as root (Dovecot's master must start as root) and is
// used by tests and benchmark tooling only; no server binary links it.
//
// Imports: nothing of cote's.
//
// Invariants:
//   - Every file an instance writes lies below DovecotOptions.Dir or
//     PostfixOptions.Dir; /etc/dovecot and /etc/postfix are never written.
//   - StartDovecot returns only after the listener is bound (Dovecot's
//     master binds before it detaches), so no caller waits by polling.
package peer
