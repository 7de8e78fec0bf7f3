package auth

import (
	"context"
	"hash/crc32"
	"net/netip"
	"time"
)

// Per-IP failure penalty, as Dovecot's auth-penalty.c: each failed
// authentication from an IP raises its penalty by one (up to
// penaltyMaxValue), and the next AUTH from that IP waits
// penaltyInitDelay * 2^(penalty-1) (2 s, 4 s, 8 s, ...), capped at
// penaltyMaxDelay, counted from the last failure. A repeated attempt with
// the same credentials (same checksum) does not raise it again (anvil keeps
// the recent checksums), so a client retrying a stale password is not
// punished like a password guesser.
const (
	penaltyInitDelay = 2 * time.Second  // Dovecot AUTH_PENALTY_INIT_SECS
	penaltyMaxDelay  = 15 * time.Second // Dovecot AUTH_PENALTY_MAX_SECS
	penaltyMaxValue  = 4                // Dovecot AUTH_PENALTY_MAX_PENALTY: 2 s * 2^3 = 16 s > the cap
)

// Penalties is the anvil client's penalty part (pkg/anvil.Client).
type Penalties interface {
	PenaltyGet(ip netip.Addr) (penalty int, last time.Time, err error)
	PenaltyInc(ip netip.Addr, checksum uint32, value int) error
}

// penaltyDelay returns how long an AUTH waits for an IP with penalty n
// whose last failure was at last.
func penaltyDelay(n int, last, now time.Time, init, max time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	d := init
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	d -= now.Sub(last)
	if d < 0 {
		return 0
	}
	return d
}

// credChecksum identifies the credentials of one attempt for anvil (CRC-32
// as Dovecot's auth_penalty_update uses; it never leaves the auth and anvil
// processes and is no hash of any strength).
func credChecksum(parts ...[]byte) uint32 {
	h := crc32.NewIEEE()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum32()
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
