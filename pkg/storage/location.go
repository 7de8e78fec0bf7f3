package storage

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Location is a parsed mail_location (Dovecot's syntax:
// `driver:path[:KEY=value...]`, e.g. `maildir:~/Maildir`).
type Location struct {
	Driver string            // "maildir"
	Path   string            // absolute, ~ expanded
	Params map[string]string // upper-case keys: LAYOUT, INBOX, INDEX, ...
}

// ParseLocation parses a mail_location value; home replaces a leading ~.
// %-variables must already be expanded (the userdb and pkg/settings do
// that).
func ParseLocation(s, home string) (Location, error) {
	s = strings.TrimSpace(s)
	driver, rest, ok := strings.Cut(s, ":")
	if !ok || driver == "" {
		return Location{}, fmt.Errorf("mail location %q names no driver (use maildir:~/Maildir)", s)
	}
	// Dovecot escapes ':' inside a value as "::"; split on single colons.
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(rest); i++ {
		if rest[i] == ':' {
			if i+1 < len(rest) && rest[i+1] == ':' {
				cur.WriteByte(':')
				i++
				continue
			}
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(rest[i])
	}
	parts = append(parts, cur.String())
	loc := Location{Driver: strings.ToLower(driver), Params: map[string]string{}}
	path := parts[0]
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return Location{}, fmt.Errorf("mail location %q: parameter %q has no value", s, p)
		}
		loc.Params[strings.ToUpper(k)] = v
	}
	exp, err := expandHome(path, home)
	if err != nil {
		return Location{}, fmt.Errorf("mail location %q: %w", s, err)
	}
	loc.Path = exp
	for k, v := range loc.Params {
		if k == "INBOX" || k == "INDEX" || k == "CONTROL" {
			e, err := expandHome(v, home)
			if err != nil {
				return Location{}, fmt.Errorf("mail location %q: %s: %w", s, k, err)
			}
			loc.Params[k] = e
		}
	}
	return loc, nil
}

func expandHome(p, home string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty path")
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home == "" {
			return "", fmt.Errorf("%q needs a home directory and the user has none", p)
		}
		p = home + p[1:]
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	return filepath.Clean(p), nil
}

// MaxNameLevels and MaxNameLength bound mailbox names. Dovecot's
// MAILBOX_LIST_NAME_MAX_LENGTH is 4096 bytes; a path component is capped
// at 255 bytes by Linux (NAME_MAX), and a Maildir++ folder name holds
// every level in one component, so cote keeps the total under it.
const (
	MaxNameLength = 255 - 1 // the leading "." of a Maildir++ folder
	MaxNameLevels = 16      // Dovecot's mailbox_list_validate_name limit
)

// ValidLevel checks one hierarchy level of a mailbox name (UTF-8): not
// empty, no "." or "..", no "/", no control characters, no leading "~"
// nor any "%" or "*" (list wildcards: a mailbox so named could not be
// listed exactly).
func ValidLevel(level string) error {
	switch {
	case level == "":
		return fmt.Errorf("empty hierarchy level")
	case level == "." || level == "..":
		return fmt.Errorf("%q is not a valid name", level)
	case !utf8.ValidString(level):
		return fmt.Errorf("name is not valid UTF-8")
	case strings.ContainsAny(level, "/%*"):
		return fmt.Errorf("name contains a reserved character")
	case strings.HasPrefix(level, "~"):
		return fmt.Errorf("name starts with ~")
	}
	for _, r := range level {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("name contains a control character")
		}
	}
	return nil
}

// ValidStoreName checks a store name ("/"-joined levels).
func ValidStoreName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("name longer than %d bytes", MaxNameLength)
	}
	levels := strings.Split(name, "/")
	if len(levels) > MaxNameLevels {
		return fmt.Errorf("more than %d hierarchy levels", MaxNameLevels)
	}
	for _, l := range levels {
		if err := ValidLevel(l); err != nil {
			return err
		}
	}
	return nil
}

// IsInbox reports whether a store name is INBOX (case-insensitive, RFC
// 9051 §5.1).
func IsInbox(name string) bool { return strings.EqualFold(name, "INBOX") }
