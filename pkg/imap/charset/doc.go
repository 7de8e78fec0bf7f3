// Package charset converts SEARCH strings from the charset a client
// names in "SEARCH CHARSET x" to UTF-8 (RFC 9051 §6.4.4). It is the
// imap.CharsetDecoder the post-login engine passes to imap.ParseSearch.
//
// It is a package of its own because the charset tables (go-message's
// charset package on golang.org/x/text) add about a megabyte to a
// binary: imap-login links pkg/imap but never searches, so it must not
// link this.
//
// Imports: go-message's charset package only. It must not import any
// cote package.
//
// Invariants: Decode never panics; an unknown charset is an error (the
// engine answers NO [BADCHARSET]); bytes invalid in a known charset
// become U+FFFD, so a search still runs.
package charset
