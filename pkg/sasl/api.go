package sasl

import (
	"context"
	"errors"
	"net/netip"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/passwd"
	gosasl "github.com/emersion/go-sasl"
)

// MaxResponse caps one decoded client response (issue 3 "Bad input");
// Dovecot refuses larger ones too.
const MaxResponse = authproto.MaxSASLResponse

// Errors a Session returns from Next. The auth server maps ErrTempFail to
// FAIL with "temp", every other error to a plain FAIL; the unknown-user and
// wrong-password cases share ErrAuthFailed so the reply is no oracle.
var (
	// ErrAuthFailed: wrong password, unknown user, bad proof.
	ErrAuthFailed = errors.New("sasl: authentication failed")
	// ErrTempFail: a backend failed (a passdb was unreachable); retry later.
	ErrTempFail = errors.New("sasl: temporary authentication failure")
	// ErrUnsupported: the backend cannot serve this mechanism (no stored
	// credentials in the needed form, no token validator, no certificate).
	ErrUnsupported = errors.New("sasl: mechanism not supported for this user")
	// ErrMalformed: the client's response does not follow the mechanism.
	ErrMalformed = errors.New("sasl: malformed response")
	// ErrTooLarge: a response over MaxResponse bytes.
	ErrTooLarge = errors.New("sasl: response too large")
	// ErrAuthzid: an authorization identity other than the authentication
	// identity was asked for; cote has no master users.
	ErrAuthzid = errors.New("sasl: authorization identity differs from authentication identity (master users are not supported)")
	// ErrChannelBinding: SCRAM-*-PLUS binding missing or not matching the
	// client's TLS connection.
	ErrChannelBinding = errors.New("sasl: channel binding mismatch")
	// ErrDone: Next was called after the exchange finished.
	ErrDone = errors.New("sasl: exchange already finished")
)

// Backend is what pkg/auth implements over its passdbs.
type Backend interface {
	// VerifyPlain checks a password; it returns ErrAuthFailed for an unknown
	// user or a wrong password alike (the backend does the dummy
	// verification), ErrTempFail on a backend error.
	VerifyPlain(ctx context.Context, req *Request, user, password string) (*Result, error)
	// Credentials looks up what a challenge-response mechanism needs, scheme
	// being passwd.Credentials' want ("PLAIN", "CRAM-MD5", "SCRAM-SHA-1",
	// "SCRAM-SHA-256"). Unknown user: ErrAuthFailed (the mechanism then
	// finishes its exchange against dummy credentials, so an unknown user
	// costs the same and answers the same); no credentials of that kind:
	// ErrUnsupported; backend error: ErrTempFail. The Result is what a
	// successful exchange returns.
	Credentials(ctx context.Context, req *Request, user, scheme string) (passwd.Creds, *Result, error)
	// Token validates an OAUTHBEARER/XOAUTH2 token for user (XOAUTH2's
	// user=, OAUTHBEARER's a=; "" when OAUTHBEARER named nobody and the
	// token decides); ErrUnsupported when no validator is configured,
	// ErrAuthFailed for a bad token or one that belongs to another user
	// (the Backend compares after its own username normalisation).
	Token(ctx context.Context, req *Request, user, token string) (*Result, error)
	// CertUser maps a verified client certificate (req.CertUser; the
	// mechanism has checked req.ValidClientCert) to a user (EXTERNAL).
	// authzid is what the client asked to be ("" for none); one that is not
	// the certificate's user (after normalisation) is ErrAuthzid.
	CertUser(ctx context.Context, req *Request, authzid string) (*Result, error)
}

// Request is what the mechanisms and the Backend know of the client: the
// auth-client AUTH fields.
type Request struct {
	Service                  string
	Secured, ValidClientCert bool
	Local, Remote            netip.AddrPort
	// CBindType ("tls-exporter", "tls-server-end-point") and CBind: the
	// channel binding of the client's TLS connection as the login process
	// computed it; SCRAM-*-PLUS compares the client's binding against it.
	CBindType string
	CBind     []byte
	// CertUser: the user name from the verified client certificate.
	CertUser string
	// APOP (RFC 1939 §7) carries the timestamp banner the POP3 login process
	// greeted with inside its response, as Dovecot's APOP mechanism does
	// ("challenge NUL user NUL 16-byte digest"). The banner must be one this
	// auth server can trust was not replayed: either APOPChallenge is set and
	// equal to it, or ServerPID and ConnectUID are set and the banner starts
	// "<SPID-hex.CUID-hex." (Dovecot's rule: pop3-login builds its banner
	// from the SPID and CUID of its auth connection). Without either, APOP
	// fails.
	APOPChallenge string
	ServerPID     int
	ConnectUID    uint32
}

// RequestFrom converts an auth-client AUTH request.
//
//	func RequestFrom(r *authproto.Request) *Request  (in mech.go)

// Result is who authenticated, with the passdb's extra fields.
type Result struct {
	User    string
	Fields  authproto.Fields
	NoLogin bool
	Reason  string
}

// Mechanism describes one SASL mechanism in the registry.
type Mechanism struct {
	Name string
	// Flags as advertised in the auth-client MECH line.
	Flags authproto.Mech
	// Scheme is the credential kind the mechanism needs from the passdb
	// (Backend.Credentials' scheme): "" for mechanisms that verify a
	// plaintext password (PLAIN, LOGIN), or use a token or certificate;
	// "PLAIN" for APOP; "CRAM-MD5"; "SCRAM-SHA-1"; "SCRAM-SHA-256".
	Scheme string
	// ChannelBinding: a -PLUS mechanism; offer it only over TLS with
	// channel-binding data.
	ChannelBinding bool
	// Token: needs a configured token validator (OAUTHBEARER, XOAUTH2).
	Token bool
	// Cert: needs a verified client certificate (EXTERNAL).
	Cert bool
	// APOP: needs the POP3 timestamp challenge.
	APOP bool
	// New starts one exchange. ctx bounds the Backend calls made while the
	// exchange runs.
	New func(ctx context.Context, b Backend, r *Request) *Session
}

// Session is one running exchange. It implements go-sasl's Server.
// Result is non-nil once Next returned done without error. When Next
// returns done with a non-empty challenge, that is the mechanism's success
// data (SCRAM's server-final message): the auth server sends it in the OK
// reply's resp= field, as Dovecot does.
//
//	func (s *Session) Next(response []byte) (challenge []byte, done bool, err error)
//	func (s *Session) Result() *Result
//	func Registry() map[string]*Mechanism // a fresh copy, keyed by upper-case name
//	func Lookup(name string) *Mechanism   // case-insensitive; nil when unknown
//	func Names() []string                 // sorted
var _ gosasl.Server = (*Session)(nil)
