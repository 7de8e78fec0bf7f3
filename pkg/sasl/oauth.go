package sasl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's older form), offered only
// with a configured token validator (Backend.Token). Both are written here
// rather than on go-sasl's OAUTHBEARER server: that one indexes an empty
// response after a failure (a panic on hostile input) and refuses the
// extension key/value pairs RFC 7628 §3.1 allows.
//
// On a refused token both send a JSON error as a challenge and fail on the
// client's next response (RFC 7628 §3.2.3: the client answers with a single
// %x01), as Dovecot does.

// oauthError is RFC 7628 §3.2.2's error JSON.
type oauthError struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

var oauthFailJSON = func() []byte {
	b, _ := json.Marshal(oauthError{Status: "invalid_token", Schemes: "bearer", Scope: "mail"})
	return b
}()

func newOAuthBearer(ctx context.Context, b Backend, r *Request) *Session {
	return oauthSession(ctx, b, r, parseOAuthBearer, true)
}

func newXOAuth2(ctx context.Context, b Backend, r *Request) *Session {
	return oauthSession(ctx, b, r, parseXOAuth2, false)
}

func oauthSession(ctx context.Context, b Backend, r *Request, parse func([]byte) (string, string, error), strictAbort bool) *Session {
	s := &Session{}
	asked, failed := false, false
	s.step = func(resp []byte) ([]byte, bool, error) {
		if failed {
			if strictAbort && !bytes.Equal(resp, []byte{1}) {
				return nil, false, malformed("OAUTHBEARER expects %x01 after an error")
			}
			return nil, false, ErrAuthFailed
		}
		if len(resp) == 0 && !asked {
			asked = true
			return []byte{}, false, nil
		}
		user, token, err := parse(resp)
		if err != nil {
			return nil, false, err
		}
		if user != "" {
			if err := checkUser(user); err != nil {
				return nil, false, err
			}
		}
		res, err := b.Token(ctx, r, user, token)
		if errors.Is(err, ErrAuthFailed) || (err == nil && res == nil) {
			failed = true
			return oauthFailJSON, false, nil
		}
		if err != nil {
			return nil, false, backendErr(err)
		}
		s.result = res
		return nil, true, nil
	}
	return s
}

// bearerToken takes the token out of an "auth" value: "Bearer <token>",
// the scheme case-insensitive (RFC 6750 §2.1).
func bearerToken(v string) (string, error) {
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", malformed("auth is not a Bearer token")
	}
	return v[len(prefix):], nil
}

// parseOAuthBearer parses RFC 7628 §3.1's client response:
// gs2-header kvsep *(kvpair) kvsep, gs2-header = "n," or "y," then an
// optional "a=" authzid, then ",".
func parseOAuthBearer(resp []byte) (string, string, error) {
	gs2, rest, ok := bytes.Cut(resp, []byte{1})
	if !ok {
		return "", "", malformed("OAUTHBEARER without kvpairs")
	}
	parts := strings.Split(string(gs2), ",")
	if len(parts) != 3 || parts[2] != "" {
		return "", "", malformed("OAUTHBEARER gs2 header")
	}
	if parts[0] != "n" && parts[0] != "y" {
		// "p=" would ask for channel binding, which OAUTHBEARER lacks.
		return "", "", malformed("OAUTHBEARER gs2 channel-binding flag")
	}
	user := ""
	if parts[1] != "" {
		if !strings.HasPrefix(parts[1], "a=") {
			return "", "", malformed("OAUTHBEARER authzid")
		}
		var err error
		if user, err = gs2Decode(parts[1][2:]); err != nil {
			return "", "", err
		}
	}
	// rest is *(key=value %x01) %x01.
	if !bytes.HasSuffix(rest, []byte{1, 1}) {
		return "", "", malformed("OAUTHBEARER must end with %x01%x01")
	}
	token, found := "", false
	for _, kv := range bytes.Split(rest[:len(rest)-2], []byte{1}) {
		if len(kv) == 0 {
			// Only the final empty pair ends the message.
			return "", "", malformed("OAUTHBEARER empty kvpair")
		}
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok || len(k) == 0 {
			return "", "", malformed("OAUTHBEARER kvpair without key")
		}
		if string(k) == "auth" {
			if found {
				return "", "", malformed("OAUTHBEARER auth given twice")
			}
			t, err := bearerToken(string(v))
			if err != nil {
				return "", "", err
			}
			token, found = t, true
		}
		// host=, port= and extension pairs carry nothing cote checks.
	}
	if !found {
		return "", "", malformed("OAUTHBEARER without auth")
	}
	return user, token, nil
}

// gs2Decode undoes RFC 5801 §4's saslname encoding (=2C is ',', =3D '=').
func gs2Decode(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", malformed("bad saslname escape")
		}
		switch s[i+1 : i+3] {
		case "2C":
			b.WriteByte(',')
		case "3D":
			b.WriteByte('=')
		default:
			return "", malformed("bad saslname escape")
		}
		i += 2
	}
	return b.String(), nil
}

// parseXOAuth2 parses "user=" user %x01 "auth=Bearer " token %x01 %x01.
func parseXOAuth2(resp []byte) (string, string, error) {
	if !bytes.HasSuffix(resp, []byte{1, 1}) {
		return "", "", malformed("XOAUTH2 must end with %x01%x01")
	}
	var user, token string
	haveUser, haveAuth := false, false
	for _, kv := range bytes.Split(resp[:len(resp)-2], []byte{1}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok {
			return "", "", malformed("XOAUTH2 pair without '='")
		}
		switch string(k) {
		case "user":
			if haveUser {
				return "", "", malformed("XOAUTH2 user given twice")
			}
			user, haveUser = string(v), true
		case "auth":
			if haveAuth {
				return "", "", malformed("XOAUTH2 auth given twice")
			}
			t, err := bearerToken(string(v))
			if err != nil {
				return "", "", err
			}
			token, haveAuth = t, true
		default:
			return "", "", malformed("XOAUTH2 unknown key")
		}
	}
	if !haveUser || user == "" || !haveAuth {
		return "", "", malformed("XOAUTH2 needs user and auth")
	}
	return user, token, nil
}
