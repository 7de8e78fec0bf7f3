package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/testkit"
)

// logTime parses the timestamp that starts every line the master writes to
// a file or stderr (pkg/log: "2006-01-02T15:04:05.000Z level who[pid]: ...").
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	f := strings.Fields(line)
	if len(f) == 0 {
		t.Fatalf("empty log line")
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", f[0])
	if err != nil {
		t.Fatalf("log line without a timestamp: %q: %v", line, err)
	}
	return ts
}

// TestCrashingServiceIsThrottled points imap-login at a program that exits
// 1 at once. The master must warn once that it throttles the service and
// space the restarts at least 2 s apart (Dovecot's schedule: 2 s doubling to
// 60 s), never restarting in a tight loop. The assertions are lower bounds
// on the spacing and an upper bound on the count, so a slow machine cannot
// make the test flaky.
func TestCrashingServiceIsThrottled(t *testing.T) {
	falseBin, err := exec.LookPath("false")
	if err != nil {
		t.Fatalf("no false(1): %v", err)
	}
	s := start(t, testkit.Options{
		NoReady: true,
		Extra: fmt.Sprintf(`service imap-login {
  executable = %s
  process_min_avail = 1
}
`, falseBin),
	})
	s.WaitLog(`service imap-login: throttling: process exits at once; next start in 2s`)
	crash := regexp.MustCompile(`service imap-login: process exited unexpectedly`)
	// Three exits take at least 2 s + 4 s of throttling.
	var times []time.Time
	mark := 0
	for len(times) < 3 {
		line, i, err := s.FindLog(mark, crash, testkit.WaitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, logTime(t, line))
		mark = i + 1
	}
	// The log's timestamps have millisecond resolution.
	const slack = 5 * time.Millisecond
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		if gap < 2*time.Second-slack {
			t.Errorf("restart %d came %v after the previous crash; want >= 2s", i, gap)
		}
	}
	window := times[len(times)-1].Sub(times[0])
	if limit := 1 + int(window/(2*time.Second)); len(times) > limit {
		t.Errorf("%d crashes in %v; a 2 s throttle allows at most %d", len(times), window, limit)
	}
	all := 0
	for _, l := range s.Log() {
		if strings.Contains(l, "throttling: process exits at once") {
			all++
		}
	}
	if all != 1 {
		t.Errorf("%d throttle warnings, want exactly one per episode", all)
	}
	if s.ReadyTime() != 0 {
		t.Error("the master announced READY=1 with a service that cannot start")
	}
}
