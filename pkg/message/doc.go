// Package message computes what IMAP needs to know about a stored
// message, once: the MIME part tree with offsets, sizes and line counts
// (RFC 5322, RFC 2045-2047, RFC 2231), the ENVELOPE and BODYSTRUCTURE
// fields as data (RFC 9051 §7.5.2), and the content of BODY[section] and
// BINARY[section] (RFC 9051 §6.4.5, RFC 3516), and the PREVIEW text
// (RFC 8970, preview.go; charsets other than UTF-8 are converted by a
// CharsetDecoder the caller passes). pkg/imap renders the
// structures as IMAP syntax (render.go); the mail index caches the tree
// in its binary form (Part.MarshalBinary) so a FETCH never parses MIME
// again.
//
// The reference is Dovecot 2.3: clients cache ENVELOPE and BODYSTRUCTURE,
// so a server replacing Dovecot must answer byte for byte as it did.
// testdata/corpus holds messages written for this package, each with
// Dovecot's answer (.golden: ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE;
// .sections: a fixed list of BODY[...] and BINARY[...] items), generated
// by running Debian's /usr/lib/dovecot/imap in PREAUTH mode
// (`go test -run 'TestGenerateGolden|TestSectionsGolden' -update`, as
// root); TestGoldenCurrent re-checks them where Dovecot is installed. The
// Dovecot behaviours this follows, each pinned by a corpus message:
// header values are kept raw (encoded words are not decoded); a repeated
// Subject, Date or Message-ID keeps its last occurrence while repeated
// address fields are concatenated; addresses it cannot parse are filled
// with MISSING_MAILBOX, MISSING_DOMAIN or SYNTAX_ERROR instead of failing
// the list; a message header without MIME-Version or Content-Type has its
// other Content-* fields ignored; message/global is a leaf; a multipart
// without body parts is reported with one empty text/plain part; a
// nonexistent section is empty; NUL is sent as 0x80 in BODY[] and as
// U+FFFD in ENVELOPE/BODYSTRUCTURE strings.
//
// Imports: only the standard library. It must not import any cote
// package: storage and imap import it.
//
// Invariants:
//   - Parse never fails and never panics; the raw message is never
//     changed, the tree only indexes it. Every part's header and body lie
//     inside its parent's body and inside the message (Part.Validate),
//     which FuzzParse checks.
//   - Sizes are counted as IMAP counts them: Virtual sizes count every
//     bare LF as CRLF (RFC822.SIZE, Dovecot's virtual size), Lines counts
//     LFs. A body followed by a boundary ends before the line end that
//     precedes the boundary line (RFC 2046 §5.1.1).
//   - Nesting is capped at MaxNesting (100) levels and the tree at
//     MaxParts (10000) parts, Dovecot's MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS
//     and MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS: past them a part
//     keeps its type but its content is not split further.
//   - The binary encoding is versioned and CRC-checked; UnmarshalBinary
//     refuses anything else (ErrCorrupt) and New refuses a tree that does
//     not fit the message it is paired with, so a stale or damaged cache
//     entry is rebuilt, never trusted.
//   - The whole message is held in memory (ParseReaderAt reads it all);
//     sections and BINARY decoding slice it.
package message
