// Package testkit is what cote's binary-level tests stand on: it builds the
// real binaries once per test process, lays out a temporary configuration tree
// from the shipped etc/ files, starts the real master (`cote -F -c FILE`) and
// waits for its READY=1 on NOTIFY_SOCKET, streams the suite's log into the
// test log, inspects processes from /proc, and runs `.tr` transcript files
// (the format of STYLE.md) against a connection.
//
// A binary-level test, as root:
//
//	s := testkit.Start(t, testkit.Options{Extra: "service imap-login {\n  process_min_avail = 1\n}\n"})
//	procs := s.WaitChildren("imap-login", 1)
//	err := testkit.CheckCreds(procs[0].PID, testkit.Creds{UID: uid, GID: gid, Root: chroot, NoNewPrivs: true})
//	testkit.DialTranscript(t, s.Addr("imap-login", "imap"), nil, "testdata/greeting.tr", testkit.TranscriptOptions{})
//	mark := s.LogMark()
//	s.Rewrite(newSettings)
//	s.Signal(syscall.SIGHUP)
//	s.WaitLogAfter(mark, `reloaded`)
//
// The suite's tree is a copy of etc/ plus etc/local.conf (which the shipped
// cote.conf includes last) holding the kit's overrides and Options.Extra;
// Rewrite replaces Extra, WriteFile replaces any file of the tree.
//
// Everything waits on a signal with a deadline: READY on the notify socket,
// a log line (WaitLog), a process exit (pidfd). The only polling is of /proc,
// which offers no change notification; it runs on a short ticker bounded by a
// deadline, never as a fixed sleep.
//
// Tests only: nothing outside _test.go files and test/ may import this
// package. It may import anything of cote's (it reads settings to learn the
// ports it wrote), but production packages must never import it.
//
// Invariants:
//   - A Suite never outlives its test: t.Cleanup stops the master with
//     SIGTERM, waits for it and for every child it had, and fails the test if
//     any process is left.
//   - Nothing is logged to the test after its cleanup finished.
//   - Ports are picked by binding 127.0.0.1:0 and closing; a start that loses
//     the race ("address already in use") is retried once with new ports.
package testkit
