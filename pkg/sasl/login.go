package sasl

import (
	"bytes"
	"context"
)

// LOGIN (draft-murchison-sasl-login): the server asks "Username:" then
// "Password:". An initial response is the user name, as Dovecot and the
// clients that send SASL-IR with LOGIN expect. go-sasl dropped its LOGIN
// server, so it lives here.
func newLogin(ctx context.Context, b Backend, r *Request) *Session {
	s := &Session{}
	var user string
	haveUser, asked := false, false
	s.step = func(resp []byte) ([]byte, bool, error) {
		if !haveUser {
			if len(resp) == 0 && !asked {
				// No (or an empty) initial response: ask for the name.
				asked = true
				return []byte("Username:"), false, nil
			}
			if bytes.IndexByte(resp, 0) >= 0 {
				return nil, false, malformed("NUL in LOGIN user name")
			}
			user = string(resp)
			if err := checkUser(user); err != nil {
				return nil, false, err
			}
			haveUser = true
			return []byte("Password:"), false, nil
		}
		if bytes.IndexByte(resp, 0) >= 0 {
			return nil, false, malformed("NUL in LOGIN password")
		}
		if err := s.verified(b.VerifyPlain(ctx, r, user, string(resp))); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return s
}
