package imaplogin

import (
	"encoding/base64"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/imap"
)

// Responses of the login commands, in Dovecot's words (RFC 5530 codes).
const (
	textPrivacyRequired = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	textUnavailable     = "Authentication service is not available"
	textUnsupportedMech = "Unsupported authentication mechanism."
	textLoginDisabled   = "Login is disabled on this connection."
)

// cmdLogin: RFC 9051 §6.2.3. The password is never logged.
func cmdLogin(ss *session, cmd *imap.Command) error {
	if len(cmd.Args) != 2 {
		return badArgs()
	}
	user, ok1 := cmd.Args[0].AString()
	_, ok2 := cmd.Args[1].AString()
	if !ok1 || !ok2 {
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
	log.Info("login refused: no auth service in this build")
	return no("UNAVAILABLE", textUnavailable)
}

// cmdAuthenticate: RFC 9051 §6.2.2 with SASL-IR (RFC 4959). No
// continuation request is ever sent (see the package comment), so the "*"
// cancellation of RFC 9051 §6.2.2 cannot arrive; an initial response is
// checked for valid base64 ("=" being the empty response, RFC 4959 §3).
func cmdAuthenticate(ss *session, cmd *imap.Command) error {
	if len(cmd.Args) < 1 || len(cmd.Args) > 2 || cmd.Args[0].Kind != imap.Atom {
		return badArgs()
	}
	mech := strings.ToUpper(cmd.Args[0].Value)
	if len(cmd.Args) == 2 {
		ir := cmd.Args[1]
		if ir.Kind != imap.Atom {
			return badArgs()
		}
		if ir.Value != "=" {
			if _, err := base64.StdEncoding.Strict().DecodeString(ir.Value); err != nil {
				return bad("Invalid base64 data in initial response")
			}
		}
	}
	ss.auths++
	log := ss.c.Log.With(zap.String("method", mech))
	enabled := false
	for _, m := range ss.srv.mechs {
		if m == mech {
			enabled = true
		}
	}
	if !enabled {
		log.Info("authentication refused: mechanism not enabled")
		return no("", textUnsupportedMech)
	}
	if plaintextMechs[mech] && !ss.c.PlaintextAuthAllowed() {
		log.Info("authentication refused: plaintext authentication disallowed")
		return no("PRIVACYREQUIRED", textPrivacyRequired)
	}
	log.Info("authentication refused: no auth service in this build")
	return no("UNAVAILABLE", textUnavailable)
}
