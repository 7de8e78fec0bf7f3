// Package imap is the IMAP wire layer shared by imap-login and the post-login
// imap process: a command reader with hard limits, parsers for the
// arguments of every command, and a buffered response writer. It knows the
// syntax of RFC 9051 and RFC 3501; it knows nothing about session state or
// the mail store.
//
// Files:
//   - reader.go: commands (tag, name, atoms, quoted strings, literals
//     "{n}", "{n+}" (LITERAL+/LITERAL-, RFC 7888) and "~{n}" (literal8,
//     RFC 3516), NIL, lists) with the limits of Limits.
//   - seqset.go: sequence sets and "$" (RFC 9051 §9, RFC 5182), resolved,
//     iterated and rendered (COPYUID, APPENDUID, ESEARCH).
//   - search.go: SEARCH programs (RFC 9051 §6.4.4 plus IMAP4rev1's NEW,
//     OLD, RECENT), CHARSET, ESEARCH RETURN options (RFC 4731, RFC 5182,
//     RFC 5267 §4's CONTEXT, UPDATE with RFC 5465 §7's fetch-att, and
//     PARTIAL), and CANCELUPDATE's tags.
//     Legacy charsets come from pkg/message/charset, passed in as a
//     CharsetDecoder, so imap-login does not link the charset tables.
//   - sort.go: SORT (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO, RFC 5267
//     RETURN) and THREAD arguments; the charset and program after them
//     are parsed as SEARCH's.
//   - fetch.go: FETCH data items (RFC 9051 §6.4.5, RFC 3516 BINARY,
//     RFC 7162 MODSEQ, RFC 8514 SAVEDATE, RFC 8474 EMAILID and THREADID,
//     RFC 8970 PREVIEW with its (LAZY) modifier: preview.go), sections
//     through message.ParseSection, partials.
//   - condstore.go: RFC 7162's SELECT parameters (CONDSTORE, QRESYNC with
//     known UIDs and sequence match data) and FETCH modifiers
//     (CHANGEDSINCE, VANISHED); STORE's UNCHANGEDSINCE is in store.go and
//     SEARCH MODSEQ, OLDER/YOUNGER (RFC 5032) and the SAVED* keys (RFC
//     8514) in search.go.
//   - store.go: STORE and APPEND/MULTIAPPEND arguments (RFC 3502);
//     args.go: flags, dates, date-times, ArgError.
//   - list.go: LIST/LSUB arguments with RFC 5258 selection and return
//     options and LIST-STATUS (RFC 5819), STATUS items (RFC 8438 SIZE),
//     LIST wildcard matching.
//   - mutf7.go: mailbox names in modified UTF-7 (RFC 3501 §5.1.3).
//   - metadata.go: RFC 5464 entry names (checked, lowercased) and the
//     METADATA response with nstring / literal8 values.
//   - writer.go, respond.go: status lines, strings, literals streamed from
//     an io.Reader, FETCH responses built item by item, ESEARCH;
//     render.go: ENVELOPE and BODYSTRUCTURE exactly as Dovecot writes them.
//
// Argument parsers take the []Arg of a Command and return *ArgError: the
// engine answers "tag Status [Code] Msg" (BAD for syntax, NO for a value
// the server refuses such as an unknown charset). Names and values come
// back canonical (system flags in RFC spelling, mailbox names in UTF-8
// with INBOX upper-cased), so the engine compares them directly.
//
// Imports: the standard library and pkg/message (sections, and the
// structures render.go writes). It must not import login, service,
// storage or auth: imap-login links it.
//
// Invariants:
//   - No read is unbounded: a line segment is capped at MaxLine bytes (64 KiB,
//     Dovecot's imap_max_line_length), a literal at MaxLiteral, a whole
//     command, literals included, at MaxCommand, and its literals in number
//     at MaxLiterals. The exception is a top-level literal the caller's
//     Stream hook takes (APPEND's message, also as RFC 6855's "UTF8
//     (~{n})" data item once Reader.UTF8 is set): its data goes to the hook's
//     consumer through a reader of exactly its size and is never held, so
//     the hook applies the cap (APPENDLIMIT); whatever the consumer leaves
//     unread is discarded so the stream stays in step.
//   - A synchronizing literal "{n}" is answered with a continuation only after
//     the caller's Continue hook accepted it; a rejected one leaves the stream
//     at the start of the next command, because the client sends nothing more.
//   - A non-synchronizing literal "{n+}" that exceeds the cap cannot be
//     skipped safely, so it is a fatal error: the caller says BYE and closes.
//     With MaxNonSync set (LITERAL-), one over it is answered
//     "tag BAD [TOOBIG]" before the close (RFC 7888 §5).
//   - No parser backtracks or recurses without a bound: search keys nest at
//     most MaxSearchDepth deep, lists MaxDepth, and MatchList is
//     O(len(pattern)*len(name)).
//   - The writer never flushes on its own; callers flush when no complete
//     pipelined command is buffered (Reader.Pipelined), so a burst of
//     pipelined commands costs one write, and FETCH of many messages one
//     write per full buffer. Literal bodies are copied from an io.Reader
//     through the buffer, never held whole.
package imap
