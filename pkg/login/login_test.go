package login

import (
	"context"
	"io"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/service"
)

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"cidr masked", []string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}, false},
		{"single v4", []string{"192.0.2.1"}, []string{"192.0.2.1/32"}, false},
		{"single v6", []string{"2001:db8::1"}, []string{"2001:db8::1/128"}, false},
		{"mapped v4", []string{"::ffff:192.0.2.1"}, []string{"192.0.2.1/32"}, false},
		{"bad address", []string{"example.com"}, nil, true},
		{"bad prefix", []string{"10.0.0.0/33"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNetworks(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var gs []string
			for _, p := range got {
				gs = append(gs, p.String())
			}
			if !reflect.DeepEqual(gs, tc.want) {
				t.Errorf("got %v want %v", gs, tc.want)
			}
		})
	}
}

func TestPlaintextAuthAllowed(t *testing.T) {
	local := netip.MustParseAddrPort("192.0.2.1:143")
	tests := []struct {
		name        string
		remote      string
		trusted     bool
		tls         bool
		disable     bool
		sslRequired bool
		secured     bool
		allowed     bool
	}{
		{"remote, defaults", "198.51.100.7:5000", false, false, true, false, false, false},
		{"remote, tls", "198.51.100.7:5000", false, true, true, false, true, true},
		{"remote, trusted", "198.51.100.7:5000", true, false, true, false, true, true},
		{"same ip", "192.0.2.1:5000", false, false, true, false, true, true},
		{"remote, plaintext allowed", "198.51.100.7:5000", false, false, false, false, false, true},
		{"remote, ssl required", "198.51.100.7:5000", false, false, false, true, false, false},
		{"same ip, ssl required", "192.0.2.1:5000", false, false, false, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(Config{DisablePlaintextAuth: tc.disable, SSLRequired: tc.sslRequired}, nil)
			c := &Client{srv: srv, Remote: netip.MustParseAddrPort(tc.remote), Local: local,
				trusted: tc.trusted, isTLS: tc.tls}
			if got := c.Secured(); got != tc.secured {
				t.Errorf("Secured = %v, want %v", got, tc.secured)
			}
			if got := c.PlaintextAuthAllowed(); got != tc.allowed {
				t.Errorf("PlaintextAuthAllowed = %v, want %v", got, tc.allowed)
			}
		})
	}
}

// TestHandle checks the core around a session: the client table, trusted
// networks, shutdown interrupting a blocked read, and an ssl listener
// without TLS being refused.
func TestHandle(t *testing.T) {
	trusted, _ := ParseNetworks([]string{"127.0.0.0/8"})
	entered := make(chan *Client, 1)
	var srv *Server
	srv = NewServer(Config{Proto: "test", Trusted: trusted, Log: zaptest.NewLogger(t)},
		func(ctx context.Context, c *Client) {
			entered <- c
			c.PrepareRead()
			_, err := c.Conn().Read(make([]byte, 1))
			if !c.ShuttingDown() || c.IsTimeout(err) {
				t.Errorf("read after shutdown: %v (shutting down %v)", err, c.ShuttingDown())
			}
		})

	a, b := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Handle(ctx, a, &service.Listener{ListenerSpec: ipc.ListenerSpec{Name: "x"}})
	}()
	c := <-entered
	if !c.Trusted() || !c.Secured() || c.TLS() || c.StartTLSAvailable() {
		t.Errorf("trusted %v secured %v tls %v starttls %v", c.Trusted(), c.Secured(), c.TLS(), c.StartTLSAvailable())
	}
	if n := srv.Clients(); n != 1 {
		t.Errorf("Clients = %d during the session", n)
	}
	cancel()
	wg.Wait()
	if n := srv.Clients(); n != 0 {
		t.Errorf("Clients = %d after the session", n)
	}
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("client side after Handle: %v, want EOF", err)
	}

	// An ssl listener with TLS off: closed before any session starts.
	a2, b2 := tcpPair(t)
	srv.Handle(context.Background(), a2, &service.Listener{ListenerSpec: ipc.ListenerSpec{Name: "xs", SSL: true}})
	select {
	case <-entered:
		t.Error("session ran on an ssl listener without TLS")
	default:
	}
	_ = b2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := b2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("ssl listener without TLS: %v, want EOF", err)
	}
}

func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}
