// Command queue is the mail queue service: the master spawns it as mail_owner (one process,
// started with the master) with the pickup unix listener. It delivers the spool in
// queue_directory (pkg/queue's Daemon: LMTP to base_dir/lmtp, SMTP to remote MX hosts,
// retries, bounces) and serves local submission on base_dir/pickup. Build it with
// CGO_ENABLED=0 (the privilege drop needs AllThreadsSyscall).
package main

import (
	"context"
	"net"

	"github.com/cote-mail/cote/pkg/queue"
	"github.com/cote-mail/cote/pkg/service"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		cfg, pc, err := queue.ConfigFromSettings(rt.Settings.Root, rt.Log)
		if err != nil {
			return err
		}
		d, err := queue.NewDaemon(cfg)
		if err != nil {
			return err
		}
		p := queue.NewPickup(pc)
		defer p.Close()
		// The delivery loop and the pickup server live and die together: a daemon that
		// cannot run (spool unreadable) ends the process, which the master reports.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			err := d.Run(ctx)
			cancel()
			done <- err
		}()
		serr := rt.Serve(ctx, func(hctx context.Context, c net.Conn, _ *service.Listener) { p.Handle(hctx, c) })
		cancel()
		if derr := <-done; derr != nil {
			return derr
		}
		return serr
	})
}
