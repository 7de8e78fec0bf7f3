package sasl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cote-mail/cote/pkg/authproto"
)

// registry holds every mechanism cote implements; auth_mechanisms chooses
// among them. Built once, never modified: Registry hands out copies.
var registry = map[string]*Mechanism{}

func register(m *Mechanism) {
	registry[m.Name] = m
}

func init() {
	register(&Mechanism{Name: "PLAIN", Flags: authproto.Mech{Name: "PLAIN", Plaintext: true}, New: newPlain})
	register(&Mechanism{Name: "LOGIN", Flags: authproto.Mech{Name: "LOGIN", Plaintext: true}, New: newLogin})
	register(&Mechanism{Name: "CRAM-MD5", Flags: authproto.Mech{Name: "CRAM-MD5", Dictionary: true, Active: true}, Scheme: "CRAM-MD5", New: newCRAM})
	register(&Mechanism{Name: "APOP", Flags: authproto.Mech{Name: "APOP", Dictionary: true, Active: true, Private: true}, Scheme: "PLAIN", APOP: true, New: newAPOP})
	for _, v := range scramVariants {
		register(&Mechanism{Name: v.name, Flags: authproto.Mech{Name: v.name, MutualAuth: true}, Scheme: v.scheme, New: v.newSession(false)})
		register(&Mechanism{Name: v.name + "-PLUS", Flags: authproto.Mech{Name: v.name + "-PLUS", MutualAuth: true}, Scheme: v.scheme, ChannelBinding: true, New: v.newSession(true)})
	}
	register(&Mechanism{Name: "EXTERNAL", Flags: authproto.Mech{Name: "EXTERNAL"}, Cert: true, New: newExternal})
	register(&Mechanism{Name: "OAUTHBEARER", Flags: authproto.Mech{Name: "OAUTHBEARER", Plaintext: true}, Token: true, New: newOAuthBearer})
	register(&Mechanism{Name: "XOAUTH2", Flags: authproto.Mech{Name: "XOAUTH2", Plaintext: true}, Token: true, New: newXOAuth2})
}

// Registry returns every mechanism keyed by its upper-case name. The map is
// a copy; the Mechanisms are shared and must not be modified.
func Registry() map[string]*Mechanism {
	out := make(map[string]*Mechanism, len(registry))
	for k, v := range registry {
		out[k] = v
	}
	return out
}

// Lookup finds a mechanism by name, case-insensitively (auth_mechanisms and
// AUTH lines may use either case); nil when unknown.
func Lookup(name string) *Mechanism {
	return registry[strings.ToUpper(name)]
}

// Names lists the mechanism names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RequestFrom converts an auth-client AUTH request.
func RequestFrom(r *authproto.Request) *Request {
	return &Request{
		Service:         r.Service,
		Secured:         r.Secured,
		ValidClientCert: r.ValidClientCert,
		Local:           r.Local,
		Remote:          r.Remote,
		CBindType:       r.CBindType,
		CBind:           r.CBind,
		CertUser:        r.CertUser,
	}
}

// backendErr keeps the Backend's sentinel errors and turns anything else into
// a temporary failure: a Backend that fails in an unexpected way must not
// look like a wrong password to the client.
func backendErr(err error) error {
	switch {
	case errors.Is(err, ErrAuthFailed), errors.Is(err, ErrTempFail), errors.Is(err, ErrUnsupported),
		errors.Is(err, ErrAuthzid), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %v", ErrTempFail, err)
}

// malformed wraps a parse failure.
func malformed(why string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, why)
}

// checkUser refuses user names no passdb can hold: empty, with NUL, or
// invalid UTF-8. (auth_username_chars is the auth server's policy.)
func checkUser(u string) error {
	if u == "" {
		return malformed("empty user name")
	}
	if strings.IndexByte(u, 0) >= 0 || !utf8.ValidString(u) {
		return malformed("invalid user name")
	}
	return nil
}

// checkAuthzid applies cote's rule: no master users, so an authorization
// identity must be empty or the authentication identity itself.
func checkAuthzid(authzid, authcid string) error {
	if authzid != "" && authzid != authcid {
		return ErrAuthzid
	}
	return nil
}

// verified finishes an exchange: the Backend's result, or an error.
func (s *Session) verified(res *Result, err error) error {
	if err != nil {
		return backendErr(err)
	}
	if res == nil {
		return ErrAuthFailed
	}
	s.result = res
	return nil
}
