// Package ipc holds the contracts between cote's processes: how the master
// hands a service its settings, listeners and restrictions, and the small
// line protocols on the status and control pipes.
//
// Master -> service (ARCHITECTURE.md, "Contracts between processes"):
//
//	fd 0     /dev/null
//	fd 1     /dev/null
//	fd 2     log pipe: one JSON object a line (see pkg/log), read by the master
//	fd 3     settings snapshot: a sealed memfd holding the JSON the master wrote
//	fd 4     status pipe, service -> master: "ready N", "avail N", "done"
//	fd 5     control pipe, master -> service: "stop", "shutdown", "overflow"; EOF = master gone
//	fd 6..   listeners, in the order EnvListeners names them
//
// The environment carries EnvService (the service name), EnvListeners (names
// and flags of fds 6..) and EnvRestrict (the restriction record the service
// applies first thing in main, before it reads settings or network input).
//
// Login -> post-login (contract 4, handoff.go): one framed record
// (Handoff) with the client socket as SCM_RIGHTS on login/<proto>,
// acknowledged with one byte; PeerPID gives the sender's SO_PEERCRED pid.
//
// This package imports nothing of cote's but settings-free helpers; it must not
// import any protocol, storage or auth package.
package ipc
