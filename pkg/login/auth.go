package login

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
)

// AuthClientSocket is the auth service's socket for login processes,
// relative to base_dir: it lies inside the login chroot directory, which
// only login processes can traverse (ARCHITECTURE.md, contract 2).
const AuthClientSocket = "login/auth-client"

// authDialTimeout bounds one connection attempt to the auth socket. It is
// a local unix socket: a refused or missing socket fails at once, and a
// listening auth service answers its handshake in milliseconds, so a
// longer wait only holds up the client who is logging in.
const authDialTimeout = 5 * time.Second

// ErrAuthUnavailable: the auth service cannot be reached (not running,
// restarting, or the connection broke during an exchange).
var ErrAuthUnavailable = errors.New("login: authentication service is not available")

// ChrootPath returns path as this process sees it: relative to the root
// of chroot when the master chrooted the process (the restriction record
// applied, chroot set), else path itself. path is absolute.
func ChrootPath(chroot, path string) string {
	if chroot == "" || os.Getenv(ipc.EnvNoPrivsep) == "1" {
		return path
	}
	rel, err := filepath.Rel(chroot, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return path
	}
	return "/" + rel
}

// AuthSocketPath returns the auth-client socket path for a login service
// of cfg whose chroot is chroot, as the process sees it.
func AuthSocketPath(cfg *settings.Config, chroot string) string {
	return ChrootPath(chroot, filepath.Join(cfg.Root.Get("base_dir"), AuthClientSocket))
}

// Auth is a login process's connection to the auth service. It dials
// lazily and again after the connection broke (the auth service was
// restarted), so requests fail with ErrAuthUnavailable only while the
// service is really down. It is safe for concurrent use.
type Auth struct {
	path string
	pid  int
	log  *zap.Logger

	mu     sync.Mutex // guards client and mechs; held across a dial so sessions wait for one dial
	client *authproto.Client
	mechs  []authproto.Mech // the mechanisms of the last successful handshake
	closed bool
}

// NewAuth returns an Auth for the socket at path; pid is this process's
// pid (CPID), log receives connection events.
func NewAuth(path string, log *zap.Logger) *Auth {
	if log == nil {
		log = zap.NewNop()
	}
	return &Auth{path: path, pid: os.Getpid(), log: log}
}

// conn returns a working client, dialling when there is none or the last
// one broke.
func (a *Auth) conn(ctx context.Context) (*authproto.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrAuthUnavailable
	}
	if a.client != nil {
		if a.client.Err() == nil {
			return a.client, nil
		}
		a.log.Info("auth connection lost, reconnecting", zap.Error(a.client.Err()))
		a.client.Close()
		a.client = nil
	}
	dctx, cancel := context.WithTimeout(ctx, authDialTimeout)
	defer cancel()
	c, err := authproto.DialClient(dctx, a.path, a.pid)
	if err != nil {
		a.log.Warn("auth service unavailable", zap.String("socket", a.path), zap.Error(err))
		return nil, fmt.Errorf("%w: %v", ErrAuthUnavailable, err)
	}
	a.client = c
	a.mechs = c.Mechanisms()
	return c, nil
}

// Mechanisms returns the auth service's mechanisms, connecting if needed.
// While the service is down it returns those of the last handshake, and
// ok = false when there never was one.
func (a *Auth) Mechanisms(ctx context.Context) (mechs []authproto.Mech, ok bool) {
	if _, err := a.conn(ctx); err == nil {
		ok = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mechs, ok || a.mechs != nil
}

// Start sends an AUTH request. An error is ErrAuthUnavailable or a
// request the protocol cannot carry (authproto.ErrTooLarge).
func (a *Auth) Start(ctx context.Context, r authproto.Request) (*authproto.Exchange, error) {
	for attempt := 0; attempt < 2; attempt++ {
		c, err := a.conn(ctx)
		if err != nil {
			return nil, err
		}
		e, err := c.Start(ctx, r)
		if err == nil {
			return e, nil
		}
		if errors.Is(err, authproto.ErrTooLarge) || errors.Is(err, authproto.ErrLineTooLong) {
			return nil, err
		}
		// The connection broke since the last request (the auth
		// service restarted): one new connection is worth a try.
	}
	return nil, ErrAuthUnavailable
}

// Close closes the connection; later requests fail.
func (a *Auth) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.client != nil {
		a.client.Close()
		a.client = nil
	}
}

// AuthRequest returns the AUTH fields that describe this client: service,
// mechanism, secured, addresses and the TLS server name (local_name).
func (c *Client) AuthRequest(service, mech string) authproto.Request {
	r := authproto.Request{
		Mech:    mech,
		Service: service,
		Secured: c.Secured(),
		Local:   c.Local,
		Remote:  c.Remote,
	}
	if st, ok := c.TLSState(); ok {
		r.LocalName = st.ServerName
	}
	return r
}

// TLSState returns the TLS connection state once TLS is up.
func (c *Client) TLSState() (tls.ConnectionState, bool) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// Channel-binding types (RFC 5929 §4, RFC 9266).
const (
	CBindTLSExporter       = "tls-exporter"
	CBindTLSServerEndPoint = "tls-server-end-point"
)

// exporterLabel and exporterLength are RFC 9266 §2's.
const (
	exporterLabel  = "EXPORTER-Channel-Binding"
	exporterLength = 32
)

// ChannelBinding returns the channel-binding data of the client's TLS
// connection for typ: tls-exporter (RFC 9266: keying material; TLS 1.3,
// or 1.2 with extended master secret) or tls-server-end-point (RFC 5929
// §4.1: a hash of the certificate this server presented).
func (c *Client) ChannelBinding(typ string) ([]byte, error) {
	st, ok := c.TLSState()
	if !ok {
		return nil, errors.New("login: channel binding needs TLS")
	}
	switch typ {
	case CBindTLSExporter:
		return st.ExportKeyingMaterial(exporterLabel, nil, exporterLength)
	case CBindTLSServerEndPoint:
		cert, err := c.servedCertificate(st)
		if err != nil {
			return nil, err
		}
		return serverEndPoint(cert), nil
	}
	return nil, fmt.Errorf("login: unknown channel-binding type %q", typ)
}

// servedCertificate finds the certificate the handshake presented: the
// configuration picks it by SNI name alone (pkg/tlsconf), so asking it
// again with the same name gives the same certificate.
func (c *Client) servedCertificate(st tls.ConnectionState) (*x509.Certificate, error) {
	cfg := c.srv.cfg.TLS
	var tc *tls.Certificate
	if cfg.GetCertificate != nil {
		got, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: st.ServerName})
		if err != nil {
			return nil, err
		}
		tc = got
	} else if len(cfg.Certificates) > 0 {
		tc = &cfg.Certificates[0]
	}
	if tc == nil || len(tc.Certificate) == 0 {
		return nil, errors.New("login: no server certificate")
	}
	if tc.Leaf != nil {
		return tc.Leaf, nil
	}
	return x509.ParseCertificate(tc.Certificate[0])
}

// serverEndPoint hashes the certificate as RFC 5929 §4.1 says: with the
// hash of its signature algorithm, SHA-256 in place of MD5 or SHA-1, and
// SHA-256 where the algorithm names no hash (Ed25519; RFC 5929 predates
// it and implementations settled on SHA-256).
func serverEndPoint(cert *x509.Certificate) []byte {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}

// BindChannel fills req's channel-binding fields for a -PLUS mechanism
// from the client's first SCRAM message (first): the binding type is the
// client's choice, named in its GS2 header (RFC 5802 §7), and the data of
// that type travels to auth in the cote_cbind fields. A type this
// connection cannot provide is logged and left out, so auth refuses the
// exchange rather than the login process guessing.
func (c *Client) BindChannel(req *authproto.Request, first []byte, log *zap.Logger) {
	typ, ok := GS2BindingType(first)
	if !ok {
		return
	}
	cb, err := c.ChannelBinding(typ)
	if err != nil {
		log.Info("channel binding unavailable", zap.String("cbind_type", typ), zap.Error(err))
		return
	}
	req.CBindType, req.CBind = typ, cb
}

// GS2BindingType returns the channel-binding type a SCRAM client-first
// message asks for ("p=tls-exporter,..."), RFC 5802 §7 gs2-cbind-flag.
func GS2BindingType(first []byte) (string, bool) {
	s := string(first)
	if !strings.HasPrefix(s, "p=") {
		return "", false
	}
	typ, _, ok := strings.Cut(s[2:], ",")
	if !ok || typ == "" {
		return "", false
	}
	return typ, true
}
