package pop3login

import (
	"errors"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/login"
)

// textInternal answers a login whose handoff to the pop3 service failed,
// in Dovecot's words; the cause is in the log, never in the reply.
const textInternal = "Internal error occurred. Refer to server log for more information."

// errHandedOff ends the session: the pop3 service owns the client now.
var errHandedOff = errors.New("handed off")

// handoff passes the authenticated client to the pop3 service
// (ARCHITECTURE.md contract 4), which redeems ex's id and cookie on
// auth-master and answers "+OK Logged in." itself. The record's Tag is ""
// (POP3 has none) and its Preamble the bytes the client pipelined after
// the login command, which the pop3 process runs next. The replies to
// commands pipelined before the login go out first.
func (ss *session) handoff(ex *authproto.Exchange, log *zap.Logger) error {
	if err := ss.flush(); err != nil {
		return err
	}
	proxy, err := ss.c.Handoff(ss.ctx, ss.srv.Handoff, ex, "", ss.r.BufferedBytes())
	if err != nil {
		if errors.Is(err, login.ErrHandoff) {
			log.Error("login failed: pop3 service unavailable", zap.Error(err))
			return errReply(codeSysTemp, textInternal)
		}
		log.Error("proxy to the pop3 service failed", zap.Error(err))
		return errHandedOff
	}
	log.Info("login: handed off to pop3")
	if proxy != nil {
		proxy.Run(ss.ctx)
		log.Debug("proxy ended")
	}
	return errHandedOff
}
