package master

import "time"

// Throttle limits, Dovecot's: a process that exits within quickStart of
// being started (or cannot be executed) delays the next start of its service
// by firstDelay, doubling up to maxDelay, so a broken binary or config is not
// restarted in a tight loop.
const (
	quickStart = 2 * time.Second
	firstDelay = 2 * time.Second
	maxDelay   = 60 * time.Second
)

// throttle is the restart schedule of one service. Methods take the time
// so tests drive it with a fake clock.
type throttle struct {
	delay time.Duration // current delay; 0 when not throttled
	until time.Time     // no start before this instant
}

// failed records a process that died at once (or failed to execute) at
// now. It returns the delay before the next start, and first = true when
// this opens a new throttle episode (the caller warns once per episode).
func (t *throttle) failed(now time.Time) (delay time.Duration, first bool) {
	first = t.delay == 0
	if first {
		t.delay = firstDelay
	} else {
		t.delay = min(t.delay*2, maxDelay)
	}
	t.until = now.Add(t.delay)
	return t.delay, first
}

// survived ends the episode: a process lived past quickStart.
func (t *throttle) survived() { *t = throttle{} }

// active reports whether the service is throttled at now.
func (t *throttle) active() bool { return t.delay != 0 }

// allows reports whether a process may be started at now.
func (t *throttle) allows(now time.Time) bool { return !now.Before(t.until) }
