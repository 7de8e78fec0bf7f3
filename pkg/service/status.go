package service

import (
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/ipc"
)

// statusWriter reports free client slots to the master. Slot changes only
// record the new count and wake the writer goroutine, so a master that reads
// its status pipe slowly never blocks a connection goroutine, and a burst of
// changes collapses into one "avail N" line (at most one update pending).
type statusWriter struct {
	log *zap.Logger

	mu    sync.Mutex // guards free
	free  int
	kick  chan struct{} // capacity 1: the pending update
	quit  chan struct{}
	ended chan struct{}

	wmu  sync.Mutex // guards w, sent and done, and serialises writes
	w    io.Writer  // nil: no master, or the pipe failed
	sent int        // the count of the last line written
	done bool       // "done" was written: no more "avail"
}

func newStatusWriter(w io.Writer, log *zap.Logger) *statusWriter {
	return &statusWriter{
		log:   log,
		w:     w,
		sent:  -1,
		kick:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		ended: make(chan struct{}),
	}
}

// ready writes "ready N" and starts the writer goroutine; close stops it.
func (s *statusWriter) ready(free int) {
	s.mu.Lock()
	s.free = free
	s.mu.Unlock()
	s.wmu.Lock()
	s.write(ipc.Message{Verb: ipc.StatusReady, N: free})
	s.sent = free
	s.wmu.Unlock()
	go s.loop()
}

// set records the free count and schedules an "avail" line.
func (s *statusWriter) set(free int) {
	s.mu.Lock()
	s.free = free
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // an update is already pending; it will read the latest count
	}
}

func (s *statusWriter) loop() {
	defer close(s.ended)
	for {
		select {
		case <-s.kick:
			s.flush()
		case <-s.quit:
			return
		}
	}
}

func (s *statusWriter) flush() {
	s.mu.Lock()
	free := s.free
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.done || free == s.sent {
		return
	}
	s.write(ipc.Message{Verb: ipc.StatusAvail, N: free})
	s.sent = free
}

// markDone writes "done" once; later slot changes are not reported.
func (s *statusWriter) markDone() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.done {
		return
	}
	s.done = true
	s.write(ipc.Message{Verb: ipc.StatusDone})
}

// close stops the writer goroutine started by ready.
func (s *statusWriter) close() {
	close(s.quit)
	<-s.ended
}

// write sends one line; the caller holds wmu. A failed write means the
// master is gone (EPIPE: SIGPIPE is ignored): log once and stop writing; the
// control pipe's EOF will stop the process.
func (s *statusWriter) write(m ipc.Message) {
	if s.w == nil {
		return
	}
	if err := ipc.WriteMessage(s.w, m); err != nil {
		s.log.Warn("status pipe: write failed; no more status reports", zap.Error(err))
		s.w = nil
	}
}
