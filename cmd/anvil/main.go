// Command anvil is the anvil service (pkg/anvil): connection counts per
// service, IP and user, and authentication penalties per IP. The master
// spawns one process (process_limit 1: the tables live in its memory) as
// default_internal_user with the anvil unix listeners. Build it with
// CGO_ENABLED=0 (the privilege drop needs AllThreadsSyscall).
package main

import (
	"context"
	"net"
	"time"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/service"
)

// sweepInterval is how often expired penalties are dropped: memory, not
// correctness, depends on it (lookups ignore expired entries anyway).
const sweepInterval = time.Minute

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		srv := anvil.NewServer(rt.Log)
		sweepCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			t := time.NewTicker(sweepInterval)
			defer t.Stop()
			for {
				select {
				case <-sweepCtx.Done():
					return
				case <-t.C:
					srv.Sweep()
				}
			}
		}()
		return rt.Serve(ctx, func(ctx context.Context, c net.Conn, _ *service.Listener) {
			srv.ServeConn(ctx, c)
		})
	})
}
