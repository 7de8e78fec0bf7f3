package authproto

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testCookie = "f56692bee41f471ed01bd83520025305"

// fakeServer listens on a unix socket in a temp dir and runs script on the
// first connection. Cleanup waits for the script to return.
func fakeServer(t *testing.T, script func(c *Conn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		script(NewConn(conn))
	}()
	return path
}

// expect reads one line and compares it, fields joined by TAB.
func expect(t *testing.T, c *Conn, want string) bool {
	t.Helper()
	args, err := c.ReadLine()
	if err != nil {
		t.Errorf("server read: %v (want %q)", err, want)
		return false
	}
	if got := strings.Join(args, "\t"); got != want {
		t.Errorf("server got  %q\nwant %q", got, want)
		return false
	}
	return true
}

func send(t *testing.T, c *Conn, raw string) {
	t.Helper()
	if err := c.Write([]byte(raw)); err != nil {
		t.Errorf("server write: %v", err)
	}
}

// greet plays the server side of the auth-client handshake.
func greet(t *testing.T, c *Conn) bool {
	t.Helper()
	if !expect(t, c, "VERSION\t1\t2") || !expect(t, c, "CPID\t"+strconv.Itoa(os.Getpid())) {
		return false
	}
	send(t, c, "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t22901\nCUID\t1\nCOOKIE\t"+testCookie+"\nDONE\n")
	return true
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := DialClient(ctx, path, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDovecotTranscript replays an exchange reconstructed from Dovecot's
// "Client-Server protocol" documentation, byte for byte on the client side.
func TestDovecotTranscript(t *testing.T) {
	path := fakeServer(t, func(c *Conn) {
		// Dovecot's client does not wait for the server's greeting.
		if !expect(t, c, "VERSION\t1\t2") || !expect(t, c, "CPID\t"+strconv.Itoa(os.Getpid())) {
			return
		}
		send(t, c, "VERSION\t1\t1\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\tdictionary\tactive\nSPID\t22901\nCUID\t1\nCOOKIE\t"+testCookie+"\nDONE\n")
		expect(t, c, "AUTH\t1\tPLAIN\tservice=imap\tsecured\tno-penalty\tlip=127.0.0.1\tlport=143\trip=127.0.0.1\trport=5555\tresp=AHRlc3R1c2VyAHRlc3RwYXNz")
		send(t, c, "OK\t1\tuser=testuser\n")
	})
	c := dial(t, path)
	if c.ServerPID() != 22901 || c.ConnectUID() != 1 || c.Cookie() != testCookie {
		t.Fatalf("handshake facts: %d %d %q", c.ServerPID(), c.ConnectUID(), c.Cookie())
	}
	mechs := c.Mechanisms()
	if len(mechs) != 3 || mechs[2] != (Mech{Name: "CRAM-MD5", Dictionary: true, Active: true}) {
		t.Fatalf("mechanisms: %+v", mechs)
	}
	ctx := context.Background()
	e, err := c.Start(ctx, Request{
		Mech: "PLAIN", Service: "imap", Secured: true, NoPenalty: true,
		Local: netip.MustParseAddrPort("127.0.0.1:143"), Remote: netip.MustParseAddrPort("127.0.0.1:5555"),
		InitialResponse: []byte("\x00testuser\x00testpass"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Next(ctx)
	if err != nil || r.Kind != KindOK || r.User != "testuser" {
		t.Fatalf("reply %+v, %v", r, err)
	}
	if _, err := e.Next(ctx); err == nil {
		t.Fatal("Next after OK succeeded")
	}
}

func TestClientExchanges(t *testing.T) {
	path := fakeServer(t, func(c *Conn) {
		if !greet(t, c) {
			return
		}
		// LOGIN with two continuations, then a FAIL with fields.
		expect(t, c, "AUTH\t1\tLOGIN\tservice=smtp")
		send(t, c, "CONT\t1\tVXNlcm5hbWU6\n")
		expect(t, c, "CONT\t1\tYm9i")
		send(t, c, "CONT\t1\tUGFzc3dvcmQ6\n")
		expect(t, c, "CONT\t1\td3Jvbmc=")
		send(t, c, "FAIL\t1\tuser=bob\ttemp\treason=backend down\n")
		// Two exchanges at once, answered out of order.
		expect(t, c, "AUTH\t2\tPLAIN\tservice=imap\tresp=AGEAYQ==")
		expect(t, c, "AUTH\t3\tPLAIN\tservice=imap\tresp=AGIAYg==")
		send(t, c, "OK\t3\tuser=b\nOK\t2\tuser=a\n")
		// An aborted exchange: CANCEL, and a late reply is dropped.
		expect(t, c, "AUTH\t4\tPLAIN\tservice=imap")
		expect(t, c, "CANCEL\t4")
		send(t, c, "CONT\t4\t\n")
		expect(t, c, "AUTH\t5\tPLAIN\tservice=imap")
		send(t, c, "FAIL\t5\n")
		c.ReadLine() // until the client closes
	})
	c := dial(t, path)
	ctx := context.Background()

	e, err := c.Start(ctx, Request{Mech: "LOGIN", Service: "smtp"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ challenge, resp string }{{"Username:", "bob"}, {"Password:", "wrong"}} {
		r, err := e.Next(ctx)
		if err != nil || r.Kind != KindCont || string(r.Data) != step.challenge {
			t.Fatalf("step %q: %+v, %v", step.challenge, r, err)
		}
		if err := e.Continue([]byte(step.resp)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.Next(ctx)
	if err != nil || r.Kind != KindFail || r.User != "bob" || !r.Temp || r.Reason != "backend down" {
		t.Fatalf("fail reply %+v, %v", r, err)
	}

	ea, _ := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap", InitialResponse: []byte("\x00a\x00a")})
	eb, _ := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap", InitialResponse: []byte("\x00b\x00b")})
	rb, err1 := eb.Next(ctx)
	ra, err2 := ea.Next(ctx)
	if err1 != nil || err2 != nil || ra.User != "a" || rb.User != "b" {
		t.Fatalf("concurrent: %+v %v / %+v %v", ra, err2, rb, err1)
	}

	ec, _ := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap"})
	ec.Abort()
	ec.Abort() // idempotent
	ed, err := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ed.Next(ctx); err != nil || r.Kind != KindFail {
		t.Fatalf("after abort: %+v, %v", r, err)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("client broken: %v", err)
	}
}

func TestClientLimits(t *testing.T) {
	path := fakeServer(t, func(c *Conn) {
		if !greet(t, c) {
			return
		}
		expect(t, c, "AUTH\t1\tPLAIN\tservice=imap")
		c.ReadLine() // the CANCEL after the context ends, or EOF
	})
	c := dial(t, path)
	big := make([]byte, MaxSASLResponse+1)
	if _, err := c.Start(context.Background(), Request{Mech: "PLAIN", Service: "imap", InitialResponse: big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized initial response: %v", err)
	}
	if _, err := c.Start(context.Background(), Request{Mech: "PLAIN"}); err == nil {
		t.Fatal("AUTH without service accepted")
	}
	e, err := c.Start(context.Background(), Request{Mech: "PLAIN", Service: "imap"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Continue(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized continue: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Next: %v", err)
	}
}

func TestClientBrokenServer(t *testing.T) {
	tests := []struct {
		name, reply string
	}{
		{"garbage", "WHAT\t1\n"},
		{"bad escape", "OK\t1\tuser=\001x\n"},
		{"too long", strings.Repeat("x", MaxLineLength+10) + "\n"},
		{"two replies at once", "CONT\t1\t\nCONT\t1\t\n"},
		{"eof", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fakeServer(t, func(c *Conn) {
				if !greet(t, c) {
					return
				}
				expect(t, c, "AUTH\t1\tPLAIN\tservice=imap")
				send(t, c, tt.reply)
			})
			c := dial(t, path)
			ctx := context.Background()
			e, err := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap"})
			if err != nil {
				t.Fatal(err)
			}
			// "two replies at once" may deliver the first CONT; the
			// connection must break after it either way.
			for {
				r, err := e.Next(ctx)
				if err != nil {
					break
				}
				if r.Kind != KindCont {
					t.Fatalf("got %+v from a broken server", r)
				}
			}
			<-c.dead
			if c.Err() == nil {
				t.Fatal("client not marked broken")
			}
			if _, err := c.Start(ctx, Request{Mech: "PLAIN", Service: "imap"}); err == nil {
				t.Fatal("Start on a broken client succeeded")
			}
		})
	}
}

func TestDialClientHandshakeErrors(t *testing.T) {
	path := fakeServer(t, func(c *Conn) {
		c.ReadLine()
		c.ReadLine()
		send(t, c, "VERSION\t2\t0\n")
	})
	if _, err := DialClient(context.Background(), path, 1); !errors.Is(err, ErrVersion) {
		t.Fatalf("error = %v, want ErrVersion", err)
	}
	// A server that never answers: the context deadline ends the wait.
	stall := make(chan struct{})
	path = fakeServer(t, func(c *Conn) { <-stall })
	defer close(stall)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := DialClient(ctx, path, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded", err)
	}
}
