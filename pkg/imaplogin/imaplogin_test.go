package imaplogin

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
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

// testServer is one in-process imap-login over real loopback sockets.
type testServer struct {
	imap, imaps string // listener addresses
	logs        *observer.ObservedLogs
	auth        *fakeAuth
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

// start loads a configuration made of the certificate lines and extra,
// and serves imap-login on two loopback listeners (imap, and imaps with
// the ssl flag) until the test ends.
func start(t *testing.T, extra string, opts Options) *testServer {
	t.Helper()
	return startWith(t, extra, opts, nil)
}

// startWith is start with the fake auth service offering mechs (nil: PLAIN
// and LOGIN).
func startWith(t *testing.T, extra string, opts Options, mechs []authproto.Mech) *testServer {
	t.Helper()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	conf := "protocols = imap\nbase_dir = " + dir + "/run\n" +
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
	srv, err := New(cfg, log, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(srv.Close)
	var ls []*service.Listener
	ts := &testServer{logs: logs, auth: fa, done: make(chan error, 1)}
	for _, spec := range []ipc.ListenerSpec{{Name: "imap"}, {Name: "imaps", SSL: true}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &service.Listener{ListenerSpec: spec, Listener: l})
		if spec.SSL {
			ts.imaps = l.Addr().String()
		} else {
			ts.imap = l.Addr().String()
		}
	}
	rt := service.New("imap-login", cfg, log, ls)
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

var insecureTLS = &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}

func TestTranscripts(t *testing.T) {
	ts := start(t, "", Options{})
	tsAuth := start(t, "auth_mechanisms = plain login\n", Options{})
	tests := []struct {
		name string
		conn func(t *testing.T) net.Conn
	}{
		{"basic", func(t *testing.T) net.Conn { return dial(t, ts.imap) }},
		{"literal", func(t *testing.T) net.Conn { return dial(t, ts.imap) }},
		{"starttls", func(t *testing.T) net.Conn { return dial(t, ts.imap) }},
		{"badcommands", func(t *testing.T) net.Conn { return dial(t, ts.imap) }},
		{"authenticate", func(t *testing.T) net.Conn { return dial(t, tsAuth.imap) }},
		{"insecure", func(t *testing.T) net.Conn { return dialFrom(t, ts.imap) }},
		{"imaps", func(t *testing.T) net.Conn {
			c := tls.Client(dial(t, ts.imaps), insecureTLS)
			t.Cleanup(func() { c.Close() })
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testkit.RunTranscript(t, tc.conn(t), filepath.Join("testdata", tc.name+".tr"),
				testkit.TranscriptOptions{TLS: insecureTLS})
		})
	}
}

// readAll reads lines until EOF (or an error), with a deadline.
func readAll(t *testing.T, c net.Conn) ([]string, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var lines []string
	for {
		l, err := br.ReadString('\n')
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

// TestSTARTTLSInjection sends a command in the same packet as STARTTLS: it
// must never run (CVE-2011-0411), and the connection must close.
func TestSTARTTLSInjection(t *testing.T) {
	ts := start(t, "", Options{})
	c := dial(t, ts.imap)
	if _, err := c.Write([]byte("a STARTTLS\r\nb CAPABILITY\r\n")); err != nil {
		t.Fatal(err)
	}
	lines, err := readAll(t, c)
	if err != nil {
		t.Fatalf("read: %v (lines %q)", err, lines)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "b ") || strings.HasPrefix(l, "* CAPABILITY") {
			t.Errorf("injected command answered: %q", lines)
		}
	}
	if n := len(lines); n == 0 || !strings.HasPrefix(lines[0], "* OK ") {
		t.Fatalf("no greeting: %q", lines)
	}
}

func TestLineTooLong(t *testing.T) {
	ts := start(t, "", Options{})
	c := dial(t, ts.imap)
	go func() {
		_, _ = c.Write([]byte("a LOGIN " + strings.Repeat("x", 70*1024) + "\r\n"))
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	lines, err := readAll(t, c)
	if err != nil {
		t.Fatalf("read: %v (lines %q)", err, lines)
	}
	want := []string{"* BYE Input buffer full, aborting"}
	if len(lines) != 2 || lines[1] != want[0] {
		t.Errorf("got %q, want the greeting and %q", lines, want)
	}
}

// TestFatalLiteral: a command refused for its non-synchronizing literals
// is answered with its tag and a BAD, then the connection closes.
func TestFatalLiteral(t *testing.T) {
	for _, tc := range []struct {
		name, cmd, want string
	}{
		{"too many literal+", "a LOGIN" + strings.Repeat(" {0+}\r\n", 1001), "a BAD [LIMIT] Too many literals"},
		// Without a tag to answer (the size alone ends the stream) the
		// farewell is untagged.
		{"literal+ too large", "b LOGIN {100000+}\r\n", "* BYE Literal too large, aborting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, "", Options{})
			c := dial(t, ts.imap)
			go func() {
				_, _ = c.Write([]byte(tc.cmd + strings.Repeat("x", 1000)))
				_ = c.(*net.TCPConn).CloseWrite()
			}()
			lines, err := readAll(t, c)
			if err != nil {
				t.Fatalf("read: %v (lines %q)", err, lines)
			}
			if len(lines) != 2 || lines[1] != tc.want {
				t.Errorf("got %q, want the greeting and %q", lines, tc.want)
			}
		})
	}
}

func TestShutdownBye(t *testing.T) {
	ts := start(t, "", Options{})
	c := dial(t, ts.imap)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK ") {
		t.Fatalf("greeting %q %v", l, err)
	}
	ts.cancel()
	l, err := br.ReadString('\n')
	if err != nil || l != "* BYE Server shutting down.\r\n" {
		t.Fatalf("got %q %v, want the shutdown BYE", l, err)
	}
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Errorf("after BYE: %v, want EOF", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := start(t, "", Options{Timeouts: login.Timeouts{Idle: 200 * time.Millisecond}})
	c := dial(t, ts.imap)
	lines, err := readAll(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[1] != "* BYE Disconnected for inactivity." {
		t.Errorf("got %q", lines)
	}
}

func TestSessionTimeout(t *testing.T) {
	ts := start(t, "", Options{Timeouts: login.Timeouts{Session: 300 * time.Millisecond}})
	c := dial(t, ts.imap)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Keep the session busy: the whole-session deadline still ends it.
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if l == "* BYE Disconnected for inactivity.\r\n" {
			return
		}
		if _, err := c.Write([]byte("n NOOP\r\n")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSSLNo: with ssl = no there is no STARTTLS, and an ssl listener
// refuses to serve plaintext.
func TestSSLNo(t *testing.T) {
	ts := start(t, "ssl = no\n", Options{})
	c := dial(t, ts.imap)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, _ := br.ReadString('\n')
	if l != "* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN] cote ready.\r\n" {
		t.Errorf("greeting %q", l)
	}
	c.Write([]byte("a STARTTLS\r\n"))
	if l, _ := br.ReadString('\n'); l != "a BAD TLS support isn't enabled.\r\n" {
		t.Errorf("STARTTLS: %q", l)
	}
	s := dial(t, ts.imaps)
	lines, err := readAll(t, s)
	if err != nil || len(lines) != 0 {
		t.Errorf("ssl listener with ssl = no: got %q %v, want a closed connection", lines, err)
	}
	ts.stop(t)
	if n := ts.logs.FilterMessageSnippet("ssl = yes but TLS is disabled").Len(); n != 1 {
		t.Errorf("%d error lines about the ssl listener, want 1", n)
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		from  bool // dial from 127.0.0.2
		want  string
	}{
		{"mechanisms", "auth_mechanisms = plain login cram-md5\n", false,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5] hello there"},
		{"insecure hides plaintext mechanisms", "auth_mechanisms = plain login cram-md5\n", true,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS LOGINDISABLED AUTH=CRAM-MD5] hello there"},
		{"no PLAIN disables LOGIN", "auth_mechanisms = cram-md5\n", false,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS LOGINDISABLED AUTH=CRAM-MD5] hello there"},
		{"plaintext allowed", "disable_plaintext_auth = no\n", true,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN] hello there"},
		{"ssl required", "disable_plaintext_auth = no\nssl = required\n", true,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS LOGINDISABLED] hello there"},
		{"trusted network", "login_trusted_networks = 127.0.0.0/24\n", true,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN] hello there"},
		{"trusted single address", "login_trusted_networks = 127.0.0.2\n", true,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN] hello there"},
		{"protocol filter", "protocol imap {\n login_greeting = imap only\n}\n", false,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN] imap only"},
		{"only what the auth service offers", "auth_mechanisms = plain login cram-md5 scram-sha-256\n", false,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5] hello there"},
		{"-PLUS only over TLS", "auth_mechanisms = plain scram-sha-256 external\n", false,
			"* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ STARTTLS AUTH=PLAIN] hello there"},
	}
	mechs := []authproto.Mech{{Name: "PLAIN", Plaintext: true}, {Name: "LOGIN", Plaintext: true},
		{Name: "CRAM-MD5", Dictionary: true}, {Name: "SCRAM-SHA-256-PLUS"}, {Name: "EXTERNAL"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startWith(t, "login_greeting = hello there\n"+tc.extra, Options{}, mechs)
			var c net.Conn
			if tc.from {
				c = dialFrom(t, ts.imap)
			} else {
				c = dial(t, ts.imap)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			l, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimRight(l, "\r\n"); got != tc.want {
				t.Errorf("greeting\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestIDLogged(t *testing.T) {
	ts := start(t, "", Options{})
	c := dial(t, ts.imap)
	c.Write([]byte("a ID (\"name\" \"tester\" \"os\" NIL)\r\nb ID NIL\r\nc LOGOUT\r\n"))
	lines, err := readAll(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 7 {
		t.Fatalf("got %q", lines)
	}
	got := ts.logs.FilterMessage("client ID").All()
	if len(got) != 1 {
		t.Fatalf("%d client ID log lines, want 1", len(got))
	}
	id, _ := got[0].ContextMap()["id"].(map[string]string)
	if id["name"] != "tester" || len(id) != 1 {
		t.Errorf("logged ID %v", got[0].ContextMap())
	}
	// Every connection line carries the fields of STYLE.md.
	for _, f := range []string{"proto", "session", "remote", "local", "tls"} {
		if _, ok := got[0].ContextMap()[f]; !ok {
			t.Errorf("log line lacks %q: %v", f, got[0].ContextMap())
		}
	}
}

// TestPipelinedOneWrite: a burst of pipelined commands is answered in
// order (and the server only flushes once the burst is consumed).
func TestPipelined(t *testing.T) {
	ts := start(t, "", Options{})
	c := dial(t, ts.imap)
	var b strings.Builder
	for i := 0; i < 50; i++ {
		b.WriteString("n NOOP\r\n")
	}
	b.WriteString("z LOGOUT\r\n")
	c.Write([]byte(b.String()))
	lines, err := readAll(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1+50+2 || lines[len(lines)-1] != "z OK Logout completed." {
		t.Errorf("got %d lines: %q", len(lines), lines)
	}
}

func TestAuthenticateArgs(t *testing.T) {
	ts := start(t, "", Options{})
	tests := []struct{ in, want string }{
		{"a AUTHENTICATE PLAIN =", "a NO [AUTHENTICATIONFAILED] Authentication failed."},
		{"a AUTHENTICATE PLAIN !!!", "a BAD Invalid base64 data in initial response"},
		{"a AUTHENTICATE", "a BAD Invalid arguments."},
		{"a AUTHENTICATE \"PLAIN\"", "a BAD Invalid arguments."},
		{"a LOGIN onlyuser", "a BAD Invalid arguments."},
		{"a LOGIN NIL NIL", "a NO [AUTHENTICATIONFAILED] Authentication failed."},
		{"a LOGIN {1+}\r\n\x00 x", "a BAD Invalid arguments."},
		{"a AUTHENTICATE SCRAM-SHA-256-PLUS", "a NO Unsupported authentication mechanism."},
		{"LOGIN user pass", "LOGIN BAD First parameter in line is IMAP's command tag, not the command name. Add that before the command, like: a login user pass"},
		{"a ID (\"k\")", "a BAD Invalid ID parameters"},
		{"a CAPABILITY x", "a BAD Unexpected arguments."},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c := dial(t, ts.imap)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			br.ReadString('\n')
			c.Write([]byte(tc.in + "\r\n"))
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimRight(l, "\r\n"); got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

// TestHandshakeTimeout: a client that opens the imaps port and never
// starts TLS is dropped after the handshake deadline.
func TestHandshakeTimeout(t *testing.T) {
	ts := start(t, "", Options{Timeouts: login.Timeouts{Handshake: 200 * time.Millisecond}})
	c := dial(t, ts.imaps)
	lines, err := readAll(t, c)
	if err != nil || len(lines) != 0 {
		t.Errorf("got %q %v, want the connection closed without data", lines, err)
	}
	ts.stop(t) // the log line may follow the close
	if n := ts.logs.FilterMessage("disconnected: TLS handshake failed").Len(); n != 1 {
		t.Errorf("%d handshake failure log lines, want 1", n)
	}
}
