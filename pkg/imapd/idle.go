package imapd

import (
	"strings"
	"time"
)

type lineResult struct {
	line string
	err  error
}

// cmdIdle: RFC 2177 / RFC 9051 §6.3.13. Changes are reported as they
// happen, with a keepalive "* OK Still here" every Keepalive; the idle
// timeout does not apply. A helper goroutine reads the one line that
// ends IDLE while this goroutine waits, so the reader has one user at a
// time and only this goroutine writes.
func cmdIdle(s *Session, c *cmdCtx) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	s.w.Continue("idling")
	if err := s.sync(true, true); err != nil && isIOError(err) {
		return err
	}
	if err := s.flush(); err != nil {
		return &ioError{err}
	}
	_ = s.conn.SetReadDeadline(time.Time{})
	lines := make(chan lineResult, 1)
	s.in.on = false
	defer func() { s.in.on = true }()
	go func() {
		l, err := s.r.ReadLine()
		lines <- lineResult{string(l), err}
	}()
	tick := time.NewTicker(s.cfg.Keepalive)
	defer tick.Stop()
	// NOTIFY (RFC 5465 §4): the other mailboxes are polled while idle.
	poll, stopPoll := s.notifyPollC()
	defer stopPoll()
	var notify <-chan struct{}
	if s.mbox != nil {
		notify = s.mbox.Notify()
	}
	for {
		select {
		case r := <-lines:
			if r.err != nil {
				if c.ctx.Err() != nil {
					return &ioError{errShutdown}
				}
				return &ioError{r.err}
			}
			if !strings.EqualFold(strings.TrimSpace(r.line), "DONE") {
				s.bad++
				s.w.Tagged(c.tag, "BAD", "", "Expected DONE.")
				return nil
			}
			if err := s.sync(false, true); err != nil && isIOError(err) {
				return err
			}
			s.bad = 0
			s.w.Tagged(c.tag, "OK", "", "Idle completed.")
			return nil
		case <-notify:
			if err := s.pushChanges(s.sync); err != nil {
				return err
			}
		case <-poll:
			if err := s.pushPoll(); err != nil {
				return err
			}
		case <-tick.C:
			s.w.WriteString("* OK Still here\r\n")
		case <-c.ctx.Done():
			// Unblock the reader and wait for it: nobody may use it
			// after this handler returns.
			_ = s.conn.SetReadDeadline(time.Now())
			<-lines
			return &ioError{errShutdown}
		}
		if err := s.flush(); err != nil {
			return &ioError{err}
		}
	}
}
