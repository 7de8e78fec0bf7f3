// Package service is the runtime of every process the master spawns: it
// applies the restriction record, reads the settings snapshot, builds the
// logger, wraps the inherited listeners, and runs the accept loop with client
// slot accounting, status reports and graceful stop.
//
// The contract with the master is pkg/ipc (ARCHITECTURE.md, "Contracts between
// processes", item 1): fd 2 log lines, fd 3 the sealed settings memfd, fd 4 the
// status pipe ("ready N", "avail N", "done"), fd 5 the control pipe ("stop",
// "shutdown", "overflow": the function set with Runtime.OnOverflow evicts a
// client; EOF means the master died), fds 6.. the listeners named by
// $COTE_LISTENERS.
//
// Main does, in this order and before it reads anything from the network:
//
//  1. ignore SIGINT, SIGHUP and SIGPIPE (the master owns them; with SIGPIPE
//     ignored, a write to a dead master's log or status pipe returns EPIPE
//     instead of killing the process) and turn SIGTERM into "shutdown";
//  2. apply the restriction record of $COTE_RESTRICT (unless
//     $COTE_NO_PRIVSEP=1): resolve time.Local, set RLIMIT_DATA, chroot and
//     chdir("/"), setgroups, setresgid, setresuid, PR_SET_NO_NEW_PRIVS on
//     every thread, GOMEMLIMIT; then prove that uid 0 cannot be regained.
//     Any failure ends the process with status 1 and a message on stderr;
//  3. read the settings snapshot (fd 3), build the logger (pkg/log), wrap
//     fds 6.. as listeners, start watching fd 5, and call the service's run.
//
// Privilege drop notes (DEPENDENCIES.md, "Go and Linux facts"): Go applies
// syscall.Setgroups/Setresgid/Setresuid to every thread; prctl is per thread,
// so it goes through syscall.AllThreadsSyscall, which refuses to run in a
// binary linked with cgo: service binaries are built with CGO_ENABLED=0, and a
// cgo build fails loudly here instead of running with no_new_privs on one
// thread only. Anything that reads files outside the chroot (the zone info for
// time.Local, system certificate pools, /etc/resolv.conf) must happen before
// the drop or not at all. A record with RootUntilHandoff keeps uid and gid 0
// (chroot, rlimits and no_new_privs still apply): post-login processes for
// system users switch to the user's uid after the login handoff, which a
// later issue implements.
//
// Serve's invariants:
//   - a client slot is taken before the connection goroutine starts, and
//     never more than client_limit handlers run at once; while no slot is
//     free, Accept is not called, so waiting clients stay in the kernel's
//     backlog where the master's readiness watch can see them;
//   - never more than service_count clients are served by one process; a
//     connection accepted concurrently on a second listener past the count
//     is closed unserved and logged (the count is a security boundary);
//   - Serve returns only after every accept loop and every handler goroutine
//     has returned; a panic in a handler is logged and closes only its
//     connection; Serve closes each connection after its handler returns;
//   - after "done" is written, no "avail" line follows.
//
// Imports: ipc, settings, log of cote's; never a protocol, storage or auth
// package (those import this one).
package service
