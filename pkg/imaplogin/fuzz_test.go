package imaplogin

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/settings"
)

// FuzzSession feeds arbitrary client input to a whole pre-login session
// over a pipe: no input may panic the handler or make it write anything
// but CRLF-terminated lines.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a CAPABILITY\r\nb NOOP\r\nc LOGOUT\r\n",
		"a LOGIN {4+}\r\nuser {4+}\r\npass\r\n",
		"a LOGIN {4}\r\nuser x\r\n",
		"a AUTHENTICATE PLAIN AHUAcA==\r\nb AUTHENTICATE PLAIN\r\n",
		"a ID (\"name\" \"x\")\r\nb ID NIL\r\n",
		"a STARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"x\r\ny\r\nz\r\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "cote.conf")
	cert, key := writeCert(f, dir)
	conf := "protocols = imap\nbase_dir = " + dir + "\nssl_cert = <" + cert + "\nssl_key = <" + key + "\n"
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
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 143} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5000}
}
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }
