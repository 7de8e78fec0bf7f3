// Package imapc is the small IMAP client that cote-bench drives servers with.
// It is a load generator's client, not a general one: it writes commands
// (pipelined when the caller sends several before waiting), reads responses
// with their literals, matches tagged completions to commands and hands the
// untagged responses it saw while a command ran back to the caller, which
// decides what was expected. It never hides a malformed response: anything
// that breaks RFC 9051 §7 syntax as far as this reader checks it (a line not
// ended by CRLF, an unknown tag, a tagged BYE, a bad literal) is a
// *ProtocolError, so the benchmark can count it.
//
// RFCs: RFC 3501 and RFC 9051 (response syntax, synchronizing literals),
// RFC 7888 (LITERAL+: non-synchronizing literals when the server announces
// LITERAL+), RFC 2595 / RFC 9051 §6.2.1 (STARTTLS).
//
// Imports: nothing of cote's (its tests use pkg/testkit). The benchmark
// must be able to drive any IMAP server, so it must not share code, and
// therefore bugs, with cote's own protocol layer (pkg/imap).
//
// Invariants:
//   - Reads are bounded: one line segment at most MaxLine bytes, one literal
//     at most MaxLiteral bytes; beyond either the connection is unusable and
//     the error says so.
//   - Responses are returned in the order they arrived; untagged responses
//     are attributed to the oldest command still waiting, as a server must
//     send them before that command's completion (RFC 9051 §2.2.2).
package imapc
