// Command smtpd is the receiving MTA: the master spawns it as mail_owner
// with the smtp (25), submission (587) and submissions (465) listeners;
// pkg/smtpd serves each client and writes accepted mail into the queue's
// spool (queue_directory) through pkg/queue. It never links the store:
// local mail reaches mailboxes through the queue and lmtp. Build it with
// CGO_ENABLED=0 (the privilege drop needs AllThreadsSyscall).
package main

import (
	"context"
	"net"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/login"
	"github.com/cote-mail/cote/pkg/queue"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/smtpd"
)

func main() {
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		cfg, err := smtpd.LoadConfig(rt.Settings, rt.Log)
		if err != nil {
			return err
		}
		root := rt.Settings.Root
		base := root.Get("base_dir")
		spool, err := queue.OpenSpool(root.Get("queue_directory"))
		if err != nil {
			return err
		}
		cfg.Sink = spoolSink{spool}
		users := smtpd.NewUserdb(filepath.Join(base, smtpd.UserdbSocket))
		defer users.Close()
		// RCPT checks of a pipelining client repeat the same names:
		// answers are kept a few seconds (pkg/smtpd doc).
		cfg.Users = smtpd.NewUserCache(users, smtpd.UserCacheTTL, smtpd.UserCacheSize)
		auth := login.NewAuth(filepath.Join(base, smtpd.AuthSocket), rt.Log)
		defer auth.Close()
		cfg.Auth = smtpd.AuthService(auth)
		if cfg.ConnCountLimit > 0 || cfg.ConnRateLimit > 0 {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			counter, err := smtpd.NewAnvilCounter(dctx, filepath.Join(base, smtpd.AnvilSocket))
			cancel()
			if err != nil {
				// anvil runs with auth (it needs a passdb); without it
				// the limit cannot be counted across processes.
				rt.Log.Warn("anvil unavailable: smtpd_client_connection_count_limit and _rate_limit are not enforced", zap.Error(err))
			} else {
				defer counter.Close()
				cfg.Counter = counter
				cfg.Rater = counter
			}
		}
		srv, err := smtpd.New(cfg)
		if err != nil {
			return err
		}
		return rt.Serve(ctx, func(ctx context.Context, c net.Conn, l *service.Listener) {
			srv.Serve(ctx, c, smtpd.Conn{Kind: l.Name, SSL: l.SSL})
		})
	})
}

// spoolSink adapts the queue's spool to smtpd.Sink: the envelope types are
// twins, so pkg/smtpd does not link the queue.
type spoolSink struct{ s *queue.Spool }

func (s spoolSink) Create(env smtpd.Envelope) (smtpd.MessageWriter, error) {
	qe := queue.Envelope{
		From: env.From, Received: env.Received, ClientAddr: env.ClientAddr, ClientHelo: env.ClientHelo,
		AuthUser: env.AuthUser, RET: env.RET, EnvID: env.EnvID, SMTPUTF8: env.SMTPUTF8, EightBitMIME: env.EightBitMIME,
	}
	for _, r := range env.Rcpts {
		qe.Rcpts = append(qe.Rcpts, queue.Recipient{Addr: r.Addr, ORcpt: r.ORcpt, Notify: r.Notify})
	}
	w, err := s.s.Create(qe)
	if err != nil {
		return nil, err
	}
	return w, nil
}
