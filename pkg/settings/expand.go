package settings

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Vars holds the values of `%` variables by long name: "user", "username",
// "domain", "home", "service", "lip", "rip", "pid", "uid", "session", ...
// A name that is present with an empty value expands to "".
type Vars map[string]string

// shortVars maps Dovecot 2.3's one-letter variables to their long names
// (Dovecot's "Variables" page, user and login tables).
var shortVars = map[byte]string{
	'u': "user",
	'n': "username",
	'd': "domain",
	's': "service",
	'h': "home",
	'l': "lip",
	'r': "rip",
	'p': "pid",
	'i': "uid",
	'a': "lport",
	'b': "rport",
	'c': "secured",
	'k': "ssl_security",
	'm': "mechanism",
}

// maxPad bounds a width, so a template such as %0999999999u cannot ask for
// gigabytes of padding.
const maxPad = 4096

// Expand replaces Dovecot 2.3 `%` variables in template:
//
//	%u %n %d %h ...      short names (see shortVars); %% is a literal %
//	%{name}              long names
//	%[-][0][offset.]width[modifiers]var
//
// Modifiers apply left to right: L lowercase, U uppercase, E backslash
// before \ " ', X decimal to hex, R reverse, H hash (with a width: hash
// modulo width) as hex, M MD5 as hex, D "a.b.c" -> "a,dc=b,dc=c" (LDAP),
// T trim trailing whitespace. Then the offset (negative: from the end) and
// width cut the result; a width written with a leading 0 pads with zeros
// instead of cutting. "username" and "domain" are derived from "user" when
// vars lacks them. Dovecot's N (MD5-based hash) modifier and 2.4's
// `%{name | filter}` syntax are errors, as is an unknown variable.
func Expand(template string, vars Vars) (string, error) {
	if !strings.Contains(template, "%") {
		return template, nil
	}
	var b strings.Builder
	s := template
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+1:]

		// [-][0][offset.]width
		sign, zeroPad := 1, false
		if strings.HasPrefix(s, "-") {
			sign, s = -1, s[1:]
		}
		if strings.HasPrefix(s, "0") {
			zeroPad, s = true, s[1:]
		}
		var width, offset int
		var ok bool
		if width, s, ok = number(s); !ok {
			return "", fmt.Errorf("%%-variable width too large in %q", template)
		}
		if strings.HasPrefix(s, ".") {
			offset, width, sign = sign*width, 0, 1
			s = s[1:]
			// A zero before the offset means nothing; before the width it
			// asks for padding.
			zeroPad = false
			if strings.HasPrefix(s, "0") {
				zeroPad, s = true, s[1:]
			}
			if width, s, ok = number(s); !ok {
				return "", fmt.Errorf("%%-variable width too large in %q", template)
			}
		}
		var mods []byte
		for len(s) > 0 && strings.IndexByte("LUEXRHNMDT", s[0]) >= 0 {
			mods = append(mods, s[0])
			s = s[1:]
		}
		if s == "" {
			return "", fmt.Errorf("%q ends inside a %%-variable", template)
		}

		var name string
		switch {
		case s[0] == '%':
			// `%%` is a literal `%` (Dovecot also lets modifiers touch it).
			name, s = "%", s[1:]
		case s[0] == '{':
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated %%{ in %q", template)
			}
			name, s = s[1:end], s[end+1:]
			if strings.ContainsAny(name, "| ") {
				return "", fmt.Errorf("%%{%s}: filters are Dovecot 2.4 syntax, not supported", name)
			}
		default:
			long, found := shortVars[s[0]]
			if !found {
				return "", fmt.Errorf("unknown variable %%%c", s[0])
			}
			name, s = long, s[1:]
		}

		val := "%"
		if name != "%" {
			v, found := lookupVar(vars, name)
			if !found {
				return "", fmt.Errorf("unknown variable %%{%s}", name)
			}
			val = v
		}
		for _, m := range mods {
			var err error
			if val, width, offset, err = modify(m, val, width, offset); err != nil {
				return "", err
			}
		}

		if offset < 0 {
			if n := -offset; len(val) > n {
				val = val[len(val)-n:]
			}
		} else if offset > 0 {
			if offset >= len(val) {
				val = ""
			} else {
				val = val[offset:]
			}
		}
		switch {
		case zeroPad:
			if width > len(val) {
				b.WriteString(strings.Repeat("0", width-len(val)))
			}
			b.WriteString(val)
		case width > 0 && width < len(val):
			b.WriteString(val[:width])
		default:
			b.WriteString(val)
		}
	}
}

// number reads leading decimal digits; ok is false past maxPad.
func number(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		if n > maxPad {
			return 0, s, false
		}
		i++
	}
	return n, s[i:], true
}

func lookupVar(vars Vars, name string) (string, bool) {
	if v, ok := vars[name]; ok {
		return v, true
	}
	user, ok := vars["user"]
	if !ok {
		return "", false
	}
	// Dovecot cuts at the first '@': %n is the whole user without one, %d
	// is then empty.
	local, domain, _ := strings.Cut(user, "@")
	switch name {
	case "username":
		return local, true
	case "domain":
		return domain, true
	}
	return "", false
}

// modify applies one modifier. H consumes the width and offset, as in
// Dovecot's var_expand (the width is the modulus, the offset a minimum
// length of the hex digits).
func modify(m byte, v string, width, offset int) (string, int, int, error) {
	switch m {
	case 'L':
		return asciiCase(v, 'A', 'Z', 'a'-'A'), width, offset, nil
	case 'U':
		return asciiCase(v, 'a', 'z', -('a' - 'A')), width, offset, nil
	case 'E':
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' || v[i] == '"' || v[i] == '\'' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		return b.String(), width, offset, nil
	case 'X':
		// Dovecot: strtoull base 10, so junk reads as 0.
		n, _ := strconv.ParseUint(leadingDigits(v), 10, 64)
		return strconv.FormatUint(n, 16), width, offset, nil
	case 'R':
		r := []byte(v)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), width, offset, nil
	case 'H':
		h := strHash(v)
		if width > 0 {
			h %= uint32(width)
		}
		out := strconv.FormatUint(uint64(h), 16)
		if len(out) < offset {
			out = strings.Repeat("0", offset-len(out)) + out
		}
		return out, 0, 0, nil
	case 'M':
		sum := md5.Sum([]byte(v))
		return hex.EncodeToString(sum[:]), width, offset, nil
	case 'D':
		return strings.ReplaceAll(v, ".", ",dc="), width, offset, nil
	case 'T':
		return strings.TrimRight(v, " \t\r\n"), width, offset, nil
	}
	return "", 0, 0, fmt.Errorf("%%-variable modifier %c is not supported", m)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return "0"
	}
	return s[:i]
}

func asciiCase(s string, lo, hi byte, delta int) string {
	b := []byte(s)
	for i, c := range b {
		if c >= lo && c <= hi {
			b[i] = byte(int(c) + delta)
		}
	}
	return string(b)
}

// strHash is Dovecot's str_hash (the PJW/ELF hash), so that %H spreads
// users over the same directories as Dovecot did.
func strHash(s string) uint32 {
	var h uint32
	for i := 0; i < len(s); i++ {
		h = h<<4 + uint32(s[i])
		if g := h & 0xf0000000; g != 0 {
			h ^= g >> 24
			h ^= g
		}
	}
	return h
}
