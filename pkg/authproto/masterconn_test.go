package authproto

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestMasterConnRedial: a connection that breaks mid-request (auth
// restarted) is redialled once and the request repeated; an answer from
// auth (NOTFOUND) is returned as it is, on the same connection.
func TestMasterConnRedial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth-userdb")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			c := NewConn(nc)
			if !expect(t, c, "VERSION\t1\t0") {
				nc.Close()
				return
			}
			c.Write(MasterHandshake(10 + int(n)))
			if n == 1 {
				// Read the request, then die as a restarting auth would.
				c.ReadLine()
				nc.Close()
				continue
			}
			expect(t, c, "USER\t1\tbob\tservice=lmtp")
			c.Write(UserLine(1, "bob", Fields{{Key: "home", Value: "/h", HasValue: true}}))
			expect(t, c, "USER\t2\tnobody\tservice=lmtp")
			c.Write(NotFoundLine(2))
			c.ReadLine() // until the client closes
			nc.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })

	mc := NewMasterConn(path)
	defer mc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got Fields
	if err := mc.Do(ctx, func(m *Master) error {
		var err error
		_, got, err = m.User(ctx, "bob", "lmtp", nil)
		return err
	}); err != nil {
		t.Fatalf("Do after a broken connection: %v", err)
	}
	if got.Map()["home"] != "/h" || conns.Load() != 2 {
		t.Fatalf("fields %v after %d connections, want home=/h after 2", got, conns.Load())
	}
	calls := 0
	err = mc.Do(ctx, func(m *Master) error {
		calls++
		_, _, err := m.User(ctx, "nobody", "lmtp", nil)
		return err
	})
	if !errors.Is(err, ErrNotFound) || calls != 1 || conns.Load() != 2 {
		t.Fatalf("NOTFOUND: err %v after %d calls and %d connections, want ErrNotFound, 1, 2", err, calls, conns.Load())
	}
}

func TestFieldsMap(t *testing.T) {
	m := Fields{{Key: "uid", Value: "1", HasValue: true}, {Key: "nologin"}, {Key: "uid", Value: "2", HasValue: true}}.Map()
	if len(m) != 2 || m["uid"] != "2" || m["nologin"] != "" {
		t.Fatalf("Map = %v", m)
	}
}
