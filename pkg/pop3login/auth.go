package pop3login

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/pop3"
)

// Responses of the login commands, in Dovecot 2.3's words.
const (
	textPlaintextDisabled = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	textNoUser            = "No username given."
	textAPOPDisabled      = "APOP not enabled."
	textInvalidParams     = "Invalid parameters."
	textAPOPHex           = "Invalid characters in MD5 response."
	textUnavailable       = "Authentication service is not available"
	textUnsupportedMech   = "Unsupported authentication mechanism."
	textAuthFailed        = "Authentication failed."
	textTempFail          = "Temporary authentication failure."
	textAborted           = "Authentication aborted by client."
	textBadBase64         = "Invalid base64 data in continued response"
	textBadIRBase64       = "Invalid base64 data in initial response"
	textTooLarge          = "Authentication response too large."
	textBadFinal          = "Unexpected response to the final challenge."
)

// Response codes (RFC 2449 §8.1 IN-USE is the pop3 process's; RFC 3206).
const (
	codeAuth    = "AUTH"
	codeSysTemp = "SYS/TEMP"
)

// authReplyTimeout bounds the wait for one auth reply. A failure arrives
// after auth_failure_delay plus at most the 15 s per-IP penalty; a minute
// leaves room for a slow passdb (PAM) and still frees the client slot of a
// login stuck behind a hung auth service.
const authReplyTimeout = time.Minute

// fieldAPOPChallenge carries the greeting's timestamp to the auth
// service, which checks that the APOP data was computed over it
// (pkg/sasl apop.go): a digest captured on another connection, over
// another timestamp, is refused.
const fieldAPOPChallenge = "cote_apop_challenge"

// cmdUser: RFC 1939 §7. The name is the whole rest of the line. Where
// plaintext authentication is not allowed USER is refused already, as
// Dovecot does, so the client learns before sending its password.
func cmdUser(ss *session, cmd pop3.Command) error {
	if !ss.c.PlaintextAuthAllowed() {
		ss.c.Log.Info("login refused: plaintext authentication disallowed")
		return errReply(codeAuth, textPlaintextDisabled)
	}
	ss.user, ss.hasUser = cmd.Rest(), true
	ss.w.OK("")
	return nil
}

// cmdPass: RFC 1939 §7. The password is the whole rest of the line,
// spaces included (RFC 1939 allows it, Dovecot does it); it goes to the
// auth service as SASL PLAIN with an empty authorization identity and is
// never logged.
func cmdPass(ss *session, cmd pop3.Command) error {
	if !ss.hasUser {
		// A client may ignore USER's reply and show only PASS's.
		if !ss.c.PlaintextAuthAllowed() {
			ss.c.Log.Info("login refused: plaintext authentication disallowed (password sent in the clear)")
			return errReply(codeAuth, textPlaintextDisabled)
		}
		return errReply("", textNoUser)
	}
	user, pass := ss.user, cmd.Rest()
	ss.user, ss.hasUser = "", false
	ss.auths++
	log := ss.c.Log.With(zap.String("user", user), zap.String("method", "USER"))
	if strings.IndexByte(user, 0) >= 0 || strings.IndexByte(pass, 0) >= 0 {
		// A NUL would shift the PLAIN fields.
		log.Info("authentication failed: NUL in user name or password")
		return errReply(codeAuth, textAuthFailed)
	}
	if !ss.plainAvailable() {
		log.Info("login refused: PLAIN mechanism not enabled")
		return errReply(codeAuth, textUnsupportedMech)
	}
	return ss.authenticate("PLAIN", []byte("\x00"+user+"\x00"+pass), nil, log)
}

// plainAvailable: USER/PASS runs as PLAIN, which the auth service must
// offer and auth_mechanisms enable.
func (ss *session) plainAvailable() bool {
	for _, m := range ss.mechanisms() {
		if m.Name == "PLAIN" {
			return true
		}
	}
	return false
}

// cmdAPOP: RFC 1939 §7, "APOP name digest", digest the MD5 of the
// greeting's timestamp and the password in 32 lower-case hex digits. The
// name is everything before the last space.
func cmdAPOP(ss *session, cmd pop3.Command) error {
	if ss.apop == "" {
		ss.c.Log.Info("APOP failed: APOP not enabled")
		return errReply("", textAPOPDisabled)
	}
	args := cmd.Rest()
	i := strings.LastIndexByte(args, ' ')
	if i <= 0 || len(args)-i-1 != 32 {
		return errReply("", textInvalidParams)
	}
	user := args[:i]
	digest, err := hex.DecodeString(args[i+1:])
	if err != nil {
		return errReply("", textAPOPHex)
	}
	ss.auths++
	log := ss.c.Log.With(zap.String("user", user), zap.String("method", "APOP"))
	if strings.IndexByte(user, 0) >= 0 {
		log.Info("authentication failed: NUL in user name")
		return errReply(codeAuth, textAuthFailed)
	}
	ir := append([]byte(ss.apop+"\x00"+user+"\x00"), digest...)
	extra := authproto.Fields{{Key: fieldAPOPChallenge, Value: ss.apop, HasValue: true}}
	return ss.authenticate("APOP", ir, extra, log)
}

// cmdAuth: RFC 5034 §4. Without arguments it lists the mechanisms, one a
// line, as Dovecot does for the pre-RFC SASL discovery Outlook uses.
func cmdAuth(ss *session, cmd pop3.Command) error {
	if len(cmd.Args) == 0 {
		ss.w.OK("")
		for _, m := range ss.advertised() {
			ss.w.Line(m.Name)
		}
		ss.w.End()
		return nil
	}
	if len(cmd.Args) > 2 {
		// A space inside the initial response: not base64 (Dovecot
		// words it so too).
		return errReply(codeAuth, textBadIRBase64)
	}
	mech := strings.ToUpper(cmd.Args[0])
	var ir []byte // nil: no initial response
	if len(cmd.Args) == 2 {
		ir = []byte{} // "=" is the empty initial response (RFC 5034 §4)
		if cmd.Args[1] != "=" {
			d, err := base64.StdEncoding.Strict().DecodeString(cmd.Args[1])
			if err != nil {
				return errReply(codeAuth, textBadIRBase64)
			}
			ir = d
		}
	}
	ss.auths++
	log := ss.c.Log.With(zap.String("method", mech))
	var m authproto.Mech
	known := false
	for _, x := range ss.mechanisms() {
		if x.Name == mech && !isPrivate(x) {
			m, known = x, true
		}
	}
	if !known {
		log.Info("authentication refused: mechanism not enabled")
		return errReply(codeAuth, textUnsupportedMech)
	}
	if isPlaintext(m) && !ss.c.PlaintextAuthAllowed() {
		log.Info("authentication refused: plaintext authentication disallowed")
		return errReply(codeAuth, textPlaintextDisabled)
	}
	if !ss.usable(m) {
		log.Info("authentication refused: mechanism not usable on this connection")
		return errReply(codeAuth, textUnsupportedMech)
	}
	if len(ir) > authproto.MaxSASLResponse {
		return errReply(codeAuth, textTooLarge)
	}
	return ss.authenticate(mech, ir, nil, log)
}

// readResponse sends a continuation with challenge and reads the client's
// SASL response line (RFC 5034 §4). A *reply error is the answer for a
// cancelled or malformed response; another error is an I/O error.
func (ss *session) readResponse(challenge []byte) ([]byte, error) {
	ss.w.Cont(base64.StdEncoding.EncodeToString(challenge))
	if err := ss.flush(); err != nil {
		return nil, err
	}
	ss.c.PrepareRead()
	line, err := ss.r.ReadLine()
	if errors.Is(err, pop3.ErrLineTooLong) {
		return nil, errReply(codeAuth, textTooLarge)
	}
	if err != nil {
		return nil, err
	}
	if line == "*" {
		return nil, errReply("", textAborted)
	}
	resp, err := base64.StdEncoding.Strict().DecodeString(line)
	if err != nil {
		return nil, errReply(codeAuth, textBadBase64)
	}
	return resp, nil
}

// authenticate runs one SASL exchange with the auth service and answers
// the command: on success it hands the client to the pop3 service.
func (ss *session) authenticate(mech string, ir []byte, extra authproto.Fields, log *zap.Logger) error {
	req := ss.c.AuthRequest("pop3", mech)
	req.Extra = extra
	if strings.HasSuffix(mech, "-PLUS") {
		// The channel-binding type is the client's choice, named in its
		// first message's GS2 header (RFC 5802 §7); SCRAM is client-first,
		// so that message is read here before AUTH goes out.
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
		return errReply(codeSysTemp, textUnavailable)
	}
	defer ex.Abort() // a no-op once the exchange has finished
	for {
		r, err := ex.Next(ctx)
		if err != nil {
			log.Warn("authentication failed: auth service unavailable", zap.Error(err))
			return errReply(codeSysTemp, textUnavailable)
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
			if len(resp) > authproto.MaxSASLResponse {
				return errReply(codeAuth, textTooLarge)
			}
			if err := ex.Continue(resp); err != nil {
				log.Warn("authentication failed: auth service unavailable", zap.Error(err))
				return errReply(codeSysTemp, textUnavailable)
			}
		case authproto.KindOK:
			if len(r.Data) > 0 {
				// Success data (SCRAM's server-final message) goes out as
				// a last challenge the client answers with an empty line
				// (RFC 5034 §4 allows it in +OK too, but Dovecot, and
				// the clients tested against it, use the challenge).
				resp, err := ss.readResponse(r.Data)
				if err != nil {
					return err
				}
				if len(resp) != 0 {
					log.Info("authentication failed: client answered the success data")
					return errReply(codeAuth, textBadFinal)
				}
			}
			return ss.handoff(ex, log.With(zap.String("auth_user", r.User)))
		default: // FAIL
			fields := []zap.Field{zap.Bool("temp", r.Temp)}
			if r.User != "" {
				fields = append(fields, zap.String("auth_user", r.User))
			}
			if r.Temp {
				log.Warn("authentication failed temporarily", fields...)
				return errReply(codeSysTemp, textTempFail)
			}
			log.Info("authentication failed", fields...)
			if r.NoLogin && r.Reason != "" {
				// The passdb's nologin reason= is the admin's message for
				// the user (Dovecot shows it too).
				return errReply(codeAuth, r.Reason)
			}
			return errReply(codeAuth, textAuthFailed)
		}
	}
}
