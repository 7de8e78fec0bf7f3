package format

import "github.com/cote-mail/cote/pkg/mutf7"

// ErrInvalidMUTF7 is returned for a folder name that is not canonical
// modified UTF-7.
var ErrInvalidMUTF7 = mutf7.ErrInvalid

// EncodeMUTF7 encodes a UTF-8 folder name as Dovecot writes it on disk
// (modified UTF-7, RFC 3501 §5.1.3).
func EncodeMUTF7(s string) string { return mutf7.Encode(s) }

// DecodeMUTF7 decodes an on-disk folder name to UTF-8.
func DecodeMUTF7(s string) (string, error) { return mutf7.Decode(s) }
