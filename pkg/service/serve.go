package service

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Handler serves one client connection. It returns when the client is done
// or ctx is cancelled (then it says BYE in its protocol first). Serve closes
// c after the handler returns.
type Handler func(ctx context.Context, c net.Conn, l *Listener)

// Accept backoff on temporary errors, as net/http's Server does: 5 ms
// doubling to 1 s, reset by the next successful Accept.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = time.Second
)

// Events reported to the test hook.
const (
	eventSlotsFull = "slots-full" // an accept loop waits for a free slot
)

// slots counts the client slots in use. The free count is waited on, not
// reserved, before Accept, so several listeners can wait for the same slot
// without one of them holding it while idle in Accept.
type slots struct {
	mu       sync.Mutex // guards the fields below
	limit    int
	used     int
	served   int           // clients taken so far, for service_count
	changed  chan struct{} // closed and replaced when used decreases
	onChange func(free int)
}

func newSlots(limit int, onChange func(free int)) *slots {
	return &slots{limit: limit, changed: make(chan struct{}), onChange: onChange}
}

// waitFree returns once a slot is free (true) or abort is closed (false).
func (s *slots) waitFree(abort <-chan struct{}, full func()) bool {
	for {
		s.mu.Lock()
		if s.used < s.limit {
			s.mu.Unlock()
			return true
		}
		ch := s.changed
		s.mu.Unlock()
		full()
		select {
		case <-ch:
		case <-abort:
			return false
		}
	}
}

// acquire takes a slot, waiting for one unless abort is closed first.
func (s *slots) acquire(abort <-chan struct{}) bool {
	for {
		s.mu.Lock()
		if s.used < s.limit {
			s.used++
			free := s.limit - s.used
			s.mu.Unlock()
			s.onChange(free)
			return true
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-abort:
			return false
		}
	}
}

func (s *slots) release() {
	s.mu.Lock()
	s.used--
	free := s.limit - s.used
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.onChange(free)
}

// Serve accepts on every listener and runs h in one goroutine per
// connection. It takes a client slot before starting the goroutine
// (client_limit from rt.Service.ClientLimit; when no slot is free it stops
// calling Accept until one frees), reports "ready N" once when it starts and
// "avail N" when the free count changes (coalesced), honours service_count
// (after that many clients: close the listeners, report "done", finish the
// clients, return), backs off on temporary Accept errors and never exits on
// EMFILE, and recovers a panic in h by logging it and closing only that
// connection.
//
// Control "stop" (or EOF on the control pipe: the master died): close the
// listeners, report "done", wait for the clients, return nil. Control
// "shutdown" or ctx cancelled: also cancel the ctx handed to every h, wait
// for the handlers, return nil. A listener that fails with a permanent error
// stops the process the same way as "stop", and Serve returns that error.
// Serve returns only when every handler goroutine has returned.
func (rt *Runtime) Serve(ctx context.Context, h Handler) error {
	if !rt.serving.CompareAndSwap(false, true) {
		return errors.New("service: Serve called twice")
	}
	limit := rt.Service.ClientLimit
	if limit <= 0 {
		limit = DefaultClientLimit
	}
	serviceCount := rt.Service.ServiceCount

	st := rt.status
	sl := newSlots(limit, st.set)
	hctx, cancelHandlers := context.WithCancel(ctx)
	defer cancelHandlers()

	// stopAccept is closed when no new clients are taken; countReached when
	// the service_count-th client was accepted.
	stopAccept := make(chan struct{})
	countReached := make(chan struct{})
	var countOnce sync.Once
	failed := make(chan error, len(rt.Listeners))

	st.ready(limit)
	defer st.close()

	// wg counts the accept loops and the handler goroutines. A handler is
	// added while its accept loop is still counted, so Add never races Wait.
	var wg sync.WaitGroup
	a := &acceptor{
		rt: rt, h: h, sl: sl, hctx: hctx, wg: &wg,
		stopAccept: stopAccept, failed: failed,
		serviceCount: serviceCount,
		reached:      func() { countOnce.Do(func() { close(countReached) }) },
	}
	for _, l := range rt.Listeners {
		wg.Add(1)
		go a.loop(l)
	}

	var err error
	shuttingDown := false
	select {
	case <-rt.stopCh:
		rt.Log.Info("stopping: finishing current clients")
	case <-countReached:
		rt.Log.Debug("service_count reached: finishing current clients", zap.Int("service_count", serviceCount))
	case err = <-failed:
		rt.Log.Error("listener failed: finishing current clients", zap.Error(err))
	case <-rt.shutdownCh:
		shuttingDown = true
	case <-ctx.Done():
		shuttingDown = true
	}
	close(stopAccept)
	for _, l := range rt.Listeners {
		// The master and sibling processes keep their copies of the socket.
		l.Close()
	}
	st.markDone()

	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	shutdownCh, ctxDone := rt.shutdownCh, ctx.Done()
	for {
		if shuttingDown {
			rt.Log.Info("shutting down: disconnecting clients")
			cancelHandlers()
			shutdownCh, ctxDone = nil, nil
			shuttingDown = false
		}
		select {
		case <-all:
			return err
		case <-shutdownCh:
			shuttingDown = true
		case <-ctxDone:
			shuttingDown = true
		}
	}
}

// acceptor is the state the accept loops of one Serve call share.
type acceptor struct {
	rt           *Runtime
	h            Handler
	sl           *slots
	hctx         context.Context
	wg           *sync.WaitGroup
	stopAccept   chan struct{}
	failed       chan<- error
	serviceCount int
	reached      func()
}

func (a *acceptor) stopped() bool {
	select {
	case <-a.stopAccept:
		return true
	default:
		return false
	}
}

func (a *acceptor) loop(l *Listener) {
	defer a.wg.Done()
	rt := a.rt
	log := rt.Log.With(zap.String("listener", l.Name))
	full := func() {
		if rt.hook != nil {
			rt.hook(eventSlotsFull)
		}
	}
	var delay time.Duration
	for {
		if a.countDone() || !a.sl.waitFree(a.stopAccept, full) {
			return
		}
		c, err := l.Accept()
		if err != nil {
			if a.stopped() {
				return
			}
			if temporary(err) {
				if delay == 0 {
					delay = backoffMin
				} else {
					delay = min(2*delay, backoffMax)
				}
				log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("delay", delay))
				if !rt.wait(delay, a.stopAccept) {
					return
				}
				continue
			}
			a.failed <- err
			return
		}
		delay = 0

		if a.serviceCount > 0 {
			a.sl.mu.Lock()
			a.sl.served++
			n := a.sl.served
			a.sl.mu.Unlock()
			if n > a.serviceCount {
				// Accepted on another listener at the same instant as the
				// last allowed client: serving it would break the
				// per-process client bound the admin asked for.
				log.Warn("service_count reached; closing a connection accepted concurrently",
					zap.Stringer("remote", c.RemoteAddr()))
				c.Close()
				return
			}
			if n == a.serviceCount {
				a.reached()
			}
		}

		// Free was checked before Accept, but another listener may have
		// taken the slot since; the accepted client then waits for one.
		if !a.sl.acquire(a.hctx.Done()) {
			c.Close()
			return
		}
		a.wg.Add(1)
		go a.serve(c, l, log)
	}
}

// countDone reports whether service_count clients were taken already.
func (a *acceptor) countDone() bool {
	if a.serviceCount <= 0 {
		return false
	}
	a.sl.mu.Lock()
	defer a.sl.mu.Unlock()
	return a.sl.served >= a.serviceCount
}

func (a *acceptor) serve(c net.Conn, l *Listener, log *zap.Logger) {
	defer a.wg.Done()
	defer a.sl.release()
	defer c.Close()
	defer func() {
		if p := recover(); p != nil {
			log.Error("connection handler panicked; connection closed",
				zap.Any("panic", p), zap.Stringer("remote", c.RemoteAddr()), zap.Stack("stack"))
		}
	}()
	a.h(a.hctx, c, l)
}

// wait sleeps d, or returns false early when stop is closed.
func (rt *Runtime) wait(d time.Duration, stop <-chan struct{}) bool {
	if rt.sleep != nil {
		return rt.sleep(d, stop)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// temporary reports whether an Accept error is worth retrying: descriptor
// or memory exhaustion (EMFILE must never end the process: clients leaving
// free descriptors), an aborted handshake, or a timeout.
func temporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR,
		syscall.EAGAIN, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// Listeners outside the standard library may still mark retryable
	// errors with the deprecated Temporary method.
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}
