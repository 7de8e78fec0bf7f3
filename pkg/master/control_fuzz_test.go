package master

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// FuzzControlRequest feeds arbitrary bytes to a control connection: the
// server answers only well-formed lines, one final line per request line,
// and neither hangs nor panics.
func FuzzControlRequest(f *testing.F) {
	f.Add([]byte("reload\n"))
	f.Add([]byte("status\nkick user1 user2\n\n"))
	f.Add([]byte("  \t\n\x00\xff\nno newline at the end"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		server := fileConn(t, fds[0])
		client := fileConn(t, fds[1]).(*net.UnixConn)
		defer client.Close()
		reqs := make(chan *controlRequest)
		done := make(chan struct{})
		defer close(done)
		go func() {
			// Echo the arguments as data lines.
			for req := range reqs {
				req.reply <- Reply{OK: true, Data: req.args, Text: req.verb}
			}
		}()
		defer close(reqs)
		finished := make(chan struct{})
		go func() {
			serveControlConn(server, reqs, done)
			close(finished)
		}()
		go func() {
			client.Write(in)
			client.CloseWrite()
		}()
		out, _ := io.ReadAll(client)
		<-finished
		for _, l := range strings.SplitAfter(string(out), "\n") {
			if l == "" {
				continue
			}
			if !strings.HasSuffix(l, "\n") {
				t.Fatalf("unterminated reply line %q", l)
			}
			l = strings.TrimSuffix(l, "\n")
			if strings.ContainsRune(l, '\r') || !(strings.HasPrefix(l, "+ ") || l == "OK" || strings.HasPrefix(l, "OK ") || l == "ERR" || strings.HasPrefix(l, "ERR ")) {
				t.Fatalf("malformed reply line %q", l)
			}
		}
	})
}

func fileConn(t *testing.T, fd int) net.Conn {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func FuzzReplyRoundTrip(f *testing.F) {
	f.Add("data line", true, "reloaded")
	f.Add("", false, "reload failed; keeping the running configuration")
	f.Add("a\r\nb", false, " leading space")
	f.Fuzz(func(t *testing.T, data string, ok bool, text string) {
		in := Reply{OK: ok, Text: text}
		if data != "" {
			in.Data = []string{data}
		}
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			br := bufio.NewReader(server)
			br.ReadString('\n')
			io.WriteString(server, formatReply(in))
		}()
		c := &ControlClient{conn: client, br: bufio.NewReader(client)}
		got, err := c.Do("x")
		if err != nil {
			t.Fatal(err)
		}
		want := Reply{OK: ok, Text: oneLine.Replace(text)}
		for _, d := range in.Data {
			want.Data = append(want.Data, oneLine.Replace(d))
		}
		if got.OK != want.OK || got.Text != want.Text || strings.Join(got.Data, "|") != strings.Join(want.Data, "|") {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}
