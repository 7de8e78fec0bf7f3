// Package imap is the IMAP wire layer shared by imap-login and the post-login
// imap process: a command reader with hard limits and a buffered response
// writer. It knows the syntax of RFC 9051 §4 and §9 (atoms, quoted strings,
// literals, NIL, parenthesized lists) and LITERAL+ (RFC 7888); it knows
// nothing about command semantics or session state.
//
// Imports: the standard library and pkg/message, whose ENVELOPE and
// BODYSTRUCTURE render.go writes exactly as Dovecot does. It must not
// import login, service, storage or auth.
//
// Invariants:
//   - No read is unbounded: a line segment is capped at MaxLine bytes (64 KiB,
//     Dovecot's imap_max_line_length), a literal at MaxLiteral, and a whole
//     command, literals included, at MaxCommand.
//   - A synchronizing literal "{n}" is answered with a continuation only after
//     the caller's Continue hook accepted it; a rejected one leaves the stream
//     at the start of the next command, because the client sends nothing more.
//   - A non-synchronizing literal "{n+}" that exceeds the cap cannot be
//     skipped safely, so it is a fatal error: the caller says BYE and closes.
//   - The writer never flushes on its own; callers flush when no complete
//     pipelined command is buffered (Reader.Pipelined), so a burst of
//     pipelined commands costs one write.
package imap
