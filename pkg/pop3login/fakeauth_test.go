package pop3login

import (
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/login/logintest"
)

// fakeAuth is the shared fake auth-client server (pkg/login/logintest):
// demo/secret authenticates; "tempfail" and "disabled" fail as their
// names say; PLAIN, LOGIN and APOP are implemented, every other
// mechanism fails after the request is recorded.
type fakeAuth = logintest.FakeAuth

var defaultFakeMechs = logintest.DefaultFakeMechs

func startFakeAuth(t *testing.T, path string, mechs []authproto.Mech) *fakeAuth {
	return logintest.StartFakeAuth(t, path, mechs)
}
