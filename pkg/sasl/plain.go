package sasl

import (
	"context"
	"errors"

	gosasl "github.com/emersion/go-sasl"
)

// newPlain: RFC 4616, on go-sasl's PLAIN server (it splits
// "authzid NUL authcid NUL password" and sends an empty challenge when there
// is no initial response).
func newPlain(ctx context.Context, b Backend, r *Request) *Session {
	s := &Session{}
	srv := gosasl.NewPlainServer(func(authzid, authcid, password string) error {
		if err := checkUser(authcid); err != nil {
			return err
		}
		if err := checkAuthzid(authzid, authcid); err != nil {
			return err
		}
		return s.verified(b.VerifyPlain(ctx, r, authcid, password))
	})
	s.step = func(resp []byte) ([]byte, bool, error) {
		ch, done, err := srv.Next(resp)
		return ch, done, goSASLErr(err)
	}
	return s
}

// goSASLErr maps go-sasl's own parse errors (plain errors.New values) to
// ErrMalformed and keeps ours.
func goSASLErr(err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{ErrAuthFailed, ErrTempFail, ErrUnsupported, ErrMalformed, ErrAuthzid, ErrTooLarge, ErrChannelBinding, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, known) {
			return err
		}
	}
	return malformed(err.Error())
}
