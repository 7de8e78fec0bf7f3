// Package pop3 is the POP3 wire layer shared by pop3-login and the
// post-login pop3 process: a command reader with the RFC 2449 line limit
// and a buffered response writer that knows single-line status responses,
// SASL continuations and multi-line data (dot-stuffing, line ending
// repair, TOP). It knows the syntax of RFC 1939, RFC 2449 (CAPA, response
// codes) and RFC 5034 (AUTH continuations); it knows nothing about session
// state, authentication or the mail store.
//
// Files:
//   - reader.go: Reader, Command (keyword upper-cased, arguments split on
//     spaces, the raw line kept and Rest for PASS and APOP, whose
//     arguments may hold spaces); Buffered, BufferedBytes and HasLine for
//     pipelining (flush only when no whole command waits), the handoff
//     preamble and STLS; Reset after a TLS upgrade.
//   - writer.go: Writer (+OK, -ERR [code], "+ " continuations, multi-line
//     lines, message bodies and TOP); Reset after a TLS upgrade.
//
// Imports: the standard library only. It must not import login, service,
// storage or auth: pop3-login links it.
//
// Invariants:
//   - No read is unbounded: a line, terminator included, is capped at
//     MaxLine octets. A longer line is consumed to its end and reported as
//     ErrLineTooLong, so the stream stays in step with the client's next
//     command.
//   - The Writer never flushes by itself except when its buffer is full
//     (a long RETR): the session flushes when no complete pipelined command
//     is buffered (RFC 2449 §6.6 PIPELINING), so pipelined responses leave
//     in one write.
//   - Status text never carries CR or LF: they are replaced by spaces, so a
//     client-chosen string echoed in a response cannot forge a response.
//   - Multi-line data never contains a line that is exactly "." before the
//     terminator: every line starting with "." is stuffed (RFC 1939 §3),
//     and every line ends in CRLF, bare CR and bare LF included.
package pop3
