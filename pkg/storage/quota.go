package storage

import (
	"fmt"
	"strconv"
	"strings"
)

// Quota is the limit of a user (0 = unlimited) from Dovecot's quota_rule
// syntax.
type Quota struct {
	StorageBytes int64
	Messages     int64
}

// QuotaUsage is what a user's mail takes.
type QuotaUsage struct {
	Bytes    int64
	Messages int64
}

// ParseQuotaRule parses one Dovecot quota_rule: `*:storage=1G`,
// `*:bytes=1048576`, `*:messages=1000`, or several limits joined with ':'
// (`*:storage=1G:messages=1000`), adding them to q. Per-mailbox rules
// (`Trash:storage=+100M`), percentages and `*:ignore` are refused: cote
// enforces one quota over the whole mailbox tree.
func ParseQuotaRule(rule string, q *Quota) error {
	rule = strings.TrimSpace(rule)
	if rule == "" {
		return nil
	}
	box, rest, ok := strings.Cut(rule, ":")
	if !ok {
		return fmt.Errorf("quota rule %q: want *:storage=SIZE or *:messages=N", rule)
	}
	if box != "*" {
		return fmt.Errorf("quota rule %q: per-mailbox rules are not supported", rule)
	}
	for _, lim := range strings.Split(rest, ":") {
		k, v, ok := strings.Cut(lim, "=")
		if !ok {
			return fmt.Errorf("quota rule %q: %q is not supported", rule, lim)
		}
		if strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") || strings.HasSuffix(v, "%") {
			return fmt.Errorf("quota rule %q: relative limits are not supported", rule)
		}
		switch strings.ToLower(k) {
		case "storage":
			// Dovecot's storage= is in kilobytes unless a unit is given.
			n, err := parseQuotaSize(v, 1024)
			if err != nil {
				return fmt.Errorf("quota rule %q: %v", rule, err)
			}
			q.StorageBytes = n
		case "bytes":
			n, err := parseQuotaSize(v, 1)
			if err != nil {
				return fmt.Errorf("quota rule %q: %v", rule, err)
			}
			q.StorageBytes = n
		case "messages":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("quota rule %q: bad message count %q", rule, v)
			}
			q.Messages = n
		default:
			return fmt.Errorf("quota rule %q: %q is not supported", rule, k)
		}
	}
	return nil
}

func parseQuotaSize(v string, unit int64) (int64, error) {
	v = strings.TrimSpace(v)
	mult := unit
	if v != "" {
		switch strings.ToUpper(v[len(v)-1:]) {
		case "B":
			mult, v = 1, v[:len(v)-1]
		case "K":
			mult, v = 1<<10, v[:len(v)-1]
		case "M":
			mult, v = 1<<20, v[:len(v)-1]
		case "G":
			mult, v = 1<<30, v[:len(v)-1]
		case "T":
			mult, v = 1<<40, v[:len(v)-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", v)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", v)
	}
	return n * mult, nil
}

// Exceeds reports whether adding bytes and msgs to u breaks q.
func (q Quota) Exceeds(u QuotaUsage, bytes, msgs int64) bool {
	if q.StorageBytes > 0 && u.Bytes+bytes > q.StorageBytes {
		return true
	}
	if q.Messages > 0 && u.Messages+msgs > q.Messages {
		return true
	}
	return false
}
