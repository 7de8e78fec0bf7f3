package smtpd

import (
	"context"
	"sync"
	"time"
)

// The per-process userdb answer cache cmd/smtpd puts in front of the
// auth-userdb lookups: a pipelining client sending many messages to the
// same recipients costs one lookup per recipient per UserCacheTTL instead
// of one per RCPT. A user removed from the userdb is still accepted for up
// to UserCacheTTL (and a new one refused for as long); lmtp looks the user
// up again at delivery, so such a message bounces there at worst.
const (
	UserCacheTTL  = 5 * time.Second
	UserCacheSize = 4096
)

// UserCache remembers a Users' answers, positive and negative, for a TTL,
// for at most max names. Errors are never cached (the next RCPT asks
// again and gets its own 4xx or answer).
type UserCache struct {
	u   Users
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]userEntry
}

type userEntry struct {
	exists bool
	until  time.Time
}

// NewUserCache caches u's answers for ttl, for at most max names.
func NewUserCache(u Users, ttl time.Duration, max int) *UserCache {
	if max < 1 {
		max = 1
	}
	return &UserCache{u: u, ttl: ttl, max: max, now: time.Now, m: make(map[string]userEntry)}
}

// Exists answers from the cache while the answer is fresh, else asks the
// wrapped Users. Names are keys as given: the userdb decides what case
// folding means.
func (c *UserCache) Exists(ctx context.Context, name string) (bool, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.exists, nil
	}
	exists, err := c.u.Exists(ctx, name)
	if err != nil {
		return exists, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[name]; !ok && len(c.m) >= c.max {
		c.evictLocked(now)
	}
	c.m[name] = userEntry{exists: exists, until: now.Add(c.ttl)}
	return exists, nil
}

// evictLocked drops the expired entries, and when that frees no room,
// arbitrary ones down to three quarters of max (map order), so a flood of
// distinct names costs a sweep per quarter of max insertions, not one per
// name.
func (c *UserCache) evictLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, k)
		}
	}
	if len(c.m) < c.max {
		return
	}
	for k := range c.m {
		if len(c.m) <= c.max*3/4 {
			break
		}
		delete(c.m, k)
	}
}
