package master

import (
	"testing"
	"time"
)

func TestThrottleSchedule(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var th throttle
	if th.active() || !th.allows(t0) {
		t.Fatal("a new throttle must allow starts")
	}
	now := t0
	wantDelays := []time.Duration{2, 4, 8, 16, 32, 60, 60}
	for i, w := range wantDelays {
		d, first := th.failed(now)
		if d != w*time.Second {
			t.Errorf("failure %d: delay %s, want %s", i+1, d, w*time.Second)
		}
		if first != (i == 0) {
			t.Errorf("failure %d: first = %v; one warning per episode", i+1, first)
		}
		if th.allows(now.Add(d - time.Millisecond)) {
			t.Errorf("failure %d: a start is allowed before the delay ends", i+1)
		}
		if !th.allows(now.Add(d)) {
			t.Errorf("failure %d: no start allowed when the delay ends", i+1)
		}
		now = now.Add(d)
	}
	th.survived()
	if th.active() || !th.allows(now) {
		t.Fatal("survived must end the episode")
	}
	if d, first := th.failed(now); d != 2*time.Second || !first {
		t.Errorf("after a survivor: delay %s first %v, want 2s and a new episode", d, first)
	}
}
