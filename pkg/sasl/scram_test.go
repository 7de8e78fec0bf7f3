package sasl

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/xdg-go/scram"
)

// scramClient wraps an xdg-go/scram client conversation for drive.
func scramClient(t *testing.T, mech, user, password, authzid string, cb *scram.ChannelBinding) ([]byte, func([]byte) ([]byte, error), *scram.ClientConversation) {
	t.Helper()
	h := scram.SHA256
	if strings.HasPrefix(mech, "SCRAM-SHA-1") {
		h = scram.SHA1
	}
	c, err := h.NewClient(user, password, authzid)
	if err != nil {
		t.Fatal(err)
	}
	var conv *scram.ClientConversation
	if cb != nil {
		conv = c.NewConversationWithChannelBinding(*cb)
	} else {
		conv = c.NewConversation()
	}
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(first), func(ch []byte) ([]byte, error) {
		out, err := conv.Step(string(ch))
		return []byte(out), err
	}, conv
}

func TestSCRAM(t *testing.T) {
	b := newBackend()
	for _, s := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
		h, err := passwd.Hash(s, "stored", "kept secret", passwd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b.users["stored-"+s] = h
	}
	b.users["crypt"], _ = passwd.Hash("SHA512-CRYPT", "crypt", "x", passwd.Options{})
	for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
		tests := []struct {
			name, user, password, authzid string
			err                           error
		}{
			{"from plaintext", "bob", "secret", "", nil},
			{"from stored keys", "stored-" + mech, "kept secret", "", nil},
			{"utf8", "alice@x.org", "pässword with spaces", "", nil},
			{"same authzid", "bob", "secret", "bob", nil},
			{"other authzid", "bob", "secret", "admin", ErrAuthzid},
			{"wrong password", "bob", "wrong", "", ErrAuthFailed},
			{"unknown user", "eve", "secret", "", ErrAuthFailed},
			{"no usable credentials", "crypt", "x", "", ErrUnsupported},
		}
		for _, tt := range tests {
			t.Run(mech+"/"+tt.name, func(t *testing.T) {
				first, next, conv := scramClient(t, mech, tt.user, tt.password, tt.authzid, nil)
				res, final, err := drive(start(t, mech, b, nil), first, next)
				wantOutcome(t, res, err, tt.user, tt.err)
				if err == nil {
					// The client checks the server signature (mutual auth).
					if _, err := conv.Step(string(final)); err != nil || !conv.Valid() {
						t.Fatalf("client refused the server-final message %q: %v", final, err)
					}
				}
			})
		}
	}
	t.Run("unknown user looks like a known one", func(t *testing.T) {
		// The server-first message for an unknown user has the same
		// shape, and the same salt on every attempt.
		var salts []string
		for i := 0; i < 2; i++ {
			first, _, _ := scramClient(t, "SCRAM-SHA-256", "eve", "x", "", nil)
			ch, done, err := start(t, "SCRAM-SHA-256", b, nil).Next(first)
			if err != nil || done || !strings.Contains(string(ch), ",i=4096") {
				t.Fatalf("server-first for unknown user: %q %v %v", ch, done, err)
			}
			salts = append(salts, strings.Split(string(ch), ",")[1])
		}
		if salts[0] != salts[1] {
			t.Fatalf("dummy salt changes: %v", salts)
		}
	})
	t.Run("prompted", func(t *testing.T) {
		first, next, _ := scramClient(t, "SCRAM-SHA-256", "bob", "secret", "", nil)
		res, _, err := drive(start(t, "SCRAM-SHA-256", b, nil), nil, func(ch []byte) ([]byte, error) {
			if len(ch) == 0 {
				return first, nil
			}
			return next(ch)
		})
		wantOutcome(t, res, err, "bob", nil)
	})
	t.Run("garbage client-first", func(t *testing.T) {
		_, _, err := drive(start(t, "SCRAM-SHA-256", b, nil), []byte("x,y,z"), fixed())
		wantOutcome(t, nil, err, "", ErrMalformed)
	})
	t.Run("backend error", func(t *testing.T) {
		tb := newBackend()
		tb.tempFail = true
		first, next, _ := scramClient(t, "SCRAM-SHA-256", "bob", "secret", "", nil)
		_, _, err := drive(start(t, "SCRAM-SHA-256", tb, nil), first, next)
		wantOutcome(t, nil, err, "", ErrTempFail)
	})
}

// tlsPair returns the client and server connection states of one real TLS
// 1.3 handshake over a socket pair.
func tlsPair(t *testing.T) (client, server tls.ConnectionState) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.example.org"},
		DNSNames: []string{"mail.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	srv := tls.Server(c1, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	cli := tls.Client(c2, &tls.Config{ServerName: "mail.example.org", RootCAs: pool})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return cli.ConnectionState(), srv.ConnectionState()
}

// serverBinding computes the binding as the login process does from its
// (server-side) TLS state: RFC 9266 tls-exporter, RFC 5929 §4
// tls-server-end-point (SHA-256 of the certificate for ECDSA-SHA256).
func serverBinding(t *testing.T, typ string, st tls.ConnectionState, cert []byte) []byte {
	t.Helper()
	switch typ {
	case "tls-exporter":
		b, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			t.Fatal(err)
		}
		return b
	default:
		cb, err := scram.NewTLSServerEndpointBinding(&tls.ConnectionState{PeerCertificates: mustParse(t, cert)})
		if err != nil {
			t.Fatal(err)
		}
		return cb.Data
	}
}

func mustParse(t *testing.T, der []byte) []*x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c}
}

func TestSCRAMPlus(t *testing.T) {
	clientState, serverState := tlsPair(t)
	otherClient, otherServer := tlsPair(t)
	certDER := clientState.PeerCertificates[0].Raw
	exporter, err := scram.NewTLSExporterBinding(&clientState)
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := scram.NewTLSServerEndpointBinding(&clientState)
	if err != nil {
		t.Fatal(err)
	}
	otherEndpoint := serverBinding(t, "tls-server-end-point", otherServer, otherClient.PeerCertificates[0].Raw)
	b := newBackend()
	for _, mech := range []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"} {
		tests := []struct {
			name     string
			client   *scram.ChannelBinding
			req      *Request
			password string
			err      error
		}{
			{"tls-exporter", &exporter, &Request{CBindType: "tls-exporter", CBind: serverBinding(t, "tls-exporter", serverState, nil)}, "secret", nil},
			{"tls-server-end-point", &endpoint, &Request{CBindType: "tls-server-end-point", CBind: serverBinding(t, "tls-server-end-point", serverState, certDER)}, "secret", nil},
			{"wrong password", &exporter, &Request{CBindType: "tls-exporter", CBind: serverBinding(t, "tls-exporter", serverState, nil)}, "nope", ErrAuthFailed},
			{"binding of another connection", &exporter, &Request{CBindType: "tls-exporter", CBind: serverBinding(t, "tls-exporter", otherServer, nil)}, "secret", ErrChannelBinding},
			{"certificate of another server", &endpoint, &Request{CBindType: "tls-server-end-point", CBind: otherEndpoint}, "secret", ErrChannelBinding},
			{"type mismatch", &endpoint, &Request{CBindType: "tls-exporter", CBind: serverBinding(t, "tls-exporter", serverState, nil)}, "secret", ErrChannelBinding},
			{"client without binding", nil, &Request{CBindType: "tls-exporter", CBind: serverBinding(t, "tls-exporter", serverState, nil)}, "secret", ErrChannelBinding},
			{"no binding data at the server", &exporter, &Request{}, "secret", ErrChannelBinding},
		}
		for _, tt := range tests {
			t.Run(mech+"/"+tt.name, func(t *testing.T) {
				first, next, _ := scramClient(t, mech, "bob", tt.password, "", tt.client)
				res, _, err := drive(start(t, mech, b, tt.req), first, next)
				wantOutcome(t, res, err, "bob", tt.err)
			})
		}
	}
	t.Run("binding refused on the non-PLUS mechanism", func(t *testing.T) {
		first, next, _ := scramClient(t, "SCRAM-SHA-256", "bob", "secret", "", &exporter)
		_, _, err := drive(start(t, "SCRAM-SHA-256", b, &Request{CBindType: "tls-exporter", CBind: []byte("x")}), first, next)
		if !errors.Is(err, ErrChannelBinding) {
			t.Fatalf("error = %v", err)
		}
	})
}
