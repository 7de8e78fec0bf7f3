package master

import (
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/ipc"
)

// overflowInterval rate-limits "overflow" per service: a client still
// waiting after an eviction (the freed slot went to another client, or
// nothing could be evicted) is retried at this pace rather than in a busy
// loop, and a connection flood evicts at most one client per process per
// interval.
const overflowInterval = 100 * time.Millisecond

// full reports whether a login service is at process_limit with every
// process that takes clients reporting no free slot. A client waiting on a
// listener then waits for nobody unless a process makes room: Dovecot's
// login processes evict their oldest unauthenticated client ("Connection
// queue full"), and so do cote's when told "overflow".
func (s *service) full() bool {
	if s.conf.Type != "login" || s.retired || len(s.procs) < s.conf.ProcessLimit {
		return false
	}
	n := 0
	for _, p := range s.procs {
		if p.available() || p.pending() {
			return false
		}
		if overflowTarget(p) {
			n++
		}
	}
	return n > 0
}

// overflowTarget: a process that serves clients and keeps accepting; a
// retiring one (told to stop, done, killed) accepts nobody, so evicting
// from it would not help the waiting client.
func overflowTarget(p *proc) bool {
	return p.verified && !p.done && p.told == "" && p.killed == ""
}

// overflowDue reports whether s is full and may be told "overflow" at now.
func (s *service) overflowDue(now time.Time) bool {
	return s.full() && !now.Before(s.lastOverflow.Add(overflowInterval))
}

// overflow tells every accepting process of s to evict its oldest
// unauthenticated client. Unlike tell it leaves p.told alone: the process
// keeps serving. Every process is told, as Dovecot does, since the master
// cannot know which one holds the oldest client.
func (m *Master) overflow(s *service, now time.Time) {
	s.lastOverflow = now
	m.event("overflow %s", s.conf.Name)
	m.log.Debug("service full with a client waiting; evicting the oldest unauthenticated client",
		zap.String("service", s.conf.Name))
	for _, p := range s.procs {
		if !overflowTarget(p) {
			continue
		}
		if err := ipc.WriteMessage(p.control, ipc.Message{Verb: ipc.ControlOverflow}); err != nil {
			m.log.Debug("control pipe write failed", zap.Int("pid", p.pid), zap.Error(err))
		}
	}
}
