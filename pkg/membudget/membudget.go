package membudget

import (
	"context"
	"errors"
	"math"
	"runtime/debug"
	"sync"
)

// Small is the size below which Acquire does not count: such buffers are
// the ordinary per-command garbage the collector and GOMEMLIMIT handle.
const Small = 1 << 20

// ErrTooLarge is Acquire's answer to a request larger than the budget.
var ErrTooLarge = errors.New("membudget: larger than the process's memory budget (vsz_limit)")

// Budget is a FIFO weighted semaphore over bytes.
type Budget struct {
	size int64

	mu      sync.Mutex
	used    int64
	waiters []*waiter
}

type waiter struct {
	n     int64
	ready chan struct{}
}

// New returns a budget of size bytes.
func New(size int64) *Budget { return &Budget{size: size} }

var (
	processOnce sync.Once
	process     *Budget
)

// Process is the budget shared by the whole process, sized from the Go
// memory limit when it is first used (after the service runtime has set
// it).
func Process() *Budget {
	processOnce.Do(func() {
		size := int64(1 << 30)
		if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
			size = lim / 2
		}
		process = New(size)
	})
	return process
}

// Size is the budget's capacity in bytes.
func (b *Budget) Size() int64 { return b.size }

// Acquire reserves n bytes, waiting in arrival order until they are free
// or ctx ends. The returned release gives them back; it must be called
// exactly once. Requests under Small return at once with a no-op release.
func (b *Budget) Acquire(ctx context.Context, n int64) (release func(), err error) {
	if n < Small {
		return func() {}, nil
	}
	if n > b.size {
		return nil, ErrTooLarge
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return b.releaser(n), nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return b.releaser(n), nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted while giving up: hand the bytes back.
			b.used -= n
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
		}
		b.grantLocked()
		b.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (b *Budget) releaser(n int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			b.grantLocked()
			b.mu.Unlock()
		})
	}
}

// grantLocked wakes the waiters at the head of the queue that now fit.
func (b *Budget) grantLocked() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters = b.waiters[1:]
		close(w.ready)
	}
}
