package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"github.com/xdg-go/scram"
)

// SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) and their -PLUS
// variants with channel binding (RFC 5929 tls-server-end-point, RFC 9266
// tls-exporter), on xdg-go/scram's server. The stored keys come from the
// passdb (passwd.Creds.SCRAM: Dovecot's {SCRAM-SHA-*} entries, or computed
// from a plaintext password).
type scramVariant struct {
	name, scheme string
	hash         scram.HashGeneratorFcn
}

var scramVariants = []scramVariant{
	{name: "SCRAM-SHA-1", scheme: "SCRAM-SHA-1", hash: scram.SHA1},
	{name: "SCRAM-SHA-256", scheme: "SCRAM-SHA-256", hash: scram.SHA256},
}

// dummyIterations is the iteration count shown for an unknown user:
// Dovecot's default SCRAM rounds, so a probe cannot tell from
// server-first that the user does not exist.
const dummyIterations = 4096

// dummySecret keys the per-user dummy salt, so the same unknown user sees
// the same salt on every attempt (a changing salt would give it away).
var dummySecret = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

func dummyCredentials(user string, size int) scram.StoredCredentials {
	m := hmac.New(sha256.New, dummySecret)
	m.Write([]byte(user))
	salt := m.Sum(nil)[:16]
	stored := make([]byte, size)
	server := make([]byte, size)
	rand.Read(stored)
	rand.Read(server)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: dummyIterations},
		StoredKey:  stored,
		ServerKey:  server,
	}
}

func (v scramVariant) newSession(plus bool) func(context.Context, Backend, *Request) *Session {
	return func(ctx context.Context, b Backend, r *Request) *Session {
		s := &Session{}
		var (
			conv      *scram.ServerConversation
			res       *Result
			lookupErr error
			dummy     bool
		)
		srv, err := v.hash.NewServer(func(user string) (scram.StoredCredentials, error) {
			if err := checkUser(user); err != nil {
				lookupErr = err
				return scram.StoredCredentials{}, err
			}
			if err := checkAuthzid(conv.AuthzID(), user); err != nil {
				lookupErr = err
				return scram.StoredCredentials{}, err
			}
			creds, rr, err := b.Credentials(ctx, r, user, v.scheme)
			if errors.Is(err, ErrAuthFailed) {
				// Unknown user: go on with made-up keys, so the exchange
				// looks the same up to the failed proof.
				dummy = true
				return dummyCredentials(user, v.hash().Size()), nil
			}
			if err == nil && creds.SCRAM == nil {
				err = ErrUnsupported
			}
			if err != nil {
				lookupErr = backendErr(err)
				return scram.StoredCredentials{}, lookupErr
			}
			res = rr
			k := creds.SCRAM
			return scram.StoredCredentials{
				KeyFactors: scram.KeyFactors{Salt: string(k.Salt), Iters: k.Iterations},
				StoredKey:  k.StoredKey,
				ServerKey:  k.ServerKey,
			}, nil
		})
		if err != nil {
			s.step = func([]byte) ([]byte, bool, error) { return nil, false, backendErr(err) }
			return s
		}
		if plus {
			if r.CBindType == "" || len(r.CBind) == 0 {
				s.step = func([]byte) ([]byte, bool, error) {
					return nil, false, errors.Join(ErrChannelBinding, errors.New("no channel-binding data for this connection"))
				}
				return s
			}
			conv = srv.NewConversationWithChannelBindingRequired(scram.ChannelBinding{
				Type: scram.ChannelBindingType(r.CBindType),
				Data: r.CBind,
			})
		} else {
			conv = srv.NewConversation()
		}
		started := false
		s.step = func(resp []byte) ([]byte, bool, error) {
			if resp == nil && !started {
				// SCRAM is client-first: without an initial response, an
				// empty challenge asks for it.
				started = true
				return []byte{}, false, nil
			}
			started = true
			out, err := conv.Step(string(resp))
			if err != nil {
				if lookupErr != nil {
					return nil, false, lookupErr
				}
				return nil, false, scramErr(out, err)
			}
			if !conv.Done() {
				return []byte(out), false, nil
			}
			if dummy || !conv.Valid() {
				return nil, false, ErrAuthFailed
			}
			if err := s.verified(res, nil); err != nil {
				return nil, false, err
			}
			return []byte(out), true, nil
		}
		return s
	}
}

// scramErr maps xdg-go/scram's server-error strings (RFC 5802 §7) to ours.
func scramErr(serverErr string, err error) error {
	switch serverErr {
	case scram.ErrInvalidProof:
		return ErrAuthFailed
	case scram.ErrChannelBindingsDontMatch, scram.ErrServerDoesSupportChannelBinding,
		scram.ErrChannelBindingNotSupported, scram.ErrUnsupportedChannelBindingType:
		return errors.Join(ErrChannelBinding, err)
	}
	return malformed(err.Error())
}
