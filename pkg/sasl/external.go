package sasl

import (
	"context"
	"fmt"

	gosasl "github.com/emersion/go-sasl"
)

// EXTERNAL (RFC 4422 Appendix A) with a TLS client certificate the login
// process verified (Request.ValidClientCert, Request.CertUser). The
// response is the authorization identity, empty for "the certificate's
// user". On go-sasl's EXTERNAL server.
func newExternal(ctx context.Context, b Backend, r *Request) *Session {
	s := &Session{}
	srv := gosasl.NewExternalServer(func(authzid string) error {
		if !r.ValidClientCert {
			return fmt.Errorf("%w: no verified client certificate", ErrAuthFailed)
		}
		res, err := b.CertUser(ctx, r, authzid)
		if err != nil {
			return backendErr(err)
		}
		if res == nil {
			return ErrAuthFailed
		}
		s.result = res
		return nil
	})
	s.step = func(resp []byte) ([]byte, bool, error) {
		ch, done, err := srv.Next(resp)
		return ch, done, goSASLErr(err)
	}
	return s
}
