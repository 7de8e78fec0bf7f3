package imapd

import (
	"context"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// socketpair returns two connected unix stream sockets.
func socketpair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// FuzzSession feeds a whole client stream to a session over a socketpair:
// no input may panic the session, hang it, or make it write outside the
// protocol (every line ends in CRLF).
func FuzzSession(f *testing.F) {
	ts := newTestServer(f, Config{AppendLimit: 64 << 10})
	ts.deliver(f, "INBOX", testDate, msg1, msg2)
	f.Add([]byte("a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODY[] BODYSTRUCTURE)\r\nc LOGOUT\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		u, err := ts.openUser()
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		srv, cli := socketpair(t)
		defer srv.Close()
		defer cli.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			cfg := Config{AppendLimit: 64 << 10, IdleTimeout: 10 * time.Second, Quota: true}
			NewSession(cfg, u, srv, nil).Serve(context.Background(), nil, "")
			srv.Close()
		}()
		go func() {
			cli.Write(in)
			cli.CloseWrite()
		}()
		out, _ := io.ReadAll(cli)
		<-done
		if len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("output does not end a line: %q", out[max(0, len(out)-80):])
		}
	})
}
