package master

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// The control socket (base_dir/master, mode 0600) speaks a line protocol.
// A request is one line: a verb and space-separated arguments. The answer
// is zero or more data lines "+ text" and one final line, "OK text" or
// "ERR text". A connection may carry several requests in turn. Later verbs
// (kick, who) extend the table in the master's loop; an unknown verb is
// "ERR unknown command".
//
//	reload       re-read the configuration; ERR with the error lines as data
//	stop         OK stopping; the connection stays open until the master exits
//	reopen-logs  reopen log files
//	status       one data line per service, then OK
const (
	CtlReload     = "reload"
	CtlStop       = "stop"
	CtlReopenLogs = "reopen-logs"
	CtlStatus     = "status"
)

// maxControlLine bounds a request line; the socket is root-only, the bound
// only keeps a buggy client from growing the master's memory.
const maxControlLine = 4096

// ControlSocketName is the control socket's name in base_dir.
const ControlSocketName = "master"

// PidFileName is the pid file's name in base_dir.
const PidFileName = "master.pid"

// Reply is the answer to one control request.
type Reply struct {
	Data []string // the "+ " lines, without the prefix
	OK   bool
	Text string // the text of the final line, without OK/ERR
}

// Error returns nil for an OK reply, else the ERR text with the data lines.
func (r Reply) Error() error {
	if r.OK {
		return nil
	}
	msg := r.Text
	if len(r.Data) > 0 {
		msg += "\n" + strings.Join(r.Data, "\n")
	}
	return errors.New(msg)
}

// ControlClient is one connection to the master's control socket.
type ControlClient struct {
	conn net.Conn
	br   *bufio.Reader
}

// DialControl connects to the control socket at path.
func DialControl(path string) (*ControlClient, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &ControlClient{conn: c, br: bufio.NewReader(c)}, nil
}

// Do sends one request and reads its reply.
func (c *ControlClient) Do(verb string, args ...string) (Reply, error) {
	line := strings.Join(append([]string{verb}, args...), " ")
	if strings.ContainsAny(line, "\r\n") || len(line) >= maxControlLine {
		return Reply{}, errors.New("control: bad request line")
	}
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		return Reply{}, err
	}
	var r Reply
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return r, fmt.Errorf("control: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		switch {
		case strings.HasPrefix(l, "+ "):
			r.Data = append(r.Data, l[2:])
		case l == "OK" || strings.HasPrefix(l, "OK "):
			r.OK, r.Text = true, strings.TrimPrefix(strings.TrimPrefix(l, "OK"), " ")
			return r, nil
		case l == "ERR" || strings.HasPrefix(l, "ERR "):
			r.Text = strings.TrimPrefix(strings.TrimPrefix(l, "ERR"), " ")
			return r, nil
		default:
			return r, fmt.Errorf("control: unexpected line %q", l)
		}
	}
}

// WaitClosed blocks until the master closes the connection (after "stop":
// the master has exited).
func (c *ControlClient) WaitClosed() {
	io.Copy(io.Discard, c.br)
}

// Close closes the connection.
func (c *ControlClient) Close() error { return c.conn.Close() }

// controlRequest is a request handed from a connection goroutine to the
// master's loop, which owns all state.
type controlRequest struct {
	verb  string
	args  []string
	reply chan Reply
	// holdOpen is set by the loop for "stop": the connection stays open
	// until the master exits, so `cote stop` returns when it is gone.
	holdOpen bool
}

// listenControl binds the control socket, mode 0600, replacing a stale one.
func listenControl(path string) (*net.UnixListener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		os.Remove(path)
	}
	// Bind with a tight umask: the socket is root's alone from its first
	// instant, before the chmod below. The master binds it once, at start,
	// before it creates any other file concurrently.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %s", path, errnoText(err))
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %s", path, errnoText(err))
	}
	return ln, nil
}

// serveControl accepts control connections until ln is closed. Each
// request goes to reqs; done is closed when the master exits.
func serveControl(ln *net.UnixListener, reqs chan<- *controlRequest, done <-chan struct{}) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off, never exit (the socket is the
			// only way to stop a daemon besides signals).
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		go serveControlConn(c, reqs, done)
	}
}

func serveControlConn(c net.Conn, reqs chan<- *controlRequest, done <-chan struct{}) {
	defer c.Close()
	br := bufio.NewReaderSize(c, maxControlLine)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				io.WriteString(c, "ERR request line too long\n")
			}
			return
		}
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			io.WriteString(c, "ERR empty request\n")
			continue
		}
		req := &controlRequest{verb: fields[0], args: fields[1:], reply: make(chan Reply, 1)}
		select {
		case reqs <- req:
		case <-done:
			io.WriteString(c, "ERR master is exiting\n")
			return
		}
		var r Reply
		select {
		case r = <-req.reply:
		case <-done:
			return
		}
		if _, err := io.WriteString(c, formatReply(r)); err != nil {
			return
		}
		if req.holdOpen {
			<-done
			return
		}
	}
}

// oneLine keeps a reply line on one line whatever the text holds.
var oneLine = strings.NewReplacer("\r", " ", "\n", " ")

func formatReply(r Reply) string {
	var b strings.Builder
	for _, d := range r.Data {
		b.WriteString("+ " + oneLine.Replace(d) + "\n")
	}
	if r.OK {
		b.WriteString("OK")
	} else {
		b.WriteString("ERR")
	}
	if r.Text != "" {
		b.WriteString(" " + oneLine.Replace(r.Text))
	}
	b.WriteString("\n")
	return b.String()
}
