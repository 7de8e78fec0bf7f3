package login

import (
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/settings"
)

// Frontend is what the server of every login protocol holds: the login
// core serving its clients (whose Handle, Clients and EvictOldest are
// the service runtime's interface), the client of the auth service and
// the handoff socket of the post-login service. imaplogin and pop3login
// embed it and give it their session function.
type Frontend struct {
	*Server
	Auth    *Auth
	Handoff string
}

// NewFrontend wires a Frontend for protocol proto: the auth and handoff
// socket paths as this process sees them (SocketPaths; authPath and
// handoffPath override them), the auth client and the core running
// session for every client.
func NewFrontend(cfg *settings.Config, proto string, lc Config, log *zap.Logger, authPath, handoffPath string, session Session) Frontend {
	auth, handoff := SocketPaths(cfg, proto, authPath, handoffPath)
	return Frontend{Server: NewServer(lc, session), Auth: NewAuth(auth, log), Handoff: handoff}
}

// Close closes the connection to the auth service.
func (f *Frontend) Close() { f.Auth.Close() }

// Mechanisms is auth_mechanisms as the login protocols offer them:
// upper-cased, each once, in configured order.
func Mechanisms(configured []string) []string {
	var out []string
	for _, m := range configured {
		m = strings.ToUpper(m)
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
