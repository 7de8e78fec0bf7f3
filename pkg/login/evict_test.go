package login

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestEvictOldest: the oldest client that has not logged in is told to go
// with Dovecot's BYE text; logged-in clients are never chosen.
func TestEvictOldest(t *testing.T) {
	entered := make(chan *Client)
	srv := NewServer(Config{Proto: "test", Log: zaptest.NewLogger(t)}, func(ctx context.Context, c *Client) {
		entered <- c
		for {
			c.PrepareRead()
			if _, err := c.Conn().Read(make([]byte, 64)); err != nil {
				if c.ShuttingDown() {
					c.PrepareBye()
					_, _ = io.WriteString(c.Conn(), "* BYE "+c.ByeText()+"\r\n")
				}
				return
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var clients []*Client
	var peers []net.Conn
	for range 3 {
		a, b := tcpPair(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Handle(ctx, a, nil)
		}()
		clients = append(clients, <-entered)
		peers = append(peers, b)
	}
	clients[0].markLoggedIn(true) // the oldest is being handed off

	farewell := func(i int) string {
		_ = peers[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(peers[i])
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("client %d after BYE: %v, want EOF", i, err)
		}
		return l
	}
	tests := []struct {
		name    string
		evicted bool
		peer    int // which client gets the BYE; -1 none
	}{
		{"oldest not logged in", true, 1},
		{"next oldest", true, 2},
		{"only a logged-in client left", false, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := srv.EvictOldest(); got != tc.evicted {
				t.Fatalf("EvictOldest = %v, want %v", got, tc.evicted)
			}
			if tc.peer >= 0 {
				if l := farewell(tc.peer); l != "* BYE Connection queue full\r\n" {
					t.Errorf("client %d got %q", tc.peer, l)
				}
			}
		})
	}
	if !clients[0].markLoggedIn(true) || clients[0].ShuttingDown() {
		t.Error("the logged-in client was evicted")
	}
	if clients[1].markLoggedIn(true) {
		t.Error("an evicted client could still be handed off")
	}
}
