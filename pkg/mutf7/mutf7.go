package mutf7

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The modified base64 alphabet of RFC 3501 §5.1.3: RFC 2045 base64 with ','
// in place of '/', and no padding.
const mb64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var mb64Val = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(mb64); i++ {
		t[mb64[i]] = int8(i)
	}
	return t
}()

// ErrInvalid is returned for a string that is not canonical modified UTF-7.
var ErrInvalid = errors.New("invalid modified UTF-7")

// Encode encodes a UTF-8 string in modified UTF-7 (RFC 3501 §5.1.3):
// printable US-ASCII other than '&' stands for itself, '&' is "&-", and runs
// of other characters are "&" + modified base64 of their UTF-16BE + "-".
// Invalid UTF-8 bytes are encoded as U+FFFD; callers validate names first.
func Encode(s string) string {
	if isPlainMUTF7(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		var units []uint16
		for i < len(s) && (s[i] < 0x20 || s[i] > 0x7e) {
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			units = utf16.AppendRune(units, r)
		}
		b.WriteByte('&')
		var acc uint32
		bits := 0
		for _, u := range units {
			acc = acc<<16 | uint32(u)
			bits += 16
			for bits >= 6 {
				bits -= 6
				b.WriteByte(mb64[(acc>>bits)&0x3f])
			}
		}
		if bits > 0 {
			b.WriteByte(mb64[(acc<<(6-bits))&0x3f])
		}
		b.WriteByte('-')
	}
	return b.String()
}

// isPlainMUTF7 reports whether s is printable ASCII without '&', so that it
// encodes to itself.
func isPlainMUTF7(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '&' {
			return false
		}
	}
	return true
}

// Decode decodes modified UTF-7 to UTF-8. It refuses what RFC 3501
// §5.1.3 does not allow: bytes outside printable ASCII, an unterminated or
// empty shift, non-zero padding bits, printable ASCII encoded in base64,
// and unpaired UTF-16 surrogates.
func Decode(s string) (string, error) {
	if !strings.Contains(s, "&") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrInvalid
			}
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrInvalid
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		end := strings.IndexByte(s[i:], '-')
		if end < 0 {
			return "", ErrInvalid
		}
		if end == 0 {
			b.WriteByte('&')
			i++
			continue
		}
		if err := decodeShift(&b, s[i:i+end]); err != nil {
			return "", err
		}
		i += end + 1
	}
	return b.String(), nil
}

// decodeShift decodes the modified base64 between '&' and '-'.
func decodeShift(b *strings.Builder, enc string) error {
	var acc uint32
	bits := 0
	var units []uint16
	for i := 0; i < len(enc); i++ {
		v := mb64Val[enc[i]]
		if v < 0 {
			return ErrInvalid
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	// Leftover bits are padding: fewer than 6 of them, all zero.
	if bits >= 6 || acc != 0 || len(units) == 0 {
		return ErrInvalid
	}
	for j := 0; j < len(units); j++ {
		u := units[j]
		var r rune
		switch {
		case utf16.IsSurrogate(rune(u)):
			if u >= 0xdc00 || j+1 >= len(units) {
				return ErrInvalid
			}
			r = utf16.DecodeRune(rune(u), rune(units[j+1]))
			if r == utf8.RuneError {
				return ErrInvalid
			}
			j++
		case u >= 0x20 && u <= 0x7e:
			return ErrInvalid // must have been written directly
		default:
			r = rune(u)
		}
		b.WriteRune(r)
	}
	return nil
}
