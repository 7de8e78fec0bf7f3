// Command auth-worker serves the lookups that need root for the auth
// service: shadow password checks and PAM (pkg/auth, WorkerServer). It is
// the only cgo binary of cote, and only when built with PAM:
//
//	CGO_ENABLED=1 go build -tags pam ./cmd/auth-worker   (needs libpam0g-dev)
//	CGO_ENABLED=0 go build ./cmd/auth-worker             (no PAM: driver = pam fails with
//	                                                       "auth-worker was built without PAM")
//
// The master spawns it on demand, as root, when a passdb needs it.
package main

import (
	"context"
	"net"

	"github.com/cote-mail/cote/pkg/auth"
	"github.com/cote-mail/cote/pkg/service"
)

func main() {
	prepare()
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		w := auth.NewWorkerServer(rt.Log, rt.Settings.Root.Int("auth_worker_max_count"), pamAuth)
		return rt.Serve(ctx, func(ctx context.Context, c net.Conn, l *service.Listener) {
			w.ServeConn(ctx, c)
		})
	})
}
