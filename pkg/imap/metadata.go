package imap

import (
	"bytes"
	"strings"
)

// METADATA (RFC 5464) wire pieces: entry names and the METADATA
// response.

// MaxMetadataEntry bounds an entry name. RFC 5464 sets no limit; a
// name is a short path, and a longer one is refused as invalid.
const MaxMetadataEntry = 1024

// MetadataEntry checks an entry name (RFC 5464 §3.2) and returns it in
// canonical form: names are case-insensitive, and Dovecot compares them
// lowercased, so lowercase is what is stored and answered. A valid name
// is "/private" or "/shared", alone or followed by "/"-separated
// non-empty components of printable ASCII other than "*" and "%"
// (wildcards have no meaning here); leaf reports that there is at least
// one component after the first (two after /vendor), which SETMETADATA
// requires.
func MetadataEntry(s string) (name string, leaf, ok bool) {
	if len(s) > MaxMetadataEntry {
		return "", false, false
	}
	low := strings.ToLower(s)
	var rest string
	switch {
	case strings.HasPrefix(low, "/private"):
		rest = low[len("/private"):]
	case strings.HasPrefix(low, "/shared"):
		rest = low[len("/shared"):]
	default:
		return "", false, false
	}
	if rest == "" {
		return low, false, true
	}
	if rest[0] != '/' {
		return "", false, false
	}
	for _, comp := range strings.Split(rest[1:], "/") {
		if comp == "" {
			return "", false, false
		}
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			if c <= ' ' || c >= 0x7f || c == '*' || c == '%' {
				return "", false, false
			}
		}
	}
	// RFC 5464 §3.2: a vendor entry names the vendor and at least one
	// entry under it (/shared/vendor/<vendor-token>/<entry>); shorter
	// names only name subtrees, which GETMETADATA may ask for with DEPTH.
	if (rest == "/vendor" || strings.HasPrefix(rest, "/vendor/")) && strings.Count(rest, "/") < 3 {
		return low, false, true
	}
	return low, true, true
}

// MetadataValue writes a value (RFC 5464 §5: nstring / literal8): NIL
// for nil, a quoted string when it can be one, a literal8 when it holds
// NUL, else a literal.
func (w *Writer) MetadataValue(v []byte) {
	switch {
	case v == nil:
		w.WriteString("NIL")
	case quotable(string(v)):
		w.String(string(v))
	case bytes.IndexByte(v, 0) >= 0:
		w.WriteString("~{")
		w.Number(uint64(len(v)))
		w.WriteString("}\r\n")
		_, _ = w.bw.Write(v)
	default:
		w.LiteralBytes(v)
	}
}

// MetadataResponse writes "* METADATA mailbox (entry value ...)" (RFC
// 5464 §4.4.1); values[i] belongs to names[i].
func (w *Writer) MetadataResponse(mailbox string, names []string, values [][]byte) {
	w.WriteString("* METADATA ")
	w.AString(mailbox)
	w.WriteString(" (")
	for i, n := range names {
		if i > 0 {
			w.WriteString(" ")
		}
		w.AString(n)
		w.WriteString(" ")
		w.MetadataValue(values[i])
	}
	w.WriteString(")")
	w.CRLF()
}
