package format

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Name limits. A Maildir++ folder is one directory entry holding its whole
// hierarchy (".A.B.C"), so the encoded entry is capped by NAME_MAX (255 on
// Linux filesystems) in addition to Dovecot's per-level cap
// (mail-storage.c MAILBOX_MAX_HIERARCHY_NAME_LENGTH = 255) and total cap
// (mailbox-list.h MAILBOX_LIST_NAME_MAX_LENGTH = 4096, which NAME_MAX makes
// unreachable here).
const (
	MaxLevelLength   = 255
	MaxDirNameLength = 255
)

// ErrInvalidName is wrapped by every name validation error.
var ErrInvalidName = errors.New("invalid mailbox name")

// Inbox is the name of the root mailbox.
const Inbox = "INBOX"

// ValidateName checks a mailbox name (UTF-8, levels separated by sep) for a
// Maildir++ layout the way Dovecot 2.3 does: no empty level (so no leading,
// trailing or doubled separator), no '/' (a path separator), no '.' unless
// '.' is the separator (it is the on-disk hierarchy separator; Dovecot says
// "Character not allowed in mailbox name: '.'"), no control characters,
// valid UTF-8, and the length caps above.
func ValidateName(name string, sep byte) error {
	_, err := FolderDir(name, sep)
	return err
}

// FolderDir maps a mailbox name to its Maildir++ directory name relative to
// the Maildir root: "" for INBOX, ".A.B" for A<sep>B, each level in
// modified UTF-7 as Dovecot stores names by default. Children of INBOX live
// in ".INBOX.x", as with Dovecot.
func FolderDir(name string, sep byte) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	if strings.EqualFold(name, Inbox) {
		return "", nil
	}
	levels := strings.Split(name, string(sep))
	if strings.EqualFold(levels[0], Inbox) {
		levels[0] = Inbox
	}
	var b strings.Builder
	for _, lv := range levels {
		if err := validateLevel(lv, sep); err != nil {
			return "", err
		}
		enc := EncodeMUTF7(lv)
		if len(enc) > MaxLevelLength {
			return "", fmt.Errorf("%w: level longer than %d bytes", ErrInvalidName, MaxLevelLength)
		}
		b.WriteByte('.')
		b.WriteString(enc)
	}
	if b.Len() > MaxDirNameLength {
		return "", fmt.Errorf("%w: longer than %d bytes on disk", ErrInvalidName, MaxDirNameLength)
	}
	return b.String(), nil
}

func validateLevel(lv string, sep byte) error {
	if lv == "" {
		return fmt.Errorf("%w: empty hierarchy level", ErrInvalidName)
	}
	for i := 0; i < len(lv); i++ {
		switch c := lv[i]; {
		case c == '/':
			return fmt.Errorf("%w: '/' not allowed", ErrInvalidName)
		case c == '.' && sep != '.':
			return fmt.Errorf("%w: '.' not allowed", ErrInvalidName)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w: control character", ErrInvalidName)
		}
	}
	return nil
}

// FolderName maps a Maildir++ directory name back to a mailbox name: "" or
// "." is INBOX, ".A.B" is A<sep>B after modified UTF-7 decoding. It fails
// for entries that are not folders (no leading '.', "..") and for names
// that could not have been created (invalid encoding, a level containing
// sep, an empty level).
func FolderName(dir string, sep byte) (string, error) {
	if dir == "" || dir == "." {
		return Inbox, nil
	}
	if dir[0] != '.' || dir == ".." {
		return "", fmt.Errorf("%w: %q is not a Maildir++ folder", ErrInvalidName, dir)
	}
	levels := strings.Split(dir[1:], ".")
	for i, lv := range levels {
		if lv == "" {
			return "", fmt.Errorf("%w: empty hierarchy level in %q", ErrInvalidName, dir)
		}
		dec, err := DecodeMUTF7(lv)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrInvalidName, dir, err)
		}
		if sep != '.' && strings.IndexByte(dec, sep) >= 0 {
			return "", fmt.Errorf("%w: %q contains the separator", ErrInvalidName, dir)
		}
		if strings.IndexByte(dec, '/') >= 0 {
			return "", fmt.Errorf("%w: %q contains '/'", ErrInvalidName, dir)
		}
		levels[i] = dec
	}
	if strings.EqualFold(levels[0], Inbox) {
		if len(levels) == 1 {
			// INBOX is the root; a ".INBOX" directory is not a mailbox
			// of its own (only ".INBOX.x" children are).
			return "", fmt.Errorf("%w: %q shadows INBOX", ErrInvalidName, dir)
		}
		levels[0] = Inbox
	}
	return strings.Join(levels, string(sep)), nil
}
