// Package membudget bounds the memory that the sessions of one process
// hold at once in large transient buffers (a decoded BINARY part, the
// decoded text SEARCH BODY scans). A cote process serves many sessions,
// and vsz_limit (RLIMIT_DATA and GOMEMLIMIT) is the whole process's: a few
// sessions each decoding a large attachment must wait their turn rather
// than exhaust it, which would end every session of the process. Dovecot
// gets the same bound from one process per session and streaming.
//
// The process budget is half the Go memory limit (GOMEMLIMIT, set from
// vsz_limit by the service runtime), or 1 GiB without a limit. Requests
// below Small pass without waiting; a request larger than the whole budget
// fails with ErrTooLarge at once (the protocol answers with a clear "too
// large for this server's memory limit" instead of waiting forever).
// Waiters are served in arrival order, so a large request is not starved
// by a stream of small ones.
//
// Imports: the standard library only.
package membudget
