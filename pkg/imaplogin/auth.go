package imaplogin

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/imap"
)

// Responses of the login commands, in Dovecot's words (RFC 5530 codes).
const (
	textPrivacyRequired = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	textUnavailable     = "Authentication service is not available"
	textUnsupportedMech = "Unsupported authentication mechanism."
	textLoginDisabled   = "Login is disabled on this connection."
	textAuthFailed      = "Authentication failed."
	textTempFail        = "Temporary authentication failure."
	textAborted         = "Authentication aborted by client."
	textBadBase64       = "Invalid base64 data in continued response"
	textTooLarge        = "Authentication response too large."
	textBadFinal        = "Unexpected response to the final challenge."
)

// authReplyTimeout bounds the wait for one auth reply. A failure arrives
// after auth_failure_delay plus at most the 15 s per-IP penalty; a minute
// leaves room for a slow passdb (PAM) and still frees the client slot of a
// login stuck behind a hung auth service.
const authReplyTimeout = time.Minute

// cmdLogin: RFC 9051 §6.2.3, carried to the auth service as SASL PLAIN
// with an empty authorization identity, as Dovecot does. The password is
// never logged.
func cmdLogin(ss *session, cmd *imap.Command) error {
	if len(cmd.Args) != 2 {
		return badArgs()
	}
	user, ok1 := cmd.Args[0].AString()
	pass, ok2 := cmd.Args[1].AString()
	if !ok1 || !ok2 || strings.IndexByte(user, 0) >= 0 || strings.IndexByte(pass, 0) >= 0 {
		return badArgs()
	}
	ss.auths++
	log := ss.c.Log.With(zap.String("user", user), zap.String("method", "LOGIN"))
	if !ss.c.PlaintextAuthAllowed() {
		log.Info("login refused: plaintext authentication disallowed")
		return no("PRIVACYREQUIRED", textPrivacyRequired)
	}
	if ss.loginDisabled() {
		log.Info("login refused: PLAIN mechanism not enabled")
		return no("CANNOT", textLoginDisabled)
	}
	ir := []byte("\x00" + user + "\x00" + pass)
	return ss.authenticate(cmd.Tag, "PLAIN", ir, log)
}

// cmdAuthenticate: RFC 9051 §6.2.2 with SASL-IR (RFC 4959). The
// mechanism runs in the auth service; this process relays the challenges
// ("+ base64") and the client's responses, and a client's "*" cancels
// the exchange with a tagged BAD.
func cmdAuthenticate(ss *session, cmd *imap.Command) error {
	if len(cmd.Args) < 1 || len(cmd.Args) > 2 || cmd.Args[0].Kind != imap.Atom {
		return badArgs()
	}
	mech := strings.ToUpper(cmd.Args[0].Value)
	var ir []byte // nil: no initial response
	if len(cmd.Args) == 2 {
		a := cmd.Args[1]
		if a.Kind != imap.Atom {
			return badArgs()
		}
		ir = []byte{} // "=" is the empty initial response (RFC 4959 §3)
		if a.Value != "=" {
			d, err := base64.StdEncoding.Strict().DecodeString(a.Value)
			if err != nil {
				return bad("Invalid base64 data in initial response")
			}
			ir = d
		}
	}
	ss.auths++
	log := ss.c.Log.With(zap.String("method", mech))
	m, known := ss.mechanism(mech)
	if !known {
		log.Info("authentication refused: mechanism not enabled")
		return no("", textUnsupportedMech)
	}
	if ss.isPlaintext(m) && !ss.c.PlaintextAuthAllowed() {
		log.Info("authentication refused: plaintext authentication disallowed")
		return no("PRIVACYREQUIRED", textPrivacyRequired)
	}
	if !ss.usable(m) {
		log.Info("authentication refused: mechanism not usable on this connection")
		return no("", textUnsupportedMech)
	}
	if len(ir) > authproto.MaxSASLResponse {
		return bad(textTooLarge)
	}
	return ss.authenticate(cmd.Tag, mech, ir, log)
}

// readResponse sends a continuation request with challenge and reads the
// client's SASL response line. A *reply error is the tagged answer for a
// cancelled or malformed response; another error is an I/O error.
func (ss *session) readResponse(challenge []byte) ([]byte, error) {
	ss.w.Continue(base64.StdEncoding.EncodeToString(challenge))
	if err := ss.flush(); err != nil {
		return nil, err
	}
	ss.c.PrepareRead()
	line, err := ss.r.ReadLine()
	if err != nil {
		var fe *imap.FatalError
		if errors.As(err, &fe) {
			// A response line over the line limit: answer BAD as for
			// any malformed response; the reader has not consumed it, so
			// the session must end.
			ss.bye(fe.Msg)
			ss.c.Drain()
			return nil, errClose
		}
		return nil, err
	}
	if string(line) == "*" {
		return nil, bad(textAborted)
	}
	resp, err := base64.StdEncoding.Strict().DecodeString(string(line))
	if err != nil {
		return nil, bad(textBadBase64)
	}
	if len(resp) > authproto.MaxSASLResponse {
		return nil, bad(textTooLarge)
	}
	return resp, nil
}

// authenticate runs one SASL exchange with the auth service and answers
// the command.
func (ss *session) authenticate(tag, mech string, ir []byte, log *zap.Logger) error {
	req := ss.c.AuthRequest("imap", mech)
	if strings.HasSuffix(mech, "-PLUS") {
		// The channel-binding type is the client's choice, named in its
		// first message's GS2 header (RFC 5802 §7); SCRAM is client-first,
		// so that message is read here before AUTH goes out, and the data
		// of the type the client chose travels in the cote_cbind fields.
		if ir == nil {
			resp, err := ss.readResponse(nil)
			if err != nil {
				return err
			}
			ir = resp
		}
		ss.c.BindChannel(&req, ir, log)
	}
	req.InitialResponse = ir

	ctx, cancel := context.WithTimeout(ss.ctx, authReplyTimeout)
	defer cancel()
	ex, err := ss.srv.Auth.Start(ctx, req)
	if err != nil {
		log.Warn("authentication failed: auth service unavailable", zap.Error(err))
		return no("UNAVAILABLE", textUnavailable)
	}
	defer ex.Abort() // a no-op once the exchange has finished
	for {
		r, err := ex.Next(ctx)
		if err != nil {
			log.Warn("authentication failed: auth service unavailable", zap.Error(err))
			return no("UNAVAILABLE", textUnavailable)
		}
		switch r.Kind {
		case authproto.KindCont:
			resp, err := ss.readResponse(r.Data)
			if err != nil {
				if _, isReply := err.(*reply); isReply {
					log.Info("authentication cancelled by the client")
				}
				return err
			}
			if err := ex.Continue(resp); err != nil {
				log.Warn("authentication failed: auth service unavailable", zap.Error(err))
				return no("UNAVAILABLE", textUnavailable)
			}
		case authproto.KindOK:
			if len(r.Data) > 0 {
				// Success data (SCRAM's server-final message): IMAP has
				// no field for it in the tagged OK, so it goes out as a
				// last challenge that the client answers with an empty
				// line (RFC 9051 §6.2.2, RFC 4422 §4 and §5).
				resp, err := ss.readResponse(r.Data)
				if err != nil {
					return err
				}
				if len(resp) != 0 {
					log.Info("authentication failed: client answered the success data")
					return bad(textBadFinal)
				}
			}
			return ss.handoff(tag, ex, log.With(zap.String("auth_user", r.User)))
		default: // FAIL
			fields := []zap.Field{zap.Bool("temp", r.Temp)}
			if r.User != "" {
				fields = append(fields, zap.String("auth_user", r.User))
			}
			if r.Temp {
				log.Warn("authentication failed temporarily", fields...)
				return no("UNAVAILABLE", textTempFail)
			}
			log.Info("authentication failed", fields...)
			if r.NoLogin && r.Reason != "" {
				// The passdb's nologin reason= is the admin's message for
				// the user (Dovecot shows it too).
				return no("AUTHENTICATIONFAILED", r.Reason)
			}
			return no("AUTHENTICATIONFAILED", textAuthFailed)
		}
	}
}
