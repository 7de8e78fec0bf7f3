package pop3login

import (
	"context"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/pop3"
)

// capabilities are the fixed CAPA lines before login, exactly Dovecot
// 2.3's pop3-login (POP3_CAPABILITY_REPLY): the pop3 process implements
// TOP, UIDL and RESP-CODES after login, and clients decide on the
// pre-login list. STLS, USER and SASL follow, per connection.
var capabilities = []string{"CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"}

// plaintextMechs send the password itself (in base64): they are offered
// only where plaintext authentication is allowed, whatever flags the auth
// service's MECH line carries.
var plaintextMechs = map[string]bool{"PLAIN": true, "LOGIN": true}

// mechanisms returns the mechanisms this session may name: the auth
// service's MECH list (or, while auth has never been reached, the
// configured auth_mechanisms) restricted to auth_mechanisms, in the auth
// service's order.
func (ss *session) mechanisms() []authproto.Mech {
	ctx, cancel := context.WithTimeout(ss.ctx, authReplyTimeout)
	defer cancel()
	fromAuth, ok := ss.srv.Auth.Mechanisms(ctx)
	if !ok {
		out := make([]authproto.Mech, 0, len(ss.srv.mechs))
		for _, m := range ss.srv.mechs {
			out = append(out, authproto.Mech{Name: m, Plaintext: plaintextMechs[m], Private: m == "APOP"})
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

func isPlaintext(m authproto.Mech) bool { return m.Plaintext || plaintextMechs[m.Name] }

// isPrivate: APOP is not a SASL mechanism a client can name in AUTH
// (Dovecot flags it private); it has its own command.
func isPrivate(m authproto.Mech) bool { return m.Private || m.Name == "APOP" }

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

// advertised returns the SASL mechanisms a client may use in AUTH on this
// connection (Dovecot's sasl_server_get_advertised_mechs).
func (ss *session) advertised() []authproto.Mech {
	plainOK := ss.c.PlaintextAuthAllowed()
	var out []authproto.Mech
	for _, m := range ss.mechanisms() {
		if isPrivate(m) || (isPlaintext(m) && !plainOK) || !ss.usable(m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// apopAvailable: the auth service offers APOP and auth_mechanisms enables
// it. Only then does the greeting carry a timestamp (RFC 1939 §7: a
// server that does not implement APOP sends none).
func (ss *session) apopAvailable() bool {
	for _, m := range ss.mechanisms() {
		if m.Name == "APOP" {
			return true
		}
	}
	return false
}

// cmdCapa: RFC 2449 §5, the list Dovecot's pop3-login gives.
func cmdCapa(ss *session, cmd pop3.Command) error {
	ss.w.OK("")
	for _, c := range capabilities {
		ss.w.Line(c)
	}
	if ss.c.StartTLSAvailable() {
		ss.w.Line("STLS")
	}
	if ss.c.PlaintextAuthAllowed() {
		ss.w.Line("USER")
	}
	// Dovecot writes the SASL line even when it is empty; clients treat
	// it as "no mechanisms".
	sasl := "SASL"
	for _, m := range ss.advertised() {
		sasl += " " + m.Name
	}
	ss.w.Line(sasl)
	ss.w.End()
	return nil
}

// cmdQuit: RFC 1939 §4 (QUIT in the AUTHORIZATION state).
func cmdQuit(ss *session, cmd pop3.Command) error {
	ss.w.OK("Logging out")
	return errClose
}

// cmdRPOP: RFC 1939 §9 lists RPOP as historical (RFC 1081): it
// authenticates with a fixed secret sent in the clear, which anyone on the
// path can replay, so it is refused outright.
func cmdRPOP(ss *session, cmd pop3.Command) error {
	return errReply("", "RPOP is not supported: it sends a reusable secret in the clear.")
}

// cmdSTLS: RFC 2595 §4. Anything the client sent after the STLS line
// arrived in plaintext and may have been injected by a man in the middle
// (CVE-2011-0411): it is discarded when TLS starts, never executed.
func cmdSTLS(ss *session, cmd pop3.Command) error {
	if ss.c.TLS() {
		return errReply("", "TLS is already active.")
	}
	if !ss.c.StartTLSAvailable() {
		return errReply("", "TLS support isn't enabled.")
	}
	ss.w.OK("Begin TLS negotiation now.")
	if err := ss.flush(); err != nil {
		return err
	}
	if n := ss.r.Buffered(); n > 0 {
		ss.c.Log.Warn("plaintext data pipelined after STLS; discarded", zap.Int("bytes", n))
	}
	if err := ss.c.StartTLS(ss.ctx); err != nil {
		ss.c.Log.Info("STLS handshake failed", zap.Error(err))
		return errClose
	}
	// Fresh buffers: nothing read before the handshake survives it. A
	// USER given in plaintext is forgotten too (RFC 2595 §4: the client
	// starts over, and the name may have been injected).
	conn := ss.c.Conn()
	ss.r.Reset(conn)
	ss.w.Reset(conn)
	ss.user, ss.hasUser = "", false
	return nil
}
