package imaplogin

import (
	"errors"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/login"
)

// textInternal answers a login whose handoff to the imap service failed,
// in Dovecot's words; the cause is in the log, never in the reply.
const textInternal = "Internal error occurred. Refer to server log for more information."

// errHandedOff ends the session: the imap service owns the client now.
var errHandedOff = errors.New("handed off")

// handoff passes the authenticated client to the imap service
// (ARCHITECTURE.md, contract 4), which redeems ex's id and cookie on
// auth-master and answers tag itself. The replies to commands pipelined
// before the login go out first; the bytes after it travel in the record.
func (ss *session) handoff(tag string, ex *authproto.Exchange, log *zap.Logger) error {
	if err := ss.flush(); err != nil {
		return err
	}
	proxy, err := ss.c.Handoff(ss.ctx, ss.srv.Handoff, ex, tag, ss.r.BufferedBytes())
	if err != nil {
		if errors.Is(err, login.ErrHandoff) {
			log.Error("login failed: imap service unavailable", zap.Error(err))
			return no("UNAVAILABLE", textInternal)
		}
		log.Error("proxy to the imap service failed", zap.Error(err))
		return errHandedOff
	}
	log.Info("login: handed off to imap")
	if proxy != nil {
		proxy.Run(ss.ctx)
		log.Debug("proxy ended")
	}
	return errHandedOff
}
