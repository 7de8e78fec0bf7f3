package storage

import (
	"errors"
	"strings"
)

// DefaultQuotaRoot is the quota root name when the configuration gives
// none (Dovecot's `quota = maildir:User quota` as its examples write it).
const DefaultQuotaRoot = "User quota"

// RFC 9208 §5 resource names.
const (
	ResourceStorage = "STORAGE" // units of 1024 octets
	ResourceMessage = "MESSAGE" // messages
)

// QuotaResource is one resource of a quota root with its usage and limit
// in the resource's unit (RFC 9208 §5: STORAGE in KiB, MESSAGE in
// messages).
type QuotaResource struct {
	Name  string
	Usage int64
	Limit int64
}

// QuotaRootName is the name of the user's quota root, "" when no quota
// applies (no backend configured and no limit).
func (u *User) QuotaRootName() string {
	if u.cfg.QuotaBackend == "" && u.quota.StorageBytes == 0 && u.quota.Messages == 0 {
		return ""
	}
	if u.cfg.QuotaRoot != "" {
		return u.cfg.QuotaRoot
	}
	return DefaultQuotaRoot
}

// QuotaRoots returns the quota roots of a mailbox (RFC 9208 §4.3
// GETQUOTAROOT): cote keeps one root over all of a user's mail, so every
// existing mailbox has it, or none when no quota applies.
func (u *User) QuotaRoots(mailbox string) ([]string, error) {
	if _, _, err := u.resolve(mailbox); err != nil {
		return nil, err
	}
	if r := u.QuotaRootName(); r != "" {
		return []string{r}, nil
	}
	return nil, nil
}

// QuotaResources returns the limited resources of root with their usage
// (RFC 9208 §4.2 GETQUOTA), STORAGE first. An unknown root is
// ErrNotFound. Storage usage is rounded up to whole KiB, so a mailbox
// holding a few bytes does not report 0.
func (u *User) QuotaResources(root string) ([]QuotaResource, error) {
	name := u.QuotaRootName()
	if name == "" || !strings.EqualFold(root, name) {
		return nil, Errorf("getquota", "", ErrNotFound, errors.New("no such quota root"))
	}
	us, err := u.Usage()
	if err != nil {
		return nil, err
	}
	var out []QuotaResource
	if u.quota.StorageBytes > 0 {
		out = append(out, QuotaResource{Name: ResourceStorage, Usage: (us.Bytes + 1023) / 1024, Limit: u.quota.StorageBytes / 1024})
	}
	if u.quota.Messages > 0 {
		out = append(out, QuotaResource{Name: ResourceMessage, Usage: us.Messages, Limit: u.quota.Messages})
	}
	return out, nil
}
