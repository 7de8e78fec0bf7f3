package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/authproto"
	caddr "github.com/cote-mail/cote/pkg/smtp"
	"github.com/cote-mail/cote/pkg/testkit"
)

// fakeSink keeps committed messages in memory.
type fakeSink struct {
	mu        sync.Mutex
	seq       int
	msgs      []spooled
	aborted   int
	createErr error
	writeErr  error
	// abortCh, when set, receives one value per Abort.
	abortCh chan struct{}
}

type spooled struct {
	id   string
	env  Envelope
	data string
}

type fakeWriter struct {
	s   *fakeSink
	id  string
	env Envelope
	buf bytes.Buffer
}

func (s *fakeSink) Create(env Envelope) (MessageWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.createErr != nil {
		return nil, s.createErr
	}
	s.seq++
	return &fakeWriter{s: s, id: fmt.Sprintf("ID%04X", s.seq), env: env}, nil
}

func (w *fakeWriter) Write(p []byte) (int, error) {
	if w.s.writeErr != nil {
		return 0, w.s.writeErr
	}
	return w.buf.Write(p)
}
func (w *fakeWriter) ID() string { return w.id }
func (w *fakeWriter) Commit() (string, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.msgs = append(w.s.msgs, spooled{w.id, w.env, w.buf.String()})
	return w.id, nil
}
func (w *fakeWriter) Abort() error {
	w.s.mu.Lock()
	w.s.aborted++
	ch := w.s.abortCh
	w.s.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
	return nil
}

func (s *fakeSink) messages() []spooled {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]spooled(nil), s.msgs...)
}

type fakeUsers map[string]bool

func (u fakeUsers) Exists(_ context.Context, name string) (bool, error) {
	if name == "broken@example.org" {
		return false, errors.New("userdb down")
	}
	return u[strings.ToLower(name)], nil
}

// fakeAuth speaks PLAIN and LOGIN against a password map, like the auth
// service would.
type fakeAuth struct{ pw map[string]string }

func (a *fakeAuth) Mechanisms(context.Context) ([]authproto.Mech, bool) {
	return []authproto.Mech{{Name: "PLAIN", Plaintext: true}, {Name: "LOGIN", Plaintext: true}}, true
}

func (a *fakeAuth) Start(_ context.Context, r authproto.Request) (Exchange, error) {
	e := &fakeExchange{a: a, mech: r.Mech, secured: r.Secured}
	e.pending = append(e.pending, r.InitialResponse)
	return e, nil
}

type fakeExchange struct {
	a       *fakeAuth
	mech    string
	secured bool
	pending [][]byte
	step    int
	user    string
}

func (e *fakeExchange) Continue(resp []byte) error {
	e.pending = append(e.pending, resp)
	return nil
}
func (e *fakeExchange) Abort() {}

func (e *fakeExchange) Next(context.Context) (authproto.Reply, error) {
	resp := e.pending[len(e.pending)-1]
	e.step++
	check := func(user, pass string) authproto.Reply {
		if !e.secured {
			return authproto.Reply{Kind: authproto.KindFail, Reason: "insecure"}
		}
		if p, ok := e.a.pw[user]; ok && p == pass {
			return authproto.Reply{Kind: authproto.KindOK, User: user}
		}
		return authproto.Reply{Kind: authproto.KindFail, User: user}
	}
	switch e.mech {
	case "PLAIN":
		if resp == nil {
			return authproto.Reply{Kind: authproto.KindCont}, nil
		}
		parts := strings.Split(string(resp), "\x00")
		if len(parts) != 3 {
			return authproto.Reply{Kind: authproto.KindFail}, nil
		}
		return check(parts[1], parts[2]), nil
	case "LOGIN":
		switch {
		case e.step == 1:
			return authproto.Reply{Kind: authproto.KindCont, Data: []byte("Username:")}, nil
		case e.step == 2:
			e.user = string(resp)
			return authproto.Reply{Kind: authproto.KindCont, Data: []byte("Password:")}, nil
		}
		return check(e.user, string(resp)), nil
	}
	return authproto.Reply{Kind: authproto.KindFail}, nil
}

// fakeCounter counts connections per IP in memory.
type fakeCounter struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

func (c *fakeCounter) Connect(ip netip.Addr) (int, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[ip]++
	return c.n[ip], func() { c.mu.Lock(); c.n[ip]--; c.mu.Unlock() }, nil
}

func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

type env struct {
	cfg  Config
	sink *fakeSink
}

func baseConfig(t testing.TB) env {
	t.Helper()
	dir := t.TempDir()
	aliases := filepath.Join(dir, "aliases")
	os.WriteFile(aliases, []byte("postmaster: alice\nteam: alice, ghost\nforward: friend@remote.example\n"), 0o644)
	virtual := filepath.Join(dir, "virtual")
	os.WriteFile(virtual, []byte("alias.example x\ninfo@alias.example bob@example.org\n"), 0o644)
	opt := caddr.AliasOptions{RecipientDelimiter: "+"}
	al, err := caddr.LoadAliases(aliases, opt)
	if err != nil {
		t.Fatal(err)
	}
	va, err := caddr.LoadVirtualAliases(virtual, opt)
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	return env{sink: sink, cfg: Config{
		Hostname: "mx.example.org",
		Routing: caddr.Routing{MyHostname: "mx.example.org", MyDestination: []string{"example.org"},
			VirtualMailboxDomains: []string{"virt.example"}, RelayDomains: []string{"relay.example"}},
		Aliases: al, VirtualAliases: va, RecipientDelimiter: "+",
		MaxSize: 4096, RcptLimit: 50, ErrorLimit: 0, BareNewline: BareLFReject,
		SenderMustMatchLogin: true, SMTPUTF8: true, TLS: selfSigned(t),
		Sink:  sink,
		Users: fakeUsers{"alice@example.org": true, "bob@example.org": true, "carol@virt.example": true},
		Auth:  &fakeAuth{pw: map[string]string{"alice@example.org": "secret"}},
		Now:   func() time.Time { return time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC) },
	}}
}

// start serves cfg on a loopback TCP listener as the given kind.
func start(t *testing.T, cfg Config, kind Conn) string {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				srv.Serve(ctx, c, kind)
			}()
		}
	}()
	return ln.Addr().String()
}

var (
	mx         = Conn{Kind: KindMX}
	submission = Conn{Kind: KindSubmission}
	implicit   = Conn{Kind: KindImplicit, SSL: true}
	trustedNet = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
)

func TestTranscripts(t *testing.T) {
	cases := []struct {
		name   string
		kind   Conn
		tls    bool // implicit TLS dial
		modify func(*Config)
	}{
		{"relay-denied", mx, false, nil},
		{"relay-trusted", mx, false, func(c *Config) { c.MyNetworks = trustedNet }},
		{"unknown-user", mx, false, nil},
		{"pipelining", mx, false, nil},
		{"size", mx, false, nil},
		{"helo", mx, false, nil},
		{"dsn", mx, false, nil},
		{"smtputf8", mx, false, nil},
		{"chunking", mx, false, nil},
		{"submission-auth", submission, false, nil},
		{"submission-login", submission, false, nil},
		{"submissions", implicit, true, nil},
		{"auth-cancel", implicit, true, nil},
		{"auth-failed-relay", submission, false, nil},
		{"no-auth-on-25", mx, false, nil},
		{"errors", mx, false, func(c *Config) { c.ErrorLimit = 3 }},
		{"errors-syntax", mx, false, func(c *Config) { c.ErrorLimit = 3 }},
		{"errors-starttls", mx, false, func(c *Config) { c.ErrorLimit = 3 }},
		{"errors-starttls-nohelo", mx, false, func(c *Config) { c.ErrorLimit = 3 }},
		{"pregreet-talker", mx, false, func(c *Config) { c.GreetWait = 10 * time.Second }},
		{"pregreet-ok", mx, false, func(c *Config) { c.GreetWait = 20 * time.Millisecond }},
		{"pregreet-trusted", mx, false, func(c *Config) { c.GreetWait = time.Hour; c.MyNetworks = trustedNet }},
		{"pregreet-submission", submission, false, func(c *Config) { c.GreetWait = time.Hour }},
		{"conn-limit", mx, false, func(c *Config) {
			c.ConnCountLimit = 1
			c.Counter = &fakeCounter{n: map[netip.Addr]int{netip.MustParseAddr("127.0.0.1"): 1}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := baseConfig(t)
			if c.modify != nil {
				c.modify(&e.cfg)
			}
			addr := start(t, e.cfg, c.kind)
			var tc *tls.Config
			if c.tls {
				tc = &tls.Config{InsecureSkipVerify: true}
			}
			testkit.DialTranscript(t, addr, tc, filepath.Join("testdata", c.name+".tr"), testkit.TranscriptOptions{
				Vars: map[string]string{"host": "mx.example.org"},
				TLS:  &tls.Config{InsecureSkipVerify: true},
			})
		})
	}
}

// smtpClient is a raw client for the tests that need bytes a transcript
// cannot send (bare LF) or that inspect the spool.
type smtpClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *smtpClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc := &smtpClient{t: t, c: c, r: bufio.NewReader(c)}
	sc.expect("220 ")
	return sc
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (sc *smtpClient) reply() string {
	sc.t.Helper()
	for {
		l, err := sc.r.ReadString('\n')
		if err != nil {
			sc.t.Fatalf("read: %v", err)
		}
		if len(l) < 4 || l[3] != '-' {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

func (sc *smtpClient) expect(prefix string) string {
	sc.t.Helper()
	l := sc.reply()
	if !strings.HasPrefix(l, prefix) {
		sc.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

func (sc *smtpClient) cmd(line, prefix string) string {
	sc.t.Helper()
	if _, err := sc.c.Write([]byte(line + "\r\n")); err != nil {
		sc.t.Fatal(err)
	}
	return sc.expect(prefix)
}

func TestDataQueued(t *testing.T) {
	e := baseConfig(t)
	addr := start(t, e.cfg, mx)
	c := dial(t, addr)
	c.cmd("EHLO client.example", "250 ")
	c.cmd("MAIL FROM:<sender@remote.example> BODY=8BITMIME RET=HDRS ENVID=abc", "250 ")
	c.cmd("RCPT TO:<Alice+tag@EXAMPLE.org> NOTIFY=FAILURE,DELAY", "250 ")
	c.cmd("RCPT TO:<team@example.org>", "250 ")
	c.cmd("RCPT TO:<info@alias.example>", "250 ")
	c.cmd("DATA", "354 ")
	got := c.cmd("Subject: hi\r\n\r\nbody line\r\n..dot\r\n.", "250 2.0.0 Ok: queued as ID0001")
	_ = got
	msgs := e.sink.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	m := msgs[0]
	wantRcpts := []Recipient{
		{Addr: "Alice+tag@example.org", ORcpt: "RFC822;Alice+tag@EXAMPLE.org", Notify: []string{"FAILURE", "DELAY"}},
		{Addr: "alice@example.org", ORcpt: "RFC822;team@example.org"},
		{Addr: "bob@example.org", ORcpt: "RFC822;info@alias.example"},
	}
	if fmt.Sprint(m.env.Rcpts) != fmt.Sprint(wantRcpts) {
		t.Errorf("rcpts = %v, want %v", m.env.Rcpts, wantRcpts)
	}
	if m.env.From != "sender@remote.example" || m.env.RET != "HDRS" || m.env.EnvID != "abc" || !m.env.EightBitMIME ||
		m.env.ClientHelo != "client.example" || m.env.ClientAddr != "127.0.0.1" {
		t.Errorf("envelope = %+v", m.env)
	}
	wantData := "Received: from client.example (unknown [127.0.0.1])\r\n" +
		"\tby mx.example.org (cote) with ESMTP id ID0001; Fri, 27 Nov 2026 19:00:00 +0000 (UTC)\r\n" +
		"Subject: hi\r\n\r\nbody line\r\n.dot\r\n"
	if m.data != wantData {
		t.Errorf("data =\n%q\nwant\n%q", m.data, wantData)
	}
	// One recipient: the Received header names it.
	c.cmd("MAIL FROM:<>", "250 ")
	c.cmd("RCPT TO:<bob@example.org>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("x\r\n.", "250 ")
	if m := e.sink.messages()[1]; !strings.Contains(m.data, "\r\n\tfor <bob@example.org>; ") || m.env.From != "" {
		t.Errorf("second message: %q from %q", m.data, m.env.From)
	}
}

func TestBareLF(t *testing.T) {
	cases := []struct {
		name    string
		mode    string
		trusted bool
		reply   string
		want    string // stored body after the Received header; "" = nothing stored
	}{
		{"reject", BareLFReject, false, "521 5.5.2 ", ""},
		{"reject but trusted", BareLFReject, true, "250 ", "a\nb\r\n"},
		{"normalize", BareLFNormalize, false, "250 ", "a\r\nb\r\n"},
		{"allow", BareLFAllow, false, "250 ", "a\nb\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := baseConfig(t)
			e.cfg.BareNewline = c.mode
			if c.trusted {
				e.cfg.MyNetworks = trustedNet
			}
			addr := start(t, e.cfg, mx)
			cl := dial(t, addr)
			cl.cmd("EHLO client.example", "250 ")
			cl.cmd("MAIL FROM:<s@remote.example>", "250 ")
			cl.cmd("RCPT TO:<bob@example.org>", "250 ")
			cl.cmd("DATA", "354 ")
			cl.c.Write([]byte("a\nb\r\n.\r\n"))
			cl.expect(c.reply)
			msgs := e.sink.messages()
			if c.want == "" {
				if len(msgs) != 0 || e.sink.aborted != 1 {
					t.Fatalf("queued %d, aborted %d", len(msgs), e.sink.aborted)
				}
				if _, err := cl.r.ReadString('\n'); err == nil {
					t.Fatal("connection still open after 521")
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("queued %d", len(msgs))
			}
			_, body, _ := strings.Cut(msgs[0].data, "(UTC)\r\n")
			if body != c.want {
				t.Fatalf("body %q, want %q", body, c.want)
			}
		})
	}
}

func TestDropMidData(t *testing.T) {
	e := baseConfig(t)
	e.sink.abortCh = make(chan struct{}, 1)
	addr := start(t, e.cfg, mx)
	cl := dial(t, addr)
	cl.cmd("EHLO client.example", "250 ")
	cl.cmd("MAIL FROM:<s@remote.example>", "250 ")
	cl.cmd("RCPT TO:<bob@example.org>", "250 ")
	cl.cmd("DATA", "354 ")
	cl.c.Write([]byte("Subject: half\r\n\r\nsome"))
	cl.c.Close()
	select {
	case <-e.sink.abortCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the spool file was not aborted")
	}
	if n := len(e.sink.messages()); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
}

func TestSpoolFull(t *testing.T) {
	e := baseConfig(t)
	e.sink.writeErr = &os.PathError{Op: "write", Path: "x", Err: errNoSpace}
	addr := start(t, e.cfg, mx)
	cl := dial(t, addr)
	cl.cmd("EHLO client.example", "250 ")
	cl.cmd("MAIL FROM:<s@remote.example>", "250 ")
	cl.cmd("RCPT TO:<bob@example.org>", "250 ")
	cl.cmd("DATA", "354 ")
	cl.cmd("x\r\n.", "452 4.3.1 ")
	if n := len(e.sink.messages()); n != 0 || e.sink.aborted != 1 {
		t.Fatalf("queued %d aborted %d", n, e.sink.aborted)
	}
}

// startAnvil serves a real anvil on a unix socket and returns a counter on
// it, as cmd/smtpd wires it.
func startAnvil(t *testing.T) *AnvilCounter {
	t.Helper()
	path := filepath.Join(t.TempDir(), "anvil")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := anvil.NewServer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); srv.ServeConn(ctx, c) }()
		}
	}()
	ac, err := NewAnvilCounter(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.Close(); ln.Close(); cancel(); wg.Wait() })
	return ac
}

// smtpd_client_connection_rate_limit, counted by a real anvil: the third
// connection in the window gets Postfix's 421; mynetworks is exempt.
func TestConnRateLimit(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		e := baseConfig(t)
		ac := startAnvil(t)
		e.cfg.Counter, e.cfg.Rater = ac, ac
		e.cfg.ConnCountLimit, e.cfg.ConnRateLimit, e.cfg.RateTimeUnit = 10, 2, time.Minute
		if trusted {
			e.cfg.MyNetworks = trustedNet
		}
		addr := start(t, e.cfg, mx)
		for i := 1; i <= 3; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			l, err := bufio.NewReader(c).ReadString('\n')
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := "220 "
			if i == 3 && !trusted {
				want = "421 4.7.0 mx.example.org Error: too many connections from 127.0.0.1\r\n"
			}
			if !strings.HasPrefix(l, want) {
				t.Errorf("trusted=%v connection %d: %q, want %q", trusted, i, l, want)
			}
		}
	}
}

// A pipelining client hears nothing after the 421 that follows its third
// refused command (go-smtp's own "unknown command" among them): what it
// sent behind the limit gets no reply and takes no effect (its DATA
// queues nothing).
func TestErrorLimitPipelined(t *testing.T) {
	e := baseConfig(t)
	e.cfg.ErrorLimit = 3
	sc := dial(t, start(t, e.cfg, mx))
	sc.cmd("EHLO client.example", "250 ")
	sc.c.Write([]byte("MAIL FROM:<someone@remote.example>\r\nRCPT TO:<a@other.example>\r\nXYZZY x\r\n" +
		"RCPT TO:<b@other.example>\r\nRCPT TO:<alice@example.org>\r\nNOOP\r\nDATA\r\nSubject: never\r\n\r\n.\r\nQUIT\r\n"))
	rest, _ := io.ReadAll(sc.r) // until the server closes
	got := strings.Split(strings.TrimSuffix(string(rest), "\r\n"), "\r\n")
	want := []string{"250 ", "554 5.7.1 ", "50", "554 5.7.1 ", "421 4.7.0 mx.example.org Error: too many errors"}
	if len(got) != len(want) {
		t.Fatalf("replies %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("reply %d = %q, want %q", i, got[i], want[i])
		}
	}
	e.sink.mu.Lock()
	defer e.sink.mu.Unlock()
	if len(e.sink.msgs) != 0 {
		t.Errorf("%d messages queued after the limit", len(e.sink.msgs))
	}
}
