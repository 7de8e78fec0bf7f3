// Package charset converts text from a named charset to UTF-8: SEARCH
// strings in the charset a client names in "SEARCH CHARSET x" (RFC 9051
// §6.4.4; it is the imap.CharsetDecoder the post-login engine passes to
// imap.ParseSearch) and message text parts (the message.CharsetDecoder
// of SEARCH BODY/TEXT and of the PREVIEW the store caches at save).
//
// It is a package of its own because the charset tables (go-message's
// charset package on golang.org/x/text) add about a megabyte to a
// binary: imap-login links pkg/imap and pkg/message but never searches
// or saves mail, so it must not link this; imap, lmtp and deliver do.
//
// Imports: go-message's charset package only. It must not import any
// cote package.
//
// Invariants: Decode never panics; an unknown charset is an error (the
// engine answers NO [BADCHARSET]); bytes invalid in a known charset
// become U+FFFD, so a search still runs.
package charset
