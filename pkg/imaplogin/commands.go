package imaplogin

import (
	"context"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/imap"
)

// plaintextMechs send the password itself (in base64): they are offered
// only where plaintext authentication is allowed, whatever flags the auth
// service's MECH line carries.
var plaintextMechs = map[string]bool{"PLAIN": true, "LOGIN": true}

// mechanisms returns the mechanisms this session may name: the auth
// service's MECH list (or, while auth has never been reached, the
// configured auth_mechanisms) restricted to the protocol's configured
// auth_mechanisms, in the auth service's order.
func (ss *session) mechanisms() []authproto.Mech {
	ctx, cancel := context.WithTimeout(ss.ctx, authReplyTimeout)
	defer cancel()
	fromAuth, ok := ss.srv.Auth.Mechanisms(ctx)
	if !ok {
		out := make([]authproto.Mech, 0, len(ss.srv.mechs))
		for _, m := range ss.srv.mechs {
			out = append(out, authproto.Mech{Name: m, Plaintext: plaintextMechs[m]})
		}
		return out
	}
	var out []authproto.Mech
	for _, m := range fromAuth {
		m.Name = strings.ToUpper(m.Name)
		// Dovecot 2.3's auth_mechanisms has no -PLUS names: enabling a
		// SCRAM mechanism enables its channel-binding variant too.
		if slices.Contains(ss.srv.mechs, m.Name) || slices.Contains(ss.srv.mechs, strings.TrimSuffix(m.Name, "-PLUS")) {
			out = append(out, m)
		}
	}
	return out
}

// mechanism looks name up among the session's mechanisms.
func (ss *session) mechanism(name string) (authproto.Mech, bool) {
	for _, m := range ss.mechanisms() {
		if m.Name == name {
			return m, true
		}
	}
	return authproto.Mech{}, false
}

func (ss *session) isPlaintext(m authproto.Mech) bool {
	return m.Plaintext || plaintextMechs[m.Name]
}

// usable reports whether m can succeed on this connection: -PLUS
// mechanisms need TLS to bind to, EXTERNAL a verified client certificate
// (login processes do not request one yet, so it is never offered).
func (ss *session) usable(m authproto.Mech) bool {
	switch {
	case strings.HasSuffix(m.Name, "-PLUS"):
		return ss.c.TLS()
	case m.Name == "EXTERNAL":
		return false
	}
	return true
}

// capability lists what this process implements, for this connection.
func (ss *session) capability() string {
	caps := imap.OverrideCapabilities([]string{"IMAP4rev1", "SASL-IR", "ID", "LITERAL+"}, ss.srv.capOverride)
	if ss.c.StartTLSAvailable() {
		caps = append(caps, "STARTTLS")
	}
	mechs := ss.mechanisms()
	if ss.loginDisabledFor(mechs) {
		caps = append(caps, "LOGINDISABLED")
	}
	plainOK := ss.c.PlaintextAuthAllowed()
	for _, m := range mechs {
		if (ss.isPlaintext(m) && !plainOK) || !ss.usable(m) {
			continue
		}
		caps = append(caps, "AUTH="+m.Name)
	}
	return strings.Join(caps, " ")
}

// loginDisabled follows Dovecot: LOGIN is off where plaintext
// authentication is not allowed, and where PLAIN (which LOGIN is carried
// over to the auth service as) is not an available mechanism.
func (ss *session) loginDisabled() bool { return ss.loginDisabledFor(ss.mechanisms()) }

func (ss *session) loginDisabledFor(mechs []authproto.Mech) bool {
	if !ss.c.PlaintextAuthAllowed() {
		return true
	}
	for _, m := range mechs {
		if m.Name == "PLAIN" {
			return false
		}
	}
	return true
}

// cmdCapability: RFC 9051 §6.1.1.
func cmdCapability(ss *session, cmd *imap.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	ss.w.Untagged("CAPABILITY " + ss.capability())
	ss.w.Tagged(cmd.Tag, "OK", "", "Pre-login capabilities listed, post-login capabilities have more.")
	return nil
}

// cmdNoop: RFC 9051 §6.1.2.
func cmdNoop(ss *session, cmd *imap.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	ss.w.Tagged(cmd.Tag, "OK", "", "NOOP completed.")
	return nil
}

// cmdLogout: RFC 9051 §6.1.3.
func cmdLogout(ss *session, cmd *imap.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	ss.w.Untagged("BYE Logging out")
	ss.w.Tagged(cmd.Tag, "OK", "", "Logout completed.")
	return errClose
}

// RFC 2971 §3.3 limits of the ID parameter list.
const (
	maxIDPairs    = 30
	maxIDKeyLen   = 30
	maxIDValueLen = 1024
)

// cmdID: RFC 2971. The client's fields are logged once per session; the
// reply names the server and nothing more (no version: it helps attackers
// more than clients).
func cmdID(ss *session, cmd *imap.Command) error {
	if len(cmd.Args) != 1 {
		return bad("Invalid ID parameters")
	}
	a := cmd.Args[0]
	var fields map[string]string
	switch a.Kind {
	case imap.NIL:
	case imap.List:
		if len(a.List)%2 != 0 || len(a.List) > 2*maxIDPairs {
			return bad("Invalid ID parameters")
		}
		fields = make(map[string]string, len(a.List)/2)
		for i := 0; i < len(a.List); i += 2 {
			k, v := a.List[i], a.List[i+1]
			if k.Kind != imap.String || len(k.Value) > maxIDKeyLen {
				return bad("Invalid ID parameters")
			}
			val, isNil, ok := v.NString()
			if !ok || len(val) > maxIDValueLen {
				return bad("Invalid ID parameters")
			}
			if !isNil {
				fields[strings.ToLower(k.Value)] = val
			}
		}
	default:
		return bad("Invalid ID parameters")
	}
	if !ss.idLogged {
		ss.idLogged = true
		if len(fields) > 0 {
			ss.c.Log.Info("client ID", zap.Any("id", fields))
		}
	}
	ss.w.WriteString("* ID (")
	ss.w.String("name")
	ss.w.WriteString(" ")
	ss.w.String("cote")
	ss.w.WriteString(")")
	ss.w.CRLF()
	ss.w.Tagged(cmd.Tag, "OK", "", "ID completed.")
	return nil
}

// cmdStartTLS: RFC 9051 §6.2.1. Anything the client sent after the
// STARTTLS line arrived in plaintext and may have been injected by a man in
// the middle (CVE-2011-0411): it is never executed, the connection is
// closed instead.
func cmdStartTLS(ss *session, cmd *imap.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	if ss.c.TLS() {
		return bad("TLS is already active.")
	}
	if !ss.c.StartTLSAvailable() {
		return bad("TLS support isn't enabled.")
	}
	if ss.r.Buffered() > 0 {
		ss.c.Log.Warn("plaintext data pipelined after STARTTLS; closing",
			zap.Int("bytes", ss.r.Buffered()))
		ss.bye("STARTTLS must not be pipelined.")
		return errClose
	}
	ss.w.Tagged(cmd.Tag, "OK", "", "Begin TLS negotiation now.")
	if err := ss.flush(); err != nil {
		return err
	}
	if err := ss.c.StartTLS(ss.ctx); err != nil {
		ss.c.Log.Info("STARTTLS handshake failed", zap.Error(err))
		return errClose
	}
	// Fresh buffers: nothing read before the handshake survives it.
	conn := ss.c.Conn()
	ss.r.Reset(conn)
	ss.w.Reset(conn)
	return nil
}
