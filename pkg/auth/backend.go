package auth

import (
	"context"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/sasl"
)

// backend is the sasl.Backend of one exchange: the Auth chains with the
// request's client facts. out is the passdb outcome of the successful
// step, which the server needs after the exchange (user rename, userdb_
// fields, nologin).
type backend struct {
	s   *Server
	req Request
	out *outcome
}

// okFields are the passdb fields an OK reply may carry to the login
// process: none of the internal ones (nopassword, allow_nets) and never a
// password.
func okFields(f authproto.Fields) authproto.Fields {
	var out authproto.Fields
	for _, x := range f {
		switch x.Key {
		case "nologin", "reason":
			out = append(out, x)
		}
	}
	return out
}

func (b *backend) result(out outcome) (*sasl.Result, error) {
	switch out.res {
	case ResultOK:
		b.out = &out
		return &sasl.Result{User: out.user, Fields: okFields(out.fields), NoLogin: out.noLogin, Reason: out.reason}, nil
	case ResultInternal:
		return nil, sasl.ErrTempFail
	}
	return nil, sasl.ErrAuthFailed
}

func (b *backend) VerifyPlain(ctx context.Context, sr *sasl.Request, user, password string) (*sasl.Result, error) {
	u, err := b.s.auth.NormalizeUser(user)
	if err != nil {
		b.s.auth.dummyVerify("", user, password)
		return nil, sasl.ErrAuthFailed
	}
	r := b.req
	r.User = u
	return b.result(b.s.auth.verifyPlain(ctx, &r, password))
}

func (b *backend) Credentials(ctx context.Context, sr *sasl.Request, user, scheme string) (passwd.Creds, *sasl.Result, error) {
	u, err := b.s.auth.NormalizeUser(user)
	if err != nil {
		return passwd.Creds{}, nil, sasl.ErrAuthFailed
	}
	r := b.req
	r.User = u
	creds, out, err := b.s.auth.credentials(ctx, &r, scheme)
	if err != nil {
		return passwd.Creds{}, nil, sasl.ErrUnsupported
	}
	res, err := b.result(out)
	if err != nil {
		return passwd.Creds{}, nil, err
	}
	return creds, res, nil
}

func (b *backend) Token(ctx context.Context, sr *sasl.Request, user, token string) (*sasl.Result, error) {
	return nil, sasl.ErrUnsupported
}

// CertUser maps the user name of a verified client certificate (the login
// process took it from the certificate) to a passdb user: the user must
// exist, no password is checked (Dovecot's EXTERNAL with
// auth_ssl_username_from_cert).
func (b *backend) CertUser(ctx context.Context, sr *sasl.Request, authzid string) (*sasl.Result, error) {
	if !sr.ValidClientCert || sr.CertUser == "" {
		return nil, sasl.ErrAuthFailed
	}
	if authzid != "" && authzid != sr.CertUser {
		return nil, sasl.ErrAuthzid
	}
	u, err := b.s.auth.NormalizeUser(sr.CertUser)
	if err != nil {
		return nil, sasl.ErrAuthFailed
	}
	r := b.req
	r.User = u
	_, out, _ := b.s.auth.credentials(ctx, &r, "")
	return b.result(out)
}
