package charset

import (
	"io"
	"strings"

	gmcharset "github.com/emersion/go-message/charset"
)

// maxDecoded bounds the output of one conversion: a search string is at
// most one command (the reader's MaxCommand), and no charset expands a
// byte to more than a few UTF-8 bytes. The bound keeps a decoder bug
// from producing unbounded output.
const maxDecoded = 4 << 20

// Decode converts s from the named charset to UTF-8. Names are matched
// case-insensitively with their IANA aliases (ISO-8859-1, latin1,
// windows-1252, KOI8-R, Shift_JIS, GB2312, ...). An unknown charset is an
// error. Decode(name, "") checks a name without converting anything.
func Decode(name, s string) (string, error) {
	r, err := gmcharset.Reader(name, strings.NewReader(s))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(r, maxDecoded)); err != nil {
		return "", err
	}
	return b.String(), nil
}
