package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/config"
	"github.com/cote-mail/cote/pkg/settings"
)

// handshake serves one TLS connection with cfg on a loopback socket and
// dials it with client. It returns the client's connection state or the
// client's handshake error; the server goroutine is always waited for.
func handshake(t *testing.T, cfg *tls.Config, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		tc := tls.Server(c, cfg)
		if tc.Handshake() == nil {
			// One byte proves the session works both ways.
			buf := make([]byte, 1)
			if _, err := tc.Read(buf); err == nil {
				tc.Write(buf)
			}
		}
	}()
	defer func() { <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tc := tls.Client(c, client)
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := tc.Write([]byte("x")); err != nil {
		return tls.ConnectionState{}, err
	}
	buf := make([]byte, 1)
	if _, err := tc.Read(buf); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}

func pool(t *testing.T, pems ...string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	for _, c := range pems {
		if !p.AppendCertsFromPEM([]byte(c)) {
			t.Fatal("bad PEM")
		}
	}
	return p
}

func baseSettings(p pemPair) Settings {
	return Settings{
		SSL:         "yes",
		Cert:        p.cert,
		Key:         p.key,
		CertPos:     "conf.d/10-ssl.conf:6",
		KeyPos:      "conf.d/10-ssl.conf:7",
		MinProtocol: "TLSv1.2",
		CipherList:  dovecotDefault,
	}
}

func TestHandshake(t *testing.T) {
	def := testCert(t, "mail.test")
	tests := []struct {
		name        string
		minProtocol string
		clientMin   uint16
		clientMax   uint16
		wantVersion uint16 // 0: the handshake must fail
	}{
		{"tls1.3 at default", "TLSv1.2", tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS13},
		{"tls1.2 at default", "TLSv1.2", tls.VersionTLS12, tls.VersionTLS12, tls.VersionTLS12},
		{"tls1.1 refused at default", "TLSv1.2", tls.VersionTLS10, tls.VersionTLS11, 0},
		{"tls1.0 refused at default", "TLSv1.2", tls.VersionTLS10, tls.VersionTLS10, 0},
		{"tls1.0 allowed with TLSv1", "TLSv1", tls.VersionTLS10, tls.VersionTLS10, tls.VersionTLS10},
		{"tls1.1 allowed with TLSv1", "TLSv1", tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS11},
		{"tls1.0 allowed with ANY", "ANY", tls.VersionTLS10, tls.VersionTLS10, tls.VersionTLS10},
		{"tls1.2 refused with TLSv1.3", "TLSv1.3", tls.VersionTLS12, tls.VersionTLS12, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSettings(def)
			s.MinProtocol = tc.minProtocol
			cfg, _, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			st, err := handshake(t, cfg, &tls.Config{
				RootCAs: pool(t, def.cert), ServerName: "localhost",
				MinVersion: tc.clientMin, MaxVersion: tc.clientMax,
			})
			if tc.wantVersion == 0 {
				if err == nil {
					t.Fatalf("handshake succeeded with %s, want a refusal", tls.VersionName(st.Version))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tc.wantVersion {
				t.Errorf("negotiated %s, want %s", tls.VersionName(st.Version), tls.VersionName(tc.wantVersion))
			}
			if st.Version < tls.VersionTLS13 && !slices.Contains(cfg.CipherSuites, st.CipherSuite) {
				t.Errorf("negotiated %s, not in the configured suites", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
}

func TestHandshakeSNI(t *testing.T) {
	def := testCert(t, "mail.test")
	other := testCert(t, "other.example")
	s := baseSettings(def)
	s.SNI = []SNICert{{Names: []string{"other.example", "*.wild.example"}, Cert: other.cert, Key: other.key, Pos: "cote.conf:20"}}
	cfg, _, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		serverName string
		wantCN     string
	}{
		{"other.example", "other.example"},
		{"OTHER.example", "other.example"},
		{"a.wild.example", "other.example"},
		{"wild.example", "mail.test"},
		{"a.b.wild.example", "mail.test"},
		{"localhost", "mail.test"},
	}
	for _, tc := range tests {
		t.Run(tc.serverName, func(t *testing.T) {
			st, err := handshake(t, cfg, &tls.Config{
				RootCAs: pool(t, def.cert, other.cert), ServerName: tc.serverName,
				// The names under test are not all in the certificates:
				// the test reads which certificate was served.
				InsecureSkipVerify: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := st.PeerCertificates[0].Subject.CommonName; got != tc.wantCN {
				t.Errorf("served %q, want %q", got, tc.wantCN)
			}
		})
	}
}

// encryptKey re-encodes a key with openssl, as an admin would.
func encryptKey(t *testing.T, key string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pem")
	out := filepath.Join(dir, "out.pem")
	if err := os.WriteFile(in, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(needOpenSSL(t), append(args, "-in", in, "-out", out, "-passout", "pass:s3cret")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEncryptedKeys(t *testing.T) {
	def := testCert(t, "mail.test")
	pkcs8Key := encryptKey(t, def.key, "pkcs8", "-topk8", "-v2", "aes-256-cbc")
	legacyKey := encryptKey(t, def.key, "rsa", "-aes256", "-traditional")
	if !strings.Contains(legacyKey, "Proc-Type: 4,ENCRYPTED") || !strings.Contains(pkcs8Key, "ENCRYPTED PRIVATE KEY") {
		t.Fatal("openssl did not write the expected encodings")
	}
	tests := []struct {
		name     string
		key      string
		password string
		wantErr  string
		wantWarn string
	}{
		{name: "pkcs8 with password", key: pkcs8Key, password: "s3cret"},
		{name: "legacy pem with password", key: legacyKey, password: "s3cret"},
		{name: "pkcs8 without password", key: pkcs8Key, wantErr: "conf.d/10-ssl.conf:7: ssl_key: encrypted key needs ssl_key_password"},
		{name: "legacy without password", key: legacyKey, wantErr: "ssl_key: encrypted key needs ssl_key_password"},
		{name: "pkcs8 wrong password", key: pkcs8Key, password: "nope", wantErr: "ssl_key: cannot decrypt with ssl_key_password"},
		{name: "legacy wrong password", key: legacyKey, password: "nope", wantErr: "ssl_key: cannot decrypt with ssl_key_password"},
		{name: "password for a plain key", key: def.key, password: "s3cret", wantWarn: "ssl_key_password is set but ssl_key is not encrypted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSettings(def)
			s.Key = tc.key
			s.KeyPassword = tc.password
			cfg, warns, err := New(s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantWarn != "" && !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, tc.wantWarn) }) {
				t.Errorf("warnings %q lack %q", warns, tc.wantWarn)
			}
			if _, err := handshake(t, cfg, &tls.Config{RootCAs: pool(t, def.cert), ServerName: "localhost"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	def := testCert(t, "mail.test")
	other := testCert(t, "other.example")
	tests := []struct {
		name    string
		edit    func(*Settings)
		wantErr string
	}{
		{"no certificate in ssl_cert", func(s *Settings) { s.Cert = "not a pem" }, "conf.d/10-ssl.conf:6: ssl_cert: no PEM certificate found"},
		{"ssl_cert unset", func(s *Settings) { s.Cert = "" }, "ssl_cert: not set"},
		{"ssl_key unset", func(s *Settings) { s.Key = "" }, "ssl_key: not set"},
		{"no key in ssl_key", func(s *Settings) { s.Key = def.cert }, "ssl_key: no PEM private key found"},
		{"key of another cert", func(s *Settings) { s.Key = other.key }, "conf.d/10-ssl.conf:7: ssl_key: does not match ssl_cert"},
		{"unknown min protocol", func(s *Settings) { s.MinProtocol = "TLSv2" }, `ssl_min_protocol: unknown value "TLSv2"`},
		{"unknown ssl value", func(s *Settings) { s.SSL = "maybe" }, `ssl: unknown value "maybe"`},
		{"unknown cipher", func(s *Settings) { s.CipherList = "ALL:FOO" }, `ssl_cipher_list: unknown cipher name "FOO"`},
		{"sni key mismatch", func(s *Settings) {
			s.SNI = []SNICert{{Names: []string{"other.example"}, Cert: other.cert, Key: def.key, Pos: "cote.conf:20"}}
		}, "cote.conf:20: local_name other.example: ssl_key: does not match local_name other.example: ssl_cert"},
		{"sni name twice", func(s *Settings) {
			s.SNI = []SNICert{{Names: []string{"a.example", "A.example"}, Cert: other.cert, Key: other.key, Pos: "cote.conf:20"}}
		}, "local_name A.example: already given at cote.conf:20"},
		{"sni bad wildcard", func(s *Settings) {
			s.SNI = []SNICert{{Names: []string{"a.*.example"}, Cert: other.cert, Key: other.key, Pos: "cote.conf:20"}}
		}, `a wildcard must be "*." before a domain`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSettings(def)
			tc.edit(&s)
			cfg, _, err := New(s)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v (config %v), want %q", err, cfg != nil, tc.wantErr)
			}
		})
	}
}

func TestNewWarningsAndOff(t *testing.T) {
	def := testCert(t, "mail.test")
	cfg, warns, err := New(Settings{SSL: "no"})
	if cfg != nil || warns != nil || err != nil {
		t.Fatalf("ssl = no: got %v %q %v, want nothing", cfg, warns, err)
	}

	s := baseSettings(def)
	_, warns, err = New(s)
	if err != nil || len(warns) != 0 {
		t.Fatalf("default settings: warnings %q, error %v; want none", warns, err)
	}

	s.CipherList = "HIGH:!aNULL@STRENGTH"
	s.MinProtocol = "SSLv3"
	cfg, warns, err = New(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"@STRENGTH has no effect", "ssl_min_protocol: Go's crypto/tls has no SSLv3"} {
		if !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("warnings %q lack %q", warns, want)
		}
	}
	if cfg.MinVersion != tls.VersionTLS10 {
		t.Errorf("SSLv3 gave MinVersion %s, want TLS 1.0", tls.VersionName(cfg.MinVersion))
	}
}

func TestFromSection(t *testing.T) {
	val := func(raw string, line int) settings.Value {
		return settings.Value{Raw: raw, Pos: config.Pos{File: "cote.conf", Line: line}}
	}
	root := &settings.Section{Values: map[string]settings.Value{
		"ssl":                       val("required", 1),
		"ssl_cert":                  val("CERT", 2),
		"ssl_key":                   val("KEY", 3),
		"ssl_key_password":          val("pw", 4),
		"ssl_min_protocol":          val("TLSv1.1", 5),
		"ssl_prefer_server_ciphers": val("yes", 6),
	}}
	withCert := &settings.Section{Kind: "local_name", Name: "a.example *.b.example", Pos: config.Pos{File: "cote.conf", Line: 10},
		Values: map[string]settings.Value{"ssl_cert": val("CERT2", 11)}}
	withKey := &settings.Section{Kind: "local_name", Name: "c.example", Pos: config.Pos{File: "cote.conf", Line: 20},
		Values: map[string]settings.Value{"ssl_cert": val("CERT3", 21), "ssl_key": val("KEY3", 22), "ssl_key_password": val("pw3", 23)}}
	noCert := &settings.Section{Kind: "local_name", Name: "d.example", Pos: config.Pos{File: "cote.conf", Line: 30}}

	got := FromSection(root, []*settings.Section{withCert, withKey, noCert})
	want := Settings{
		SSL: "required", Cert: "CERT", Key: "KEY", CertPos: "cote.conf:2", KeyPos: "cote.conf:3",
		KeyPassword: "pw", MinProtocol: "TLSv1.1", CipherList: settings.Default("", "ssl_cipher_list"),
		SNI: []SNICert{
			{Names: []string{"a.example", "*.b.example"}, Cert: "CERT2", Key: "KEY", KeyPassword: "pw", Pos: "cote.conf:10"},
			{Names: []string{"c.example"}, Cert: "CERT3", Key: "KEY3", KeyPassword: "pw3", Pos: "cote.conf:20"},
		},
	}
	if !equalSettings(got, want) {
		t.Errorf("FromSection\n got %+v\nwant %+v", got, want)
	}
}

func equalSettings(a, b Settings) bool {
	if len(a.SNI) != len(b.SNI) {
		return false
	}
	for i := range a.SNI {
		x, y := a.SNI[i], b.SNI[i]
		if !slices.Equal(x.Names, y.Names) || x.Cert != y.Cert || x.Key != y.Key || x.KeyPassword != y.KeyPassword || x.Pos != y.Pos {
			return false
		}
	}
	return a.SSL == b.SSL && a.Cert == b.Cert && a.Key == b.Key && a.CertPos == b.CertPos && a.KeyPos == b.KeyPos &&
		a.KeyPassword == b.KeyPassword && a.MinProtocol == b.MinProtocol && a.CipherList == b.CipherList
}
