package imaplogin

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/login"
)

// lineConn is a minimal IMAP client for exact exchanges.
type lineConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func newLineConn(t *testing.T, c net.Conn) *lineConn {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	lc := &lineConn{t: t, c: c, br: bufio.NewReader(c)}
	if g := lc.read(); !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("greeting %q", g)
	}
	return lc
}

func (lc *lineConn) read() string {
	lc.t.Helper()
	l, err := lc.br.ReadString('\n')
	if err != nil {
		lc.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func (lc *lineConn) send(s string) {
	lc.t.Helper()
	if _, err := lc.c.Write([]byte(s + "\r\n")); err != nil {
		lc.t.Fatal(err)
	}
}

// expect sends cmd and checks the reply lines.
func (lc *lineConn) expect(cmd string, want ...string) {
	lc.t.Helper()
	lc.send(cmd)
	for _, w := range want {
		if got := lc.read(); got != w {
			lc.t.Fatalf("%s:\n got %q\nwant %q", cmd, got, w)
		}
	}
}

const (
	okLine   = "NO [UNAVAILABLE] Internal error occurred. Refer to server log for more information."
	failLine = "NO [AUTHENTICATIONFAILED] Authentication failed."
	downLine = "NO [UNAVAILABLE] Authentication service is not available"
)

// TestAuthRequestFields: what imap-login tells the auth service about the
// client.
func TestAuthRequestFields(t *testing.T) {
	ts := start(t, "", Options{})
	tests := []struct {
		name        string
		conn        func() net.Conn
		secured     bool
		localName   string
		remoteIP    string
		wantMech    string
		wantInitial string
	}{
		{"plaintext from the server's IP", func() net.Conn { return dial(t, ts.imap) }, true, "", "127.0.0.1", "PLAIN", "\x00demo\x00secret"},
		{"imaps with SNI", func() net.Conn {
			return tls.Client(dial(t, ts.imaps), &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.org"})
		}, true, "mail.example.org", "127.0.0.1", "PLAIN", "\x00demo\x00secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := newLineConn(t, tc.conn())
			lc.expect("a LOGIN demo secret", "a "+okLine)
			r := ts.auth.Last()
			if r.Mech != tc.wantMech || r.Service != "imap" || r.Secured != tc.secured || r.LocalName != tc.localName {
				t.Errorf("request %+v", r)
			}
			if string(r.InitialResponse) != tc.wantInitial {
				t.Errorf("initial response %q", r.InitialResponse)
			}
			if r.Remote.Addr() != netip.MustParseAddr(tc.remoteIP) || r.Local.Addr() != netip.MustParseAddr("127.0.0.1") || r.Remote.Port() == 0 || r.Local.Port() == 0 {
				t.Errorf("addresses local %v remote %v", r.Local, r.Remote)
			}
		})
	}
	// Passwords never reach the log.
	ts.stop(t)
	for _, e := range ts.logs.All() {
		if strings.Contains(e.Message, "secret") {
			t.Errorf("log message carries the password: %q", e.Message)
		}
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "secret") {
				t.Errorf("log field %s carries the password: %q", k, s)
			}
		}
	}
	if n := ts.logs.FilterMessageSnippet("login failed: imap service unavailable").Len(); n != 2 {
		t.Errorf("%d success log lines, want 2", n)
	}
}

// TestChannelBinding: for SCRAM-*-PLUS the login process reads the
// client's first message, takes the binding type from its GS2 header and
// sends the binding data of its own end of the TLS connection, which must
// equal what the client computes from its end.
func TestChannelBinding(t *testing.T) {
	mechs := []authproto.Mech{{Name: "PLAIN", Plaintext: true}, {Name: "SCRAM-SHA-256"}, {Name: "SCRAM-SHA-256-PLUS"}}
	ts := startWith(t, "auth_mechanisms = plain scram-sha-256\n", Options{}, mechs)
	tests := []struct {
		name, typ string
		ir        bool
		want      func(st tls.ConnectionState) []byte
	}{
		{"tls-exporter with SASL-IR", "tls-exporter", true, func(st tls.ConnectionState) []byte {
			b, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"tls-server-end-point after a continuation", "tls-server-end-point", false, func(st tls.ConnectionState) []byte {
			h := sha256.Sum256(st.PeerCertificates[0].Raw) // an ECDSA-SHA256 certificate
			return h[:]
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc2 := tls.Client(dial(t, ts.imaps), insecureTLS)
			lc := newLineConn(t, tc2)
			lc.expect("c CAPABILITY", "* CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-256-PLUS",
				"c OK Pre-login capabilities listed, post-login capabilities have more.")
			first := "p=" + tc.typ + ",,n=demo,r=abcdefgh"
			b64 := base64.StdEncoding.EncodeToString([]byte(first))
			if tc.ir {
				lc.expect("a AUTHENTICATE SCRAM-SHA-256-PLUS "+b64, "a "+failLine)
			} else {
				lc.expect("a AUTHENTICATE SCRAM-SHA-256-PLUS", "+ ")
				lc.expect(b64, "a "+failLine)
			}
			r := ts.auth.Last()
			if r.Mech != "SCRAM-SHA-256-PLUS" || string(r.InitialResponse) != first || r.CBindType != tc.typ {
				t.Fatalf("request mech %q initial %q cbind type %q", r.Mech, r.InitialResponse, r.CBindType)
			}
			if want := tc.want(tc2.ConnectionState()); !bytes.Equal(r.CBind, want) {
				t.Errorf("cbind %x, want %x", r.CBind, want)
			}
		})
	}
	t.Run("no binding for non-PLUS", func(t *testing.T) {
		lc := newLineConn(t, tls.Client(dial(t, ts.imaps), insecureTLS))
		lc.expect("a AUTHENTICATE SCRAM-SHA-256 "+base64.StdEncoding.EncodeToString([]byte("n,,n=demo,r=abc")), "a "+failLine)
		if r := ts.auth.Last(); r.CBindType != "" || r.CBind != nil {
			t.Errorf("binding sent for a non-PLUS mechanism: %q %x", r.CBindType, r.CBind)
		}
	})
}

// TestAuthRestart: while the auth service is down logins fail with
// UNAVAILABLE; once it is back the login process reconnects by itself.
func TestAuthRestart(t *testing.T) {
	ts := start(t, "", Options{})
	lc := newLineConn(t, dial(t, ts.imap))
	lc.expect("a LOGIN demo secret", "a "+okLine)
	ts.auth.Stop()
	lc.expect("b LOGIN demo secret", "b "+downLine)
	lc.expect("c AUTHENTICATE PLAIN AGRlbW8Ac2VjcmV0", "c "+downLine)
	// The capability falls back on the last MECH list it saw.
	lc.expect("d CAPABILITY", "* CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN",
		"d OK Pre-login capabilities listed, post-login capabilities have more.")
	ts.auth.Listen(t)
	lc.expect("e LOGIN demo secret", "e "+okLine)
	lc.expect("f LOGIN demo wrong", "f "+failLine)
}

// TestAuthNeverReached: with no auth service at all, the capability lists
// the configured mechanisms and logins say UNAVAILABLE.
func TestAuthNeverReached(t *testing.T) {
	ts := start(t, "auth_mechanisms = plain cram-md5\n", Options{})
	ts.auth.Stop()
	c := dial(t, ts.imap)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	lc := &lineConn{t: t, c: c, br: bufio.NewReader(c)}
	if g := lc.read(); g != "* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN AUTH=CRAM-MD5] cote ready." {
		t.Errorf("greeting %q", g)
	}
	lc.expect("a LOGIN demo secret", "a "+downLine)
	lc.expect("b AUTHENTICATE CRAM-MD5", "b "+downLine)
}

// TestSuccessData: success data that comes with OK is sent as a last
// continuation, which the client must answer with an empty line.
func TestSuccessData(t *testing.T) {
	mechs := []authproto.Mech{{Name: "PLAIN", Plaintext: true}, {Name: "SCRAM-SHA-1"}}
	ts2 := startWith(t, "auth_mechanisms = plain scram-sha-1\n", Options{}, mechs)
	lc := newLineConn(t, dial(t, ts2.imap))
	ok := base64.StdEncoding.EncodeToString([]byte("ok"))
	final := "+ " + base64.StdEncoding.EncodeToString([]byte("v=final"))
	lc.expect("a AUTHENTICATE SCRAM-SHA-1 "+ok, final)
	lc.expect("", "a "+okLine)
	lc.expect("b AUTHENTICATE SCRAM-SHA-1 "+ok, final)
	lc.expect("*", "b BAD Authentication aborted by client.")
	lc.expect("c AUTHENTICATE SCRAM-SHA-1 "+ok, final)
	lc.expect(ok, "c BAD Unexpected response to the final challenge.")
}

func TestGS2BindingType(t *testing.T) {
	cases := []struct {
		name, in, want string
		ok             bool
	}{
		{"tls-exporter", "p=tls-exporter,,n=u,r=x", "tls-exporter", true},
		{"with authzid", "p=tls-server-end-point,a=u,n=u,r=x", "tls-server-end-point", true},
		{"no binding", "n,,n=u,r=x", "", false},
		{"binding supported but unused", "y,,n=u,r=x", "", false},
		{"empty type", "p=,,n=u", "", false},
		{"truncated", "p=tls-exporter", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := login.GS2BindingType([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Errorf("gs2BindingType(%q) = %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestCapabilityOverride: imap_capability adds to ("+...") or replaces
// the pre-login list as in Dovecot's imap-login; STARTTLS and AUTH= are
// still added for the connection.
func TestCapabilityOverride(t *testing.T) {
	cases := []struct{ name, setting, want string }{
		{"added", "imap_capability = +XFOO ID\n", "IMAP4rev1 SASL-IR ID LITERAL+ XFOO STARTTLS AUTH=PLAIN"},
		{"replaced", "imap_capability = IMAP4rev1 IDLE\n", "IMAP4rev1 IDLE STARTTLS AUTH=PLAIN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := start(t, c.setting, Options{})
			lc := newLineConn(t, dial(t, ts.imap))
			lc.expect("a CAPABILITY", "* CAPABILITY "+c.want,
				"a OK Pre-login capabilities listed, post-login capabilities have more.")
		})
	}
}
