package smtp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of RFC 5321 section 4.5.3.1.
const (
	MaxLocalPart = 64
	MaxDomain    = 255
	MaxPath      = 256
)

// Address is a mailbox "local@domain". Local is the decoded local part;
// Domain is lower-case A-label form or an address literal in brackets.
type Address struct{ Local, Domain string }

// ErrSyntax is wrapped by every parse error of this file.
var ErrSyntax = errors.New("bad address syntax")

func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)
}

// ParseAddress parses an RFC 5321 Mailbox "local@domain" (no angle
// brackets). The local part is a dot-string or a quoted-string; UTF-8 is
// accepted in both parts (RFC 6531), U-label domains become A-labels.
func ParseAddress(s string) (Address, error) {
	if len(s) > MaxPath {
		return Address{}, syntaxErr("address longer than %d octets", MaxPath)
	}
	local, rest, err := parseLocalPart(s)
	if err != nil {
		return Address{}, err
	}
	if !strings.HasPrefix(rest, "@") {
		return Address{}, syntaxErr("missing @domain")
	}
	dom, err := NormalizeDomain(rest[1:])
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: dom}, nil
}

// ParseDecoded parses an address as go-smtp's server hands it to a backend:
// the client's quoting already removed, so the split is at the last '@' and
// the local part may hold any printable character (a quoted "b@c"@host
// arrives as b@c@host). The domain is validated and normalised.
func ParseDecoded(s string) (Address, error) {
	if len(s) > MaxPath {
		return Address{}, syntaxErr("address longer than %d octets", MaxPath)
	}
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return Address{}, syntaxErr("missing local part or @domain")
	}
	local := s[:i]
	if len(local) > MaxLocalPart {
		return Address{}, syntaxErr("local part longer than %d octets", MaxLocalPart)
	}
	if !utf8.ValidString(local) {
		return Address{}, syntaxErr("local part is not UTF-8")
	}
	for _, r := range local {
		if r < 0x20 || r == 0x7f {
			return Address{}, syntaxErr("control character in local part")
		}
	}
	dom, err := NormalizeDomain(s[i+1:])
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: dom}, nil
}

// ParsePath parses a Reverse-path or Forward-path with its angle brackets:
// "<>" is the null path; "<@a,@b:user@dom>" drops the source route (RFC 5321
// section 4.1.1.3: a relay must ignore it) after checking its syntax.
func ParsePath(s string) (addr Address, null bool, err error) {
	if len(s) < 2 || s[0] != '<' || s[len(s)-1] != '>' {
		return Address{}, false, syntaxErr("path not in angle brackets")
	}
	inner := s[1 : len(s)-1]
	if inner == "" {
		return Address{}, true, nil
	}
	if inner[0] == '@' {
		i := strings.IndexByte(inner, ':')
		if i < 0 {
			return Address{}, false, syntaxErr("source route without ':'")
		}
		for _, hop := range strings.Split(inner[:i], ",") {
			if !strings.HasPrefix(hop, "@") {
				return Address{}, false, syntaxErr("bad source route hop %q", hop)
			}
			if _, err := NormalizeDomain(hop[1:]); err != nil {
				return Address{}, false, err
			}
		}
		inner = inner[i+1:]
	}
	a, err := ParseAddress(inner)
	return a, false, err
}

// String renders the address for the wire: the local part as a dot-string
// when it is one, else quoted.
func (a Address) String() string {
	if a.Local == "" && a.Domain == "" {
		return ""
	}
	return quoteLocal(a.Local) + "@" + a.Domain
}

// HasRoutingChars reports a local part carrying another routing layer:
// '%' (percent hack), '!' (bang path) or '@' (quoted "b@c"). Postfix's
// resolver treats such addresses as relaying through the local domain; a
// relay policy refuses them.
func (a Address) HasRoutingChars() bool {
	return strings.ContainsAny(a.Local, "%!@")
}

// IsLiteral reports an address-literal domain such as "[192.0.2.1]".
func (a Address) IsLiteral() bool { return strings.HasPrefix(a.Domain, "[") }

// SplitExtension splits a local part at the first character of delim (a
// Postfix recipient_delimiter set: each character is a delimiter). It
// returns the base and the extension including its delimiter ("user", "+x").
func SplitExtension(local, delim string) (base, ext string) {
	if delim == "" {
		return local, ""
	}
	i := strings.IndexAny(local, delim)
	if i <= 0 { // a leading delimiter is part of the name, as in Postfix
		return local, ""
	}
	return local[:i], local[i:]
}

func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c >= 0x80: // UTF-8 (RFC 6531 atext); validity checked separately
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// parseLocalPart reads a Local-part at the start of s and returns it decoded
// with the unparsed rest.
func parseLocalPart(s string) (local, rest string, err error) {
	var b strings.Builder
	i := 0
	if strings.HasPrefix(s, `"`) {
		i = 1
		for {
			if i >= len(s) {
				return "", "", syntaxErr("unterminated quoted local part")
			}
			c := s[i]
			switch {
			case c == '"':
				i++
				goto done
			case c == '\\':
				if i+1 >= len(s) || s[i+1] < 0x20 || s[i+1] > 0x7e {
					return "", "", syntaxErr("bad quoted-pair")
				}
				b.WriteByte(s[i+1])
				i += 2
			case c >= 0x80 || (c >= 0x20 && c <= 0x7e):
				b.WriteByte(c)
				i++
			default:
				return "", "", syntaxErr("control character in quoted local part")
			}
		}
	} else {
		for i < len(s) && (isAtext(s[i]) || s[i] == '.') {
			i++
		}
		atom := s[:i]
		if atom == "" || atom[0] == '.' || atom[len(atom)-1] == '.' || strings.Contains(atom, "..") {
			return "", "", syntaxErr("bad dot-string local part %q", atom)
		}
		b.WriteString(atom)
	}
done:
	local = b.String()
	if local == "" {
		// RFC 5321 allows "" as a quoted local part, but no mailbox has it
		// and Postfix refuses it.
		return "", "", syntaxErr("empty local part")
	}
	if len(local) > MaxLocalPart {
		return "", "", syntaxErr("local part longer than %d octets", MaxLocalPart)
	}
	if !utf8.ValidString(local) {
		return "", "", syntaxErr("local part is not UTF-8")
	}
	return local, s[i:], nil
}

// isDotString reports whether local can be written without quotes.
func isDotString(local string) bool {
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		if !isAtext(local[i]) && local[i] != '.' {
			return false
		}
	}
	return true
}

func quoteLocal(local string) string {
	if isDotString(local) {
		return local
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if local[i] == '"' || local[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// NormalizeDomain validates an RFC 5321 Domain or address-literal and returns
// it lower-cased with U-labels converted to A-labels. A trailing dot is
// refused (it is a classic way to slip past a domain comparison).
func NormalizeDomain(d string) (string, error) {
	if d == "" {
		return "", syntaxErr("empty domain")
	}
	if d[0] == '[' {
		return normalizeLiteral(d)
	}
	if !utf8.ValidString(d) {
		return "", syntaxErr("domain is not UTF-8")
	}
	labels := strings.Split(d, ".")
	for i, l := range labels {
		if l == "" {
			return "", syntaxErr("empty label in domain %q", d)
		}
		al, err := toALabel(l)
		if err != nil {
			return "", err
		}
		labels[i] = al
	}
	out := strings.Join(labels, ".")
	if len(out) > MaxDomain {
		return "", syntaxErr("domain longer than %d octets", MaxDomain)
	}
	return out, nil
}

func normalizeLiteral(d string) (string, error) {
	if len(d) < 3 || d[len(d)-1] != ']' {
		return "", syntaxErr("bad address literal %q", d)
	}
	in := d[1 : len(d)-1]
	if len(in) > 5 && strings.EqualFold(in[:5], "IPv6:") {
		ip, err := netip.ParseAddr(in[5:])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", syntaxErr("bad IPv6 literal %q", d)
		}
		return "[IPv6:" + ip.String() + "]", nil
	}
	ip, err := netip.ParseAddr(in)
	if err != nil || !ip.Is4() {
		return "", syntaxErr("bad address literal %q", d)
	}
	return "[" + ip.String() + "]", nil
}

// toALabel lower-cases one label, NFC-normalises a U-label and encodes it
// with Punycode, then checks the LDH rule on the result.
func toALabel(l string) (string, error) {
	ascii := true
	for i := 0; i < len(l); i++ {
		if l[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		u := norm.NFC.String(strings.ToLower(l))
		enc, err := punyEncode(u)
		if err != nil {
			return "", err
		}
		l = "xn--" + enc
	} else {
		l = strings.ToLower(l)
	}
	if len(l) > 63 {
		return "", syntaxErr("domain label longer than 63 octets")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return "", syntaxErr("domain label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", syntaxErr("bad character %q in domain", c)
		}
	}
	return l, nil
}
