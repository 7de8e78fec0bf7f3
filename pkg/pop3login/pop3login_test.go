package pop3login

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/login"
	"github.com/cote-mail/cote/pkg/service"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/testkit"
)

// testServer is one in-process pop3-login over real loopback sockets.
type testServer struct {
	pop3, pop3s string // listener addresses
	logs        *observer.ObservedLogs
	auth        *fakeAuth
	srv         *Server
	cancel      context.CancelFunc
	done        chan error
	stopOnce    sync.Once
}

// stop cancels the service and waits until every handler has returned.
func (ts *testServer) stop(t *testing.T) {
	ts.stopOnce.Do(func() {
		ts.cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after cancel: a handler leaked")
		}
	})
}

// writeCert writes a self-signed certificate for localhost into dir.
func writeCert(t testing.TB, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// testConf is the configuration of most tests: APOP and the plaintext
// mechanisms enabled.
const testConf = "auth_mechanisms = plain login apop\n"

// start loads a configuration made of the certificate lines and extra,
// and serves pop3-login on two loopback listeners (pop3, and pop3s with
// the ssl flag) until the test ends. mechs are the fake auth service's
// (nil: PLAIN, LOGIN, APOP).
func start(t *testing.T, extra string, opts Options, mechs []authproto.Mech) *testServer {
	t.Helper()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	conf := "protocols = pop3\nbase_dir = " + dir + "/run\n" +
		"ssl_cert = <" + cert + "\nssl_key = <" + key + "\n" + extra
	path := filepath.Join(dir, "cote.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.Load(path)
	if err != nil {
		t.Fatalf("settings.Load: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))

	fa := startFakeAuth(t, opts.AuthPath, mechs)
	opts.AuthPath = fa.Path
	if opts.Hostname == "" {
		opts.Hostname = "pop.example.org"
	}
	if opts.HandoffPath == "" {
		// Nobody listens there: a successful login fails its handoff.
		opts.HandoffPath = filepath.Join(dir, "no-pop3")
	}
	srv, err := New(cfg, log, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(srv.Close)
	var ls []*service.Listener
	ts := &testServer{logs: logs, auth: fa, srv: srv, done: make(chan error, 1)}
	for _, spec := range []ipc.ListenerSpec{{Name: "pop3"}, {Name: "pop3s", SSL: true}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &service.Listener{ListenerSpec: spec, Listener: l})
		if spec.SSL {
			ts.pop3s = l.Addr().String()
		} else {
			ts.pop3 = l.Addr().String()
		}
	}
	rt := service.New("pop3-login", cfg, log, ls)
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- rt.Serve(ctx, srv.Handle) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialFrom dials addr from local IP 127.0.0.2, which is not the server's
// IP: the connection is not "secured" by locality.
func dialFrom(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialTLS(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := tls.Client(dial(t, addr), insecureTLS)
	t.Cleanup(func() { c.Close() })
	return c
}

var insecureTLS = &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}

func TestTranscripts(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	tsPlain := start(t, "", Options{}, nil)
	tests := []struct {
		name string
		conn func(t *testing.T) net.Conn
	}{
		{"basic", func(t *testing.T) net.Conn { return dial(t, ts.pop3) }},
		{"stls", func(t *testing.T) net.Conn { return dial(t, ts.pop3) }},
		{"badcommands", func(t *testing.T) net.Conn { return dial(t, ts.pop3) }},
		{"auth", func(t *testing.T) net.Conn { return dial(t, ts.pop3) }},
		{"apop", func(t *testing.T) net.Conn { return dial(t, ts.pop3) }},
		{"noapop", func(t *testing.T) net.Conn { return dial(t, tsPlain.pop3) }},
		{"insecure", func(t *testing.T) net.Conn { return dialFrom(t, ts.pop3) }},
		{"pop3s", func(t *testing.T) net.Conn { return dialTLS(t, ts.pop3s) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testkit.RunTranscript(t, tc.conn(t), filepath.Join("testdata", tc.name+".tr"),
				testkit.TranscriptOptions{TLS: insecureTLS})
		})
	}
}

// lineConn reads CRLF lines with a deadline.
type lineConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func newLineConn(t *testing.T, c net.Conn) *lineConn {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &lineConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (lc *lineConn) send(s string) {
	lc.t.Helper()
	if _, err := lc.c.Write([]byte(s + "\r\n")); err != nil {
		lc.t.Fatal(err)
	}
}

func (lc *lineConn) read() string {
	lc.t.Helper()
	l, err := lc.br.ReadString('\n')
	if err != nil {
		lc.t.Fatalf("read: %v (partial %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		lc.t.Fatalf("line %q not CRLF-terminated", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// readAll reads lines until EOF (or an error).
func (lc *lineConn) readAll() ([]string, error) {
	var lines []string
	for {
		l, err := lc.br.ReadString('\n')
		if l != "" {
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		if err != nil {
			if err == io.EOF {
				return lines, nil
			}
			return lines, err
		}
	}
}

var timestampRE = regexp.MustCompile(`^\+OK cote ready\. (<[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]{16}@pop\.example\.org>)$`)

// apopDigest answers the greeting's timestamp for password pass.
func apopDigest(t *testing.T, greeting, pass string) (string, string) {
	t.Helper()
	m := timestampRE.FindStringSubmatch(greeting)
	if m == nil {
		t.Fatalf("greeting %q has no APOP timestamp", greeting)
	}
	sum := md5.Sum([]byte(m[1] + pass))
	return m[1], hex.EncodeToString(sum[:])
}

func TestAPOP(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	tests := []struct {
		name, pass, want string
		other            bool // answer another connection's timestamp
	}{
		{"right", "secret", "-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information.", false},
		{"wrong password", "nope", "-ERR [AUTH] Authentication failed.", false},
		{"replayed from another connection", "secret", "-ERR [AUTH] Authentication failed.", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := newLineConn(t, dial(t, ts.pop3))
			greeting := lc.read()
			ch, digest := apopDigest(t, greeting, tc.pass)
			if tc.other {
				other := newLineConn(t, dial(t, ts.pop3))
				_, digest = apopDigest(t, other.read(), tc.pass)
			}
			lc.send("APOP demo " + digest)
			if got := lc.read(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			req := ts.auth.Last()
			if v, _ := req.Extra.Get(fieldAPOPChallenge); v != ch || req.Mech != "APOP" || req.Service != "pop3" {
				t.Errorf("AUTH request %+v", req)
			}
		})
	}
}

// TestSTLSInjection: a command sent in the same packet as STLS arrived in
// plaintext; it is discarded, never run (CVE-2011-0411), and the session
// goes on over TLS.
func TestSTLSInjection(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	c := dial(t, ts.pop3)
	lc := newLineConn(t, c)
	lc.read()
	if _, err := c.Write([]byte("STLS\r\nUSER evil\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := lc.read(); got != "+OK Begin TLS negotiation now." {
		t.Fatalf("STLS: %q", got)
	}
	if lc.br.Buffered() != 0 {
		t.Fatalf("the injected USER was answered: %d bytes after +OK", lc.br.Buffered())
	}
	tc := tls.Client(c, insecureTLS)
	lc = newLineConn(t, tc)
	lc.send("PASS secret")
	if got := lc.read(); got != "-ERR No username given." {
		t.Errorf("PASS after STLS: %q, want the injected USER forgotten", got)
	}
	ts.stop(t)
	if n := ts.logs.FilterMessageSnippet("pipelined after STLS").Len(); n != 1 {
		t.Errorf("%d warnings about the injected data, want 1", n)
	}
}

func TestLineTooLong(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	lc := newLineConn(t, dial(t, ts.pop3))
	lc.read()
	lc.send("USER " + strings.Repeat("x", 300))
	lc.send("CAPA")
	if got := lc.read(); got != "-ERR Input line too long." {
		t.Errorf("got %q", got)
	}
	if got := lc.read(); got != "+OK" {
		t.Errorf("after the long line: %q, want CAPA's answer", got)
	}
}

func TestShutdown(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	lc := newLineConn(t, dial(t, ts.pop3))
	lc.read()
	ts.cancel()
	lines, err := lc.readAll()
	if err != nil || len(lines) != 1 || lines[0] != "-ERR Server shutting down." {
		t.Errorf("got %q %v, want the shutdown line and EOF", lines, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := start(t, testConf, Options{Timeouts: login.Timeouts{Idle: 200 * time.Millisecond}}, nil)
	lc := newLineConn(t, dial(t, ts.pop3))
	lines, err := lc.readAll()
	if err != nil || len(lines) != 2 || lines[1] != "-ERR Disconnected for inactivity." {
		t.Errorf("got %q %v", lines, err)
	}
}

func TestSessionTimeout(t *testing.T) {
	ts := start(t, testConf, Options{Timeouts: login.Timeouts{Session: 300 * time.Millisecond}}, nil)
	lc := newLineConn(t, dial(t, ts.pop3))
	// Keep the session busy: the whole-session deadline still ends it.
	for {
		l := lc.read()
		if l == "-ERR Disconnected for inactivity." {
			return
		}
		lc.send("USER x")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	ts := start(t, testConf, Options{Timeouts: login.Timeouts{Handshake: 200 * time.Millisecond}}, nil)
	lc := newLineConn(t, dial(t, ts.pop3s))
	lines, err := lc.readAll()
	if err != nil || len(lines) != 0 {
		t.Errorf("got %q %v, want the connection closed without data", lines, err)
	}
}

// TestSettings: the greeting and CAPA follow the configuration and the
// connection.
func TestSettings(t *testing.T) {
	mechs := []authproto.Mech{{Name: "PLAIN", Plaintext: true}, {Name: "LOGIN", Plaintext: true},
		{Name: "CRAM-MD5", Dictionary: true}, {Name: "APOP", Private: true}, {Name: "SCRAM-SHA-256-PLUS"}, {Name: "EXTERNAL"}}
	const fixed = "+OK|CAPA|TOP|UIDL|RESP-CODES|PIPELINING|AUTH-RESP-CODE|"
	tests := []struct {
		name     string
		extra    string
		from     bool // dial from 127.0.0.2
		greeting string
		capa     string
	}{
		{"default mechanisms", "", false, "+OK hello", fixed + "STLS|USER|SASL PLAIN|."},
		{"all", "auth_mechanisms = plain login cram-md5 apop scram-sha-256 external\n", false,
			"+OK hello <", fixed + "STLS|USER|SASL PLAIN LOGIN CRAM-MD5|."},
		{"insecure", "auth_mechanisms = plain login cram-md5\n", true,
			"+OK hello", fixed + "STLS|SASL CRAM-MD5|."},
		{"insecure allowed", "disable_plaintext_auth = no\n", true,
			"+OK hello", fixed + "STLS|USER|SASL PLAIN|."},
		{"ssl required", "disable_plaintext_auth = no\nssl = required\n", true,
			"+OK hello", fixed + "STLS|SASL|."},
		{"ssl no", "ssl = no\n", false, "+OK hello", fixed + "USER|SASL PLAIN|."},
		{"trusted", "login_trusted_networks = 127.0.0.2\n", true, "+OK hello", fixed + "STLS|USER|SASL PLAIN|."},
		{"protocol filter", "protocol pop3 {\n login_greeting = pop only\n}\n", false, "+OK pop only", fixed + "STLS|USER|SASL PLAIN|."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, "login_greeting = hello\n"+tc.extra, Options{}, mechs)
			c := dial(t, ts.pop3)
			if tc.from {
				c = dialFrom(t, ts.pop3)
			}
			lc := newLineConn(t, c)
			g := lc.read()
			if strings.HasSuffix(tc.greeting, "<") {
				if !strings.HasPrefix(g, tc.greeting) {
					t.Errorf("greeting %q, want an APOP timestamp after %q", g, tc.greeting)
				}
			} else if g != tc.greeting {
				t.Errorf("greeting %q, want %q", g, tc.greeting)
			}
			lc.send("CAPA")
			var got []string
			for {
				l := lc.read()
				got = append(got, l)
				if l == "." {
					break
				}
			}
			if s := strings.Join(got, "|"); s != tc.capa {
				t.Errorf("CAPA\n got %s\nwant %s", s, tc.capa)
			}
		})
	}
}

// TestPipelined: a burst is answered in order, in one flush.
func TestPipelined(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	lc := newLineConn(t, dial(t, ts.pop3))
	lc.read()
	var b strings.Builder
	for i := 0; i < 40; i++ {
		b.WriteString("USER demo\r\n")
	}
	b.WriteString("QUIT")
	lc.send(b.String())
	lines, err := lc.readAll()
	if err != nil || len(lines) != 41 || lines[40] != "+OK Logging out" {
		t.Errorf("got %d lines %q %v", len(lines), lines, err)
	}
}

// TestPipelinedMixed: different commands in one write, a failing login
// among them, are answered in order.
func TestPipelinedMixed(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	lc := newLineConn(t, dial(t, ts.pop3))
	lc.read()
	lc.send("AUTH\r\nUSER demo\r\nPASS wrong\r\nNOOP\r\nAUTH PLAIN AGRlbW8Ad3Jvbmc=\r\nQUIT")
	lines, err := lc.readAll()
	want := []string{"+OK", "PLAIN", "LOGIN", ".", "+OK", "-ERR [AUTH] Authentication failed.",
		"-ERR Unknown command.", "-ERR [AUTH] Authentication failed.", "+OK Logging out"}
	if err != nil || strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("got %q %v\nwant %q", lines, err, want)
	}
}

// TestEvict: a full process makes room by telling its oldest client that
// has not logged in to go, in Dovecot's words.
func TestEvict(t *testing.T) {
	ts := start(t, testConf, Options{}, nil)
	old := newLineConn(t, dial(t, ts.pop3))
	old.read()
	young := newLineConn(t, dial(t, ts.pop3))
	young.read()
	if !ts.srv.EvictOldest() {
		t.Fatal("EvictOldest found no client")
	}
	lines, err := old.readAll()
	if err != nil || len(lines) != 1 || lines[0] != "-ERR Connection queue full" {
		t.Errorf("evicted client got %q %v", lines, err)
	}
	young.send("QUIT")
	if got := young.read(); got != "+OK Logging out" {
		t.Errorf("the younger client: %q", got)
	}
}
