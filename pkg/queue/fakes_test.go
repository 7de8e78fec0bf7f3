package queue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// fakeMTA is an LMTP or SMTP server that records what it accepts and fails the recipients
// listed in rcptErr (at RCPT) or dataErr (after DATA, LMTP per recipient).
type fakeMTA struct {
	mu      sync.Mutex
	got     []delivered
	rcptErr map[string]*gosmtp.SMTPError
	dataErr map[string]*gosmtp.SMTPError
	tls     bool // the session used STARTTLS
	conns   int
	arrived chan struct{}
	// inData, when set, is signalled when a DATA starts; the session then waits on gate.
	inData    chan struct{}
	gate      chan struct{}
	active    int
	maxActive int
}

type delivered struct {
	From  string
	Rcpts []string
	Data  string
	TLS   bool
	EnvID string // MAIL FROM ENVID (the resume signal for LMTP)
}

func (f *fakeMTA) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	return &fakeSession{f: f, c: c}, nil
}

func (f *fakeMTA) setErr(m map[string]*gosmtp.SMTPError, k string, e *gosmtp.SMTPError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e == nil {
		delete(m, k)
	} else {
		m[k] = e
	}
}

func (f *fakeMTA) deliveries() []delivered {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]delivered(nil), f.got...)
}

type fakeSession struct {
	f     *fakeMTA
	from  string
	envID string
	rcpts []string
	c     *gosmtp.Conn
}

func (s *fakeSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *fakeSession) Logout() error { return nil }
func (s *fakeSession) Mail(from string, o *gosmtp.MailOptions) error {
	s.from, s.envID = from, ""
	if o != nil {
		s.envID = o.EnvelopeID
	}
	return nil
}
func (s *fakeSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.f.mu.Lock()
	e := s.f.rcptErr[to]
	s.f.mu.Unlock()
	if e != nil {
		return e
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *fakeSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.f.mu.Lock()
	_, isTLS := s.c.TLSConnectionState()
	s.f.got = append(s.f.got, delivered{From: s.from, Rcpts: s.rcpts, Data: string(b), TLS: isTLS})
	s.f.mu.Unlock()
	if s.f.arrived != nil {
		s.f.arrived <- struct{}{}
	}
	return nil
}
func (s *fakeSession) LMTPData(r io.Reader, st gosmtp.StatusCollector) error {
	b, _ := io.ReadAll(r)
	if s.f.inData != nil {
		s.f.mu.Lock()
		s.f.active++
		s.f.maxActive = max(s.f.maxActive, s.f.active)
		s.f.mu.Unlock()
		s.f.inData <- struct{}{}
		<-s.f.gate
		s.f.mu.Lock()
		s.f.active--
		s.f.mu.Unlock()
	}
	s.f.mu.Lock()
	var ok []string
	for _, rc := range s.rcpts {
		if e := s.f.dataErr[rc]; e != nil {
			st.SetStatus(rc, e)
		} else {
			ok = append(ok, rc)
			st.SetStatus(rc, nil)
		}
	}
	if len(ok) > 0 {
		s.f.got = append(s.f.got, delivered{From: s.from, Rcpts: ok, Data: string(b), EnvID: s.envID})
	}
	s.f.mu.Unlock()
	if s.f.arrived != nil && len(ok) > 0 {
		s.f.arrived <- struct{}{}
	}
	return nil
}

func newFake() *fakeMTA {
	return &fakeMTA{rcptErr: map[string]*gosmtp.SMTPError{}, dataErr: map[string]*gosmtp.SMTPError{}}
}

// startLMTP serves f over a unix socket and returns its path.
func startLMTP(t *testing.T, f *fakeMTA) string {
	dir, err := os.MkdirTemp("", "qlmtp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "lmtp")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	s := gosmtp.NewServer(f)
	s.LMTP = true
	s.Domain = "lmtp.test"
	s.EnableDSN = true // as cote's lmtp offers it to the queue: the resume signal's channel
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return p
}

// startSMTP serves f on 127.0.0.1:0 (with STARTTLS when withTLS) and returns its port.
func startSMTP(t *testing.T, f *fakeMTA, withTLS bool) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := gosmtp.NewServer(f)
	s.Domain = "mx.remote.test"
	s.AllowInsecureAuth = true
	if withTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.remote.test"},
		DNSNames: []string{"mx.remote.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startDNS serves a fixed zone on 127.0.0.1:0 (UDP and TCP) and returns its address.
// remote.test MX 10 mx.remote.test; mx.remote.test A 127.0.0.1; bare.test A 127.0.0.1 (no MX);
// nullmx.test MX 0 .; everything else NXDOMAIN.
func startDNS(t *testing.T) string {
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		rr := func(s string) {
			x, err := dns.NewRR(s)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, x)
		}
		switch name {
		case "remote.test.":
			if q.Qtype == dns.TypeMX {
				rr("remote.test. 60 IN MX 10 mx.remote.test.")
			}
		case "nullmx.test.":
			if q.Qtype == dns.TypeMX {
				rr("nullmx.test. 60 IN MX 0 .")
			}
		case "mx.remote.test.", "bare.test.":
			if q.Qtype == dns.TypeA {
				rr(name + " 60 IN A 127.0.0.1")
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: mux, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}
