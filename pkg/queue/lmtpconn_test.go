package queue

import (
	"net"
	"path/filepath"
	"testing"
)

// TestLMTPIdleAlive checks the liveness probe of a pooled LMTP connection: kept by an idle
// server, dropped by a server that closed it or wrote something unasked, and by a client
// that closed it itself.
func TestLMTPIdleAlive(t *testing.T) {
	tests := []struct {
		name   string
		server func(c net.Conn)
		client func(c net.Conn)
		want   bool
	}{
		{name: "idle server", server: func(net.Conn) {}, want: true},
		{name: "server closed", server: func(c net.Conn) { c.Close() }},
		{name: "server wrote a 421", server: func(c net.Conn) { c.Write([]byte("421 4.4.2 idle timeout\r\n")) }},
		{name: "closed here", server: func(net.Conn) {}, client: func(c net.Conn) { c.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lmtp")
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}()
			conn, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			srv, ok := <-accepted
			if !ok {
				t.Fatal("accept failed")
			}
			defer srv.Close()
			tc.server(srv)
			if tc.client != nil {
				tc.client(conn)
			}
			// On a unix socket the server's close or write has reached this side
			// when the call returned: no waiting.
			lc := &lmtpConn{conn: conn}
			if got := lc.idleAlive(); got != tc.want {
				t.Fatalf("idleAlive = %v, want %v", got, tc.want)
			}
		})
	}
}
