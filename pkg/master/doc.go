// Package master is cote's supervisor, the `cote` binary's engine: it binds
// every listener, spawns the service processes as root with the ipc
// contract, verifies that each dropped its privileges, keeps the process
// pools at their limits, restarts crashed services with throttling, reloads
// the configuration, and stops the suite.
//
// Model: Dovecot's master (src/master). Limits and behaviours taken from it:
// crashed services are throttled from 2 s doubling to 60 s; a service whose
// process exits within 2 s of its start counts as crashing at once;
// `shutdown_clients` decides whether SIGTERM closes client sessions.
//
// Process model (ARCHITECTURE.md, "Processes" and "Contracts"):
//
//   - Listeners are bound here (services never need root) and handed to
//     every process of a service as fds 6.. with COTE_LISTENERS naming them.
//     "*" binds 0.0.0.0 and "::" binds [::] with IPV6_V6ONLY, so both
//     coexist. On a reload a listener whose key (service, name, address,
//     port, flags) is unchanged keeps its socket.
//   - A process is exec'd as root, in its own process group, with the
//     restriction record in COTE_RESTRICT; it drops privileges itself
//     (never SysProcAttr.Credential/Chroot). It counts as available only
//     after its "ready" line and a /proc check of every thread
//     (ipc.Restrict.Check); one that fails the check is killed.
//   - process_min_avail processes with free slots are kept; when none is
//     available an idle listener is watched for a waiting client (without
//     accepting it) and a process is spawned on demand, up to process_limit.
//     idle_kill tells surplus idle processes to stop.
//   - A login service (type login) at process_limit whose processes all
//     report no free slot, with a client waiting on a listener, is told
//     "overflow" (at most once per overflowInterval, 100 ms): each process
//     evicts its oldest unauthenticated client, as Dovecot's login
//     processes do ("Connection queue full"), and the freed slot takes the
//     waiting client.
//   - A reload builds a new generation of services: new processes get the
//     new snapshot, the old ones are told "stop" and finish their clients.
//     An invalid configuration is logged line by line and the running one
//     stays.
//
// The control socket base_dir/master (mode 0600) is a line protocol:
// request "verb args", answer "+ data" lines and a final "OK ..." or
// "ERR ..." (control.go). The pid file is base_dir/master.pid.
//
// Invariants: all supervision state is owned by the goroutine in Run;
// nothing is half-started (a start or reload either binds every listener
// and validates every certificate, or changes nothing); a process is never
// counted before its credentials are verified from /proc.
//
// This package must not import any protocol, storage or auth package
// (login, imaplogin, imap, storage, auth, ...): the master links only ipc,
// settings, log and tlsconf (to refuse a bad certificate at start).
package master
