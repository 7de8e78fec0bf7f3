package pop3login

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/pop3"
	"github.com/cote-mail/cote/pkg/settings"
)

var responseLine = regexp.MustCompile(`^(\+OK( .*)?|-ERR( .*)?|\+ [A-Za-z0-9+/=]*|[A-Z0-9][A-Z0-9 /-]*|\.)$`)

// FuzzSession feeds arbitrary client input to a whole pre-login session
// over a scripted connection (the auth service unreachable, so every
// login fails fast): no input may panic the handler, make it write
// anything but CRLF-terminated lines, or let a multi-line response end
// early.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"CAPA\r\nUSER demo\r\nPASS secret\r\nQUIT\r\n",
		"AUTH PLAIN AGRlbW8Ac2VjcmV0\r\nAUTH LOGIN\r\nZGVtbw==\r\n*\r\n",
		"APOP demo 0123456789abcdef0123456789abcdef\r\nAUTH\r\n",
		"STLS\r\n\x16\x03\x01\x00\x05hello",
		"NOOP\r\nSTAT\r\nRETR 1\r\n",
		"USER .\r\nRPOP x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "cote.conf")
	cert, key := writeCert(f, dir)
	conf := "protocols = pop3\nbase_dir = " + dir + "\nssl_cert = <" + cert + "\nssl_key = <" + key +
		"\nauth_mechanisms = plain login apop\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		f.Fatal(err)
	}
	cfg, err := settings.Load(path)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(cfg, zap.NewNop(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &scriptConn{in: bytes.NewReader(in)}
		srv.Handle(context.Background(), c, nil)
		for _, line := range bytes.SplitAfter(c.out.Bytes(), []byte("\n")) {
			if len(line) > 0 && !bytes.HasSuffix(line, []byte("\r\n")) {
				t.Fatalf("output line %q not CRLF-terminated", line)
			}
		}
		// Every line is a status line, a continuation, a capability or
		// mechanism line, or a terminator: nothing the client sent is
		// echoed as a line of its own.
		r := pop3.NewReader(bytes.NewReader(c.out.Bytes()))
		for {
			l, err := r.ReadLine()
			if err != nil {
				break
			}
			if !responseLine.MatchString(l) {
				t.Fatalf("unexpected line %q in %q", l, c.out.Bytes())
			}
		}
	})
}

// scriptConn is a net.Conn that reads a fixed input, then EOF, and
// records what is written.
type scriptConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 110} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5000}
}
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }
