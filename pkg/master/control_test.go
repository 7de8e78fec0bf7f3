package master

import (
	"bufio"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeLoop answers control requests the way the master's loop does.
func fakeLoop(reqs <-chan *controlRequest, stop chan<- struct{}) {
	for req := range reqs {
		var r Reply
		switch req.verb {
		case CtlReload:
			if len(req.args) > 0 && req.args[0] == "bad" {
				r = Reply{Data: []string{"cote.conf:3: listen: bad address", "cote.conf:9: port: out of range"},
					Text: "reload failed; keeping the running configuration"}
			} else {
				r = Reply{OK: true, Text: "reloaded"}
			}
		case CtlStatus:
			r = Reply{OK: true, Data: []string{"service a processes=1", "service b processes=2"}}
		case CtlStop:
			req.holdOpen = true
			r = Reply{OK: true, Text: "stopping"}
			stop <- struct{}{}
		default:
			r = Reply{Text: "unknown command"}
		}
		req.reply <- r
	}
}

func startControl(t *testing.T) (path string, done chan struct{}, stopped chan struct{}) {
	t.Helper()
	path = filepath.Join(t.TempDir(), ControlSocketName)
	ln, err := listenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	reqs := make(chan *controlRequest)
	done = make(chan struct{})
	stopped = make(chan struct{}, 1)
	go serveControl(ln, reqs, done)
	go fakeLoop(reqs, stopped)
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-done:
		default:
			close(done)
		}
	})
	return path, done, stopped
}

func TestControlProtocol(t *testing.T) {
	path, _, _ := startControl(t)
	c, err := DialControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name string
		verb string
		args []string
		want Reply
	}{
		{name: "reload", verb: "reload", want: Reply{OK: true, Text: "reloaded"}},
		{name: "reload error lines", verb: "reload", args: []string{"bad"}, want: Reply{
			Data: []string{"cote.conf:3: listen: bad address", "cote.conf:9: port: out of range"},
			Text: "reload failed; keeping the running configuration"}},
		{name: "status data lines", verb: "status", want: Reply{OK: true, Data: []string{"service a processes=1", "service b processes=2"}}},
		{name: "unknown verb", verb: "frobnicate", want: Reply{Text: "unknown command"}},
	}
	// All requests on one connection, in turn.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Do(tt.verb, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got.OK != tt.want.OK || got.Text != tt.want.Text || !slices.Equal(got.Data, tt.want.Data) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestControlRaw(t *testing.T) {
	path, _, _ := startControl(t)
	tests := []struct {
		name, send, want string
	}{
		{name: "empty line", send: "\n", want: "ERR empty request\n"},
		{name: "extra spaces", send: "  reload   \n", want: "OK reloaded\n"},
		{name: "line too long", send: strings.Repeat("x", maxControlLine+10) + "\n", want: "ERR request line too long\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go io.WriteString(c, tt.send)
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line != tt.want {
				t.Errorf("got %q, want %q", line, tt.want)
			}
		})
	}
}

func TestControlStopHoldsConnection(t *testing.T) {
	path, done, stopped := startControl(t)
	c, err := DialControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(CtlStop)
	if err != nil || !r.OK || r.Text != "stopping" {
		t.Fatalf("stop: %+v %v", r, err)
	}
	<-stopped
	closed := make(chan struct{})
	go func() {
		c.WaitClosed()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("connection closed before the master exited")
	default:
	}
	close(done) // the master exits
	<-closed
}

func TestControlSocketMode(t *testing.T) {
	path, _, _ := startControl(t)
	st, err := lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}
