package logintest

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
)

// FakePost stands in for a post-login service on its handoff socket: it
// receives each handoff record and client socket (ARCHITECTURE.md,
// contract 4), sends the record to Records and lets the protocol's test
// speak to the client through Serve.
type FakePost struct {
	Path    string
	Records chan *ipc.Handoff
	wg      sync.WaitGroup
}

// StartFakePost listens on a socket named name in a temp dir; serve runs
// for each handed-off client (its deadline is set, the caller closes
// nothing). The listener and every conversation end with the test.
func StartFakePost(t testing.TB, name string, serve func(h *ipc.Handoff, client net.Conn)) *FakePost {
	t.Helper()
	fp := &FakePost{Path: filepath.Join(t.TempDir(), name), Records: make(chan *ipc.Handoff, 4)}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: fp.Path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	fp.wg.Add(1)
	go func() {
		defer fp.wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			fp.wg.Add(1)
			go func() {
				defer fp.wg.Done()
				fp.receive(c, serve)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		fp.wg.Wait()
	})
	return fp
}

func (fp *FakePost) receive(hc *net.UnixConn, serve func(*ipc.Handoff, net.Conn)) {
	defer hc.Close()
	hc.SetDeadline(time.Now().Add(30 * time.Second))
	h, f, err := ipc.ReceiveHandoff(hc)
	if err != nil {
		return
	}
	fp.Records <- h
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	serve(h, nc)
}
