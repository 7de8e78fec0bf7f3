package authproto

import (
	"bytes"
	"strings"
)

// The escape byte of Dovecot's tab-escaping (str_tabescape in Dovecot's
// lib/strescape.c): NUL, \001 itself, TAB, CR and LF become \001 followed by
// '0', '1', 't', 'r', 'n', so a field never contains the separator, the
// terminator or a byte a C peer would cut the line at.
const escByte = '\001'

// Escape tab-escapes one field.
func Escape(s string) string {
	if strings.IndexAny(s, "\x00\001\t\r\n") < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b.WriteString("\0010")
		case escByte:
			b.WriteString("\0011")
		case '\t':
			b.WriteString("\001t")
		case '\r':
			b.WriteString("\001r")
		case '\n':
			b.WriteString("\001n")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Unescape reverses Escape. An escape byte followed by anything else, or at
// the end, is ErrMalformed: only a broken or hostile peer sends it.
func Unescape(s string) (string, error) {
	i := strings.IndexByte(s, escByte)
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c != escByte {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", ErrMalformed
		}
		i++
		switch s[i] {
		case '0':
			b.WriteByte(0)
		case '1':
			b.WriteByte(escByte)
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", ErrMalformed
		}
	}
	return b.String(), nil
}

// ParseLine splits one protocol line on TABs and unescapes each field. A
// trailing LF (and a CR before it: Dovecot's line reader drops it too) is
// removed. An empty line, a NUL byte or a bare CR/LF inside the line, a line
// over MaxLineLength, or a bad escape is an error.
func ParseLine(line []byte) ([]string, error) {
	if len(line) > MaxLineLength {
		return nil, ErrLineTooLong
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) == 0 {
		return nil, ErrMalformed
	}
	if bytes.IndexAny(line, "\x00\r\n") >= 0 {
		return nil, ErrMalformed
	}
	parts := strings.Split(string(line), "\t")
	for i, p := range parts {
		u, err := Unescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

// FormatLine joins escaped fields with TABs and appends LF. The command name
// (the first argument) is escaped like any other field.
func FormatLine(args ...string) []byte {
	n := 1
	for _, a := range args {
		n += len(a) + 1
	}
	b := make([]byte, 0, n)
	for i, a := range args {
		if i > 0 {
			b = append(b, '\t')
		}
		b = append(b, Escape(a)...)
	}
	return append(b, '\n')
}
