package authproto

import (
	"bytes"
	"context"
	"io"
	"net"
	"reflect"
	"testing"
	"time"
)

// FuzzParseLine: no input panics, and whatever parses re-encodes to a line
// that parses to the same fields.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte("AUTH\t1\tPLAIN\tservice=imap\tresp=AGEAYg==\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		args, err := ParseLine(line)
		if err != nil {
			return
		}
		again, err := ParseLine(FormatLine(args...))
		if err != nil {
			t.Fatalf("re-encoded line does not parse: %v", err)
		}
		if !reflect.DeepEqual(args, again) {
			t.Fatalf("round trip %q -> %q", args, again)
		}
	})
}

// FuzzParseClientCommand: no line a client sends panics the server's parser,
// and an AUTH that parses re-encodes to the same request.
func FuzzParseClientCommand(f *testing.F) {
	f.Add([]byte("AUTH\t1\tPLAIN\tservice=imap\tsecured\trip=127.0.0.1\tresp=AGEAYg==\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		args, err := ParseLine(line)
		if err != nil {
			return
		}
		cmd, err := ParseClientCommand(args)
		if err != nil || cmd.Kind != CmdAuth {
			return
		}
		args2, err := ParseLine(FormatLine(cmd.Auth.Args(cmd.ID)...))
		if err != nil {
			t.Fatal(err)
		}
		cmd2, err := ParseClientCommand(args2)
		if err != nil {
			t.Fatalf("re-encoded AUTH does not parse: %v", err)
		}
		if !reflect.DeepEqual(cmd, cmd2) {
			t.Fatalf("round trip\n%+v\n%+v", cmd.Auth, cmd2.Auth)
		}
	})
}

// FuzzParseMasterCommand: no line panics the master-protocol parser.
func FuzzParseMasterCommand(f *testing.F) {
	f.Add([]byte("REQUEST\t1\t4321\t9\tf56692bee41f471ed01bd83520025305\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		args, err := ParseLine(line)
		if err != nil {
			return
		}
		ParseMasterCommand(args)
	})
}

// memConn is a net.Conn that reads a fixed script and discards writes.
type memConn struct {
	r io.Reader
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzClientReplies feeds arbitrary server output to the client, both as
// the handshake and after it: it must neither panic nor hang.
func FuzzClientReplies(f *testing.F) {
	f.Add([]byte("VERSION\t1\t2\nSPID\t1\nCUID\t1\nCOOKIE\tf56692bee41f471ed01bd83520025305\nDONE\nCONT\t1\t\nOK\t1\tuser=a\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		for _, in := range [][]byte{script, append([]byte("VERSION\t1\t2\nSPID\t1\nCUID\t1\nCOOKIE\tf56692bee41f471ed01bd83520025305\nDONE\n"), script...)} {
			c, err := NewClient(ctx, &memConn{r: bytes.NewReader(in)}, 1)
			if err != nil {
				continue
			}
			e, err := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap"})
			if err == nil {
				for {
					r, err := e.Next(ctx)
					if err != nil || r.Kind != KindCont {
						break
					}
				}
			}
			<-c.dead
			c.Close()
		}
	})
}

// FuzzMasterReplies feeds arbitrary server output to the master client.
func FuzzMasterReplies(f *testing.F) {
	f.Add([]byte("USER\t1\tbob\tuid=1\nLIST\t2\ta\nDONE\t2\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		in := append([]byte("VERSION\t1\t0\nSPID\t1\n"), script...)
		m, err := NewMaster(ctx, &memConn{r: bytes.NewReader(in)})
		if err != nil {
			return
		}
		m.User(ctx, "bob", "imap", nil)
		m.List(ctx, "", func(string) error { return nil })
		<-m.dead
		m.Close()
	})
}
