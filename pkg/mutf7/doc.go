// Package mutf7 is the modified UTF-7 codec of RFC 3501 §5.1.3: IMAP
// mailbox names on the wire (pkg/imap) and Maildir++ folder names on disk
// (pkg/storage/maildir/format), as Dovecot writes them. It is a leaf: it
// imports no cote package, so login binaries and the store can both link it.
package mutf7
