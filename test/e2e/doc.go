// Package e2e tests the real binaries together: it builds every ./cmd/...,
// starts the master (`cote -F`) as root from a temporary copy of the shipped
// configuration tree (pkg/testkit), and checks what an operator and a client
// see: the credentials, chroot and no_new_privs of every process read from
// /proc, replacement of killed children, throttling of a service that keeps
// crashing, reloads (SIGHUP, file watcher, invalid edits), a clean SIGTERM,
// the SysV init script, TLS (STARTTLS, implicit TLS, old versions refused),
// IMAP transcripts and independent clients (go-imap v2, Python's imaplib),
// and the errors of a configuration that must not start.
//
// The tests need root (CI runs as root): without it they skip, and under
// CI=true they fail. Nothing sleeps for readiness: every wait is on READY,
// a log line, a pidfd, or a bounded /proc scan. No speed is asserted; the
// start-to-READY time and the idle suite's RSS are logged for the record.
//
// Only tests live here; nothing may import this package.
package e2e
