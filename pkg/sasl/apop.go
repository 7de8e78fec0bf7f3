package sasl

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"fmt"
	"strings"
)

// APOP (RFC 1939 §7) as a SASL mechanism, in Dovecot's form: the POP3 login
// process sends one response "challenge NUL user NUL digest", digest being
// the 16 raw bytes of MD5(challenge + password). It needs the plaintext
// password (Credentials scheme "PLAIN").
func newAPOP(ctx context.Context, b Backend, r *Request) *Session {
	s := &Session{}
	s.step = func(resp []byte) ([]byte, bool, error) {
		if resp == nil {
			// Dovecot's APOP needs its data at once; there is nothing to
			// prompt for.
			return nil, false, malformed("APOP needs an initial response")
		}
		challenge, rest, ok := bytes.Cut(resp, []byte{0})
		if !ok {
			return nil, false, malformed("APOP response without user")
		}
		user, digest, ok := bytes.Cut(rest, []byte{0})
		if !ok || len(digest) != md5.Size {
			return nil, false, malformed("APOP digest must be 16 bytes")
		}
		if err := checkUser(string(user)); err != nil {
			return nil, false, err
		}
		if err := checkAPOPChallenge(string(challenge), r); err != nil {
			return nil, false, err
		}
		creds, res, err := b.Credentials(ctx, r, string(user), "PLAIN")
		if err != nil {
			return nil, false, backendErr(err)
		}
		want := md5.Sum(append(append([]byte(nil), challenge...), creds.Plain...))
		if subtle.ConstantTimeCompare(want[:], digest) != 1 {
			return nil, false, ErrAuthFailed
		}
		if err := s.verified(res, nil); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return s
}

// checkAPOPChallenge makes sure the banner was issued for this auth
// connection, so a digest captured elsewhere cannot be replayed with its
// old banner (see Request.APOPChallenge).
func checkAPOPChallenge(ch string, r *Request) error {
	if len(ch) < 3 || ch[0] != '<' || ch[len(ch)-1] != '>' || !strings.Contains(ch, "@") {
		return malformed("APOP challenge is not a msg-id")
	}
	switch {
	case r.APOPChallenge != "":
		if ch != r.APOPChallenge {
			return fmt.Errorf("%w: APOP challenge was not issued for this connection", ErrAuthFailed)
		}
	case r.ServerPID != 0:
		prefix := fmt.Sprintf("<%x.%x.", r.ServerPID, r.ConnectUID)
		if !strings.HasPrefix(ch, prefix) {
			return fmt.Errorf("%w: APOP challenge was not issued for this connection", ErrAuthFailed)
		}
	default:
		return fmt.Errorf("%w: APOP without a challenge to check against", ErrUnsupported)
	}
	return nil
}
