package master

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
)

func TestServiceFull(t *testing.T) {
	busy := &proc{verified: true}
	free := &proc{verified: true, avail: 1}
	starting := &proc{}
	stopping := &proc{verified: true, told: "stop"}
	for _, tc := range []struct {
		name  string
		typ   string
		limit int
		procs []*proc
		want  bool
	}{
		{"login at limit, all busy", "login", 2, []*proc{busy, busy}, true},
		{"not a login service", "", 2, []*proc{busy, busy}, false},
		{"below process_limit: spawn instead", "login", 3, []*proc{busy, busy}, false},
		{"a free slot", "login", 2, []*proc{busy, free}, false},
		{"a process starting", "login", 2, []*proc{busy, starting}, false},
		{"only retiring processes", "login", 1, []*proc{stopping}, false},
		{"busy and retiring", "login", 2, []*proc{busy, stopping}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &service{conf: settings.Service{Name: "x", Type: tc.typ, ProcessLimit: tc.limit}, procs: map[int]*proc{}}
			for i, p := range tc.procs {
				s.procs[i+1] = p
			}
			if got := s.full(); got != tc.want {
				t.Fatalf("full() = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestOverflowRateLimit(t *testing.T) {
	s := &service{conf: settings.Service{Name: "x", Type: "login", ProcessLimit: 1},
		procs: map[int]*proc{1: {verified: true}}}
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"never told", t0, true},
		{"within the interval", t0.Add(overflowInterval - time.Millisecond), false},
		{"interval over", t0.Add(overflowInterval), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "never told" {
				s.lastOverflow = t0
			}
			if got := s.overflowDue(tc.at); got != tc.want {
				t.Fatalf("overflowDue = %t, want %t", got, tc.want)
			}
		})
	}
}

// TestOverflowEvicts: one login process with one slot, taken; the next
// client waits in the backlog until the master says "overflow" and the
// process ends its oldest client.
func TestOverflowEvicts(t *testing.T) {
	port := freePort(t)
	text := confText("@DIR@", testsvc, port, 1, "") +
		"service imap-login {\n  process_limit = 1\n  client_limit = 1\n}\n"
	s, err := newSuite(t, text)
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitReady()
	c1, br1, hello1 := greet(t, port)
	defer c1.Close()
	if !strings.HasPrefix(hello1, "hello imap-login ") {
		t.Fatalf("greeting %q", hello1)
	}
	c2, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(30 * time.Second))
	s.waitEvent("overflow imap-login")
	if line, err := br1.ReadString('\n'); err != nil || strings.TrimSpace(line) != "bye overflow" {
		t.Fatalf("first client: %q, %v; want the eviction", line, err)
	}
	line, err := bufio.NewReader(c2).ReadString('\n')
	if err != nil {
		t.Fatalf("second greeting: %v", err)
	}
	if f := strings.Fields(line); len(f) < 3 || f[2] != strings.Fields(hello1)[2] {
		t.Fatalf("second greeting %q, want one from the same process as %q", line, hello1)
	}
	c2.Close()
	s.stop()
}
