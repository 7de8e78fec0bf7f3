package e2e

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// TestTLS checks both ways into TLS with the certificate mkcert.sh made,
// verified as a root CA with ServerName localhost: implicit TLS on imaps
// and STARTTLS on imap, at TLS 1.2 and 1.3.
func TestTLS(t *testing.T) {
	s := start(t, testkit.Options{})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := s.Cert.ClientConfig("localhost")
		cfg.MinVersion, cfg.MaxVersion = version, version
		name := tls.VersionName(version)

		t.Run("imaps/"+name, func(t *testing.T) {
			c := dialTLS(t, s.Addr("imap-login", "imaps"), cfg)
			if g := c.line(); !strings.HasPrefix(g, "* OK") {
				t.Fatalf("greeting %q", g)
			}
			if v := c.conn.(*tls.Conn).ConnectionState().Version; v != version {
				t.Errorf("negotiated %s", tls.VersionName(v))
			}
			untagged, tagged := c.cmd("a1", "CAPABILITY")
			if !strings.HasPrefix(tagged, "a1 OK") {
				t.Errorf("CAPABILITY: %q", tagged)
			}
			if caps := strings.Join(untagged, " "); strings.Contains(caps, "STARTTLS") {
				t.Errorf("STARTTLS offered on a TLS connection: %q", caps)
			}
		})

		t.Run("starttls/"+name, func(t *testing.T) {
			c := dial(t, s.Addr("imap-login", "imap"))
			if g := c.line(); !strings.HasPrefix(g, "* OK") {
				t.Fatalf("greeting %q", g)
			}
			untagged, _ := c.cmd("a1", "CAPABILITY")
			if caps := strings.Join(untagged, " "); !strings.Contains(caps, "STARTTLS") {
				t.Fatalf("no STARTTLS in %q", caps)
			}
			if _, tagged := c.cmd("a2", "STARTTLS"); !strings.HasPrefix(tagged, "a2 OK") {
				t.Fatalf("STARTTLS: %q", tagged)
			}
			tc, err := handshake(c.conn, cfg)
			if err != nil {
				t.Fatalf("handshake after STARTTLS: %v", err)
			}
			c.conn = tc
			c.br.Reset(tc)
			untagged, tagged := c.cmd("a3", "CAPABILITY")
			if !strings.HasPrefix(tagged, "a3 OK") {
				t.Errorf("CAPABILITY over TLS: %q", tagged)
			}
			if caps := strings.Join(untagged, " "); strings.Contains(caps, "STARTTLS") {
				t.Errorf("STARTTLS still offered after STARTTLS: %q", caps)
			}
			if _, tagged := c.cmd("a4", "LOGOUT"); !strings.HasPrefix(tagged, "a4 OK") {
				t.Errorf("LOGOUT: %q", tagged)
			}
		})
	}
}

// TestOldTLSRefused: at the default ssl_min_protocol (TLSv1.2) a client
// that speaks at most TLS 1.0 or 1.1 gets no session, on either port.
func TestOldTLSRefused(t *testing.T) {
	s := start(t, testkit.Options{})
	for _, version := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := s.Cert.ClientConfig("localhost")
		cfg.MinVersion, cfg.MaxVersion = version, version
		t.Run("imaps/"+tls.VersionName(version), func(t *testing.T) {
			c := dial(t, s.Addr("imap-login", "imaps"))
			if tc, err := handshake(c.conn, cfg); err == nil {
				t.Fatalf("handshake succeeded at %s", tls.VersionName(tc.ConnectionState().Version))
			}
		})
		t.Run("starttls/"+tls.VersionName(version), func(t *testing.T) {
			c := dial(t, s.Addr("imap-login", "imap"))
			c.line()
			if _, tagged := c.cmd("a1", "STARTTLS"); !strings.HasPrefix(tagged, "a1 OK") {
				t.Fatalf("STARTTLS: %q", tagged)
			}
			if tc, err := handshake(c.conn, cfg); err == nil {
				t.Fatalf("handshake succeeded at %s", tls.VersionName(tc.ConnectionState().Version))
			}
		})
	}
}
