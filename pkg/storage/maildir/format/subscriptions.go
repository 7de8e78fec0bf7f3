package format

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Subscriptions file locking (subscription-file.c
// SUBSCRIPTION_FILE_LOCK_TIMEOUT = 120 s, SUBSCRIPTION_FILE_CHANGE_TIMEOUT =
// 30 s used as the stale timeout).
const (
	SubscriptionsLockTimeout      = 120 * time.Second
	SubscriptionsLockStaleTimeout = 30 * time.Second
)

// subsV2Header opens a version-2 subscriptions file: "V\t2\n\n".
const subsV2Header = SubscriptionsVersion + "\n\n"

// ParseSubscriptions parses a subscriptions file into mailbox names (UTF-8,
// levels joined with sep). Version 2 (Dovecot 2.2+) lists one name per line
// with levels separated by TAB, each level tab-escaped (\001 escapes) and in
// modified UTF-7. A file without the header is version 1: names with the
// storage separator '.' of Maildir++. A last line without a newline is used
// (Dovecot reads it too: i_stream_set_return_partial_line). Lines that do
// not decode are kept undecoded rather than dropped, so a rewrite keeps
// them; empty lines are skipped.
func ParseSubscriptions(data []byte, sep byte) []string {
	v2 := bytes.HasPrefix(data, []byte(subsV2Header))
	if v2 {
		data = data[len(subsV2Header):]
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		var levels []string
		if v2 {
			levels = strings.Split(line, "\t")
			for i := range levels {
				levels[i] = tabUnescape(levels[i])
			}
		} else {
			levels = strings.Split(line, ".")
		}
		for i, lv := range levels {
			if dec, err := DecodeMUTF7(lv); err == nil {
				levels[i] = dec
			}
		}
		name := strings.Join(levels, string(sep))
		if strings.EqualFold(name, Inbox) {
			name = Inbox
		}
		names = append(names, name)
	}
	return names
}

// MarshalSubscriptions encodes names as a version-2 subscriptions file, the
// format Dovecot 2.3 writes: header "V\t2\n\n", then per name its levels
// (split at sep), each in modified UTF-7 and tab-escaped, joined by TAB.
// Duplicates (INBOX case-insensitively) are written once, in first-seen
// order.
func MarshalSubscriptions(names []string, sep byte) []byte {
	var b bytes.Buffer
	b.WriteString(subsV2Header)
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if name == "" {
			continue
		}
		if strings.EqualFold(name, Inbox) {
			name = Inbox
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		for i, lv := range strings.Split(name, string(sep)) {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(tabEscape(EncodeMUTF7(lv)))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// tabEscape is Dovecot's str_append_tabescaped: \001 -> \0011, TAB -> \001t,
// CR -> \001r, LF -> \001n.
func tabEscape(s string) string {
	if !strings.ContainsAny(s, "\x01\t\r\n") {
		return s
	}
	r := strings.NewReplacer("\x01", "\x011", "\t", "\x01t", "\r", "\x01r", "\n", "\x01n")
	return r.Replace(s)
}

// tabUnescape reverses tabEscape; an unknown escape yields the escaped
// character itself, as str_append_tabunescaped does.
func tabUnescape(s string) string {
	if !strings.Contains(s, "\x01") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\x01' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '1':
			b.WriteByte('\x01')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// ReadSubscriptions reads dir/subscriptions; a missing file means no
// subscriptions.
func ReadSubscriptions(dir string, sep byte) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, SubscriptionsName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseSubscriptions(data, sep), nil
}

// UpdateSubscriptions changes dir/subscriptions under its dotlock, as
// Dovecot's subsfile_set_subscribed does: with the lock held it reads the
// current names, passes them to update, and writes the result into the lock
// file, which is renamed over the old file. Holding the lock across the
// read keeps concurrent SUBSCRIBE commands from losing each other's change.
func UpdateSubscriptions(dir string, sep byte, update func(names []string) []string) error {
	l, err := LockFile(filepath.Join(dir, SubscriptionsName), LockOptions{
		Timeout: SubscriptionsLockTimeout, StaleTimeout: SubscriptionsLockStaleTimeout})
	if err != nil {
		return fmt.Errorf("subscriptions: %w", err)
	}
	names, err := ReadSubscriptions(dir, sep)
	if err == nil {
		err = l.Replace(MarshalSubscriptions(update(names), sep))
	}
	if err != nil && !l.released {
		l.Unlock()
	}
	return err
}
