package imapc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/testkit"
)

// scripted serves one connection with the given function and returns the
// address; the test waits for the function to finish in its cleanup.
func scripted(t *testing.T, serve func(r *bufio.Reader, w io.Writer)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer c.Close()
		serve(bufio.NewReader(c), c)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

func readLine(r *bufio.Reader) string {
	s, _ := r.ReadString('\n')
	return strings.TrimSuffix(s, "\r\n")
}

func TestConn(t *testing.T) {
	tests := []struct {
		name   string
		serve  func(r *bufio.Reader, w io.Writer)
		client func(t *testing.T, c *Conn)
	}{
		{
			name: "synchronizing literal",
			serve: func(r *bufio.Reader, w io.Writer) {
				io.WriteString(w, "* OK [CAPABILITY IMAP4rev1] hi\r\n")
				if readLine(r) != "b1 APPEND INBOX {5}" {
					return
				}
				io.WriteString(w, "+ go\r\n")
				if readLine(r) != "hello" {
					return
				}
				io.WriteString(w, "* 1 EXISTS\r\nb1 OK [APPENDUID 1 1] done\r\n")
			},
			client: func(t *testing.T, c *Conn) {
				res, err := c.Do("APPEND", "INBOX", Literal("hello"))
				if err != nil {
					t.Fatal(err)
				}
				if res.Err() != nil || len(res.Untagged) != 1 || res.Untagged[0].Kind != "EXISTS" {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "non-synchronizing literal",
			serve: func(r *bufio.Reader, w io.Writer) {
				io.WriteString(w, "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n")
				if readLine(r) != "b1 APPEND INBOX {5+}" || readLine(r) != "hello" {
					return
				}
				io.WriteString(w, "b1 OK done\r\n")
			},
			client: func(t *testing.T, c *Conn) {
				res, err := c.Do("APPEND", "INBOX", Literal("hello"))
				if err != nil || res.Err() != nil {
					t.Fatalf("%v %+v", err, res)
				}
			},
		},
		{
			name: "literal refused",
			serve: func(r *bufio.Reader, w io.Writer) {
				io.WriteString(w, "* OK hi\r\n")
				readLine(r)
				io.WriteString(w, "b1 NO [TOOBIG] too big\r\n")
				if readLine(r) == "b2 NOOP" {
					io.WriteString(w, "b2 OK noop\r\n")
				}
			},
			client: func(t *testing.T, c *Conn) {
				res, err := c.Do("APPEND", "INBOX", Literal("hello"))
				if err != nil {
					t.Fatal(err)
				}
				var se *StatusError
				if !errors.As(res.Err(), &se) || se.Resp.Code != "TOOBIG" {
					t.Errorf("want NO [TOOBIG], got %v", res.Err())
				}
				if res, err := c.Do("NOOP"); err != nil || res.Err() != nil {
					t.Errorf("NOOP after a refused literal: %v %+v", err, res)
				}
			},
		},
		{
			name: "pipelined, completed out of order",
			serve: func(r *bufio.Reader, w io.Writer) {
				io.WriteString(w, "* OK hi\r\n")
				for range 3 {
					readLine(r)
				}
				io.WriteString(w, "* 2 EXISTS\r\nb2 OK second\r\n* 1 FETCH (FLAGS ())\r\nb1 OK first\r\nb3 OK third\r\n")
			},
			client: func(t *testing.T, c *Conn) {
				var tags []string
				for _, cmd := range []string{"NOOP", "CHECK", "NOOP"} {
					tag, err := c.Send(cmd)
					if err != nil {
						t.Fatal(err)
					}
					tags = append(tags, tag)
				}
				// Untagged responses belong to the oldest pending
				// command, b1, until it completes.
				want := []struct {
					text     string
					untagged int
				}{{"first", 2}, {"second", 0}, {"third", 0}}
				for i, tag := range tags {
					res, err := c.Wait(tag)
					if err != nil {
						t.Fatal(err)
					}
					if string(res.Status.Text) != want[i].text || len(res.Untagged) != want[i].untagged {
						t.Errorf("%s: %q with %d untagged, want %q with %d", tag, res.Status.Text, len(res.Untagged), want[i].text, want[i].untagged)
					}
				}
			},
		},
		{
			name: "completion for an unknown tag",
			serve: func(r *bufio.Reader, w io.Writer) {
				io.WriteString(w, "* OK hi\r\n")
				readLine(r)
				io.WriteString(w, "zz OK what\r\n")
			},
			client: func(t *testing.T, c *Conn) {
				_, err := c.Do("NOOP")
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Errorf("want a protocol error, got %v", err)
				}
			},
		},
		{
			name: "server closes",
			serve: func(r *bufio.Reader, w io.Writer) {
				io.WriteString(w, "* OK hi\r\n")
				readLine(r)
			},
			client: func(t *testing.T, c *Conn) {
				if _, err := c.Do("NOOP"); !errors.Is(err, io.EOF) {
					t.Errorf("want EOF, got %v", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := scripted(t, tc.serve)
			c, err := Dial(context.Background(), addr, Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.client(t, c)
		})
	}
}

func TestDialGreeting(t *testing.T) {
	tests := []struct {
		name     string
		greeting string
		ok       bool
	}{
		{"ok", "* OK ready\r\n", true},
		{"preauth", "* PREAUTH ready\r\n", true},
		{"bye", "* BYE busy\r\n", false},
		{"http", "HTTP/1.1 400 Bad Request\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := scripted(t, func(r *bufio.Reader, w io.Writer) { io.WriteString(w, tc.greeting) })
			c, err := Dial(context.Background(), addr, Options{Timeout: 10 * time.Second})
			if (err == nil) != tc.ok {
				t.Fatalf("Dial: %v, want ok=%v", err, tc.ok)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

func TestDialCancel(t *testing.T) {
	block := make(chan struct{})
	addr := scripted(t, func(r *bufio.Reader, w io.Writer) {
		io.WriteString(w, "* OK hi\r\n")
		<-block
	})
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Dial(ctx, addr, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tag, err := c.Send("NOOP")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// The cancellation must unblock the read long before the minute,
	// even though Wait sets a fresh deadline after it.
	t0 := time.Now()
	if _, err := c.Wait(tag); err == nil {
		t.Fatal("Wait returned no error after the context was cancelled")
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("Wait took %v after the cancellation", d)
	}
}

func TestTLS(t *testing.T) {
	cert := testkit.MakeCert(t)
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srvConf := &tls.Config{Certificates: []tls.Certificate{pair}}
	tests := []struct {
		name     string
		startTLS bool
	}{
		{"implicit", false},
		{"starttls", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				raw, err := l.Accept()
				if err != nil {
					return
				}
				defer raw.Close()
				var c net.Conn = raw
				if !tc.startTLS {
					c = tls.Server(raw, srvConf)
				}
				io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
				r := bufio.NewReader(c)
				if tc.startTLS {
					if readLine(r) != "b1 STARTTLS" {
						return
					}
					io.WriteString(c, "b1 OK begin\r\n")
					c = tls.Server(raw, srvConf)
					r = bufio.NewReader(c)
					if readLine(r) != "b2 CAPABILITY" {
						return
					}
					io.WriteString(c, "* CAPABILITY IMAP4rev1 LITERAL+\r\nb2 OK done\r\n")
				}
				tag, _, _ := strings.Cut(readLine(r), " ")
				io.WriteString(c, tag+" OK noop\r\n")
			}()
			t.Cleanup(func() {
				l.Close()
				<-done
			})
			c, err := Dial(context.Background(), l.Addr().String(), Options{
				TLS: cert.ClientConfig("localhost"), StartTLS: tc.startTLS, Timeout: 10 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if res, err := c.Do("NOOP"); err != nil || res.Err() != nil {
				t.Fatalf("NOOP over TLS: %v %+v", err, res)
			}
			if tc.startTLS && (c.Has("STARTTLS") || !c.Has("LITERAL+")) {
				t.Errorf("capabilities after STARTTLS are not the ones announced over TLS: %v", c.caps)
			}
		})
	}
}
