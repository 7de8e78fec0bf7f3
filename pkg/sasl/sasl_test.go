package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cote-mail/cote/pkg/passwd"
	gosasl "github.com/emersion/go-sasl"
)

// fakeBackend serves users from stored password values through pkg/passwd,
// tokens and certificate names from maps.
type fakeBackend struct {
	users    map[string]string // user -> stored value ("{SCHEME}...")
	tokens   map[string]string // token -> user
	tempFail bool
	lookups  atomic.Int32
}

func newBackend() *fakeBackend {
	return &fakeBackend{
		users: map[string]string{
			"bob":         "{PLAIN}secret",
			"alice@x.org": "{PLAIN}pässword with spaces",
		},
		tokens: map[string]string{"tok-bob": "bob"},
	}
}

func (b *fakeBackend) VerifyPlain(ctx context.Context, r *Request, user, password string) (*Result, error) {
	b.lookups.Add(1)
	if b.tempFail {
		return nil, errors.New("passdb unreachable")
	}
	stored, ok := b.users[user]
	if !ok {
		return nil, ErrAuthFailed
	}
	ok, err := passwd.Verify(stored, "PLAIN", user, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrAuthFailed
	}
	return &Result{User: user}, nil
}

func (b *fakeBackend) Credentials(ctx context.Context, r *Request, user, scheme string) (passwd.Creds, *Result, error) {
	b.lookups.Add(1)
	if b.tempFail {
		return passwd.Creds{}, nil, ErrTempFail
	}
	stored, ok := b.users[user]
	if !ok {
		return passwd.Creds{}, nil, ErrAuthFailed
	}
	c, err := passwd.Credentials(stored, "PLAIN", user, scheme)
	if errors.Is(err, passwd.ErrNoCredentials) {
		return passwd.Creds{}, nil, ErrUnsupported
	}
	if err != nil {
		return passwd.Creds{}, nil, err
	}
	return c, &Result{User: user}, nil
}

func (b *fakeBackend) Token(ctx context.Context, r *Request, user, token string) (*Result, error) {
	if b.tokens == nil {
		return nil, ErrUnsupported
	}
	u, ok := b.tokens[token]
	if !ok || (user != "" && user != u) {
		return nil, ErrAuthFailed
	}
	return &Result{User: u}, nil
}

func (b *fakeBackend) CertUser(ctx context.Context, r *Request, authzid string) (*Result, error) {
	if r.CertUser == "" {
		return nil, ErrAuthFailed
	}
	if authzid != "" && authzid != r.CertUser {
		return nil, ErrAuthzid
	}
	return &Result{User: r.CertUser}, nil
}

// drive runs an exchange: ir is the initial response (nil: none), next
// answers each challenge. It returns the result and the success data.
func drive(s *Session, ir []byte, next func(challenge []byte) ([]byte, error)) (*Result, []byte, error) {
	resp := ir
	for i := 0; i < 10; i++ {
		ch, done, err := s.Next(resp)
		if err != nil {
			return nil, nil, err
		}
		if done {
			return s.Result(), ch, nil
		}
		if resp, err = next(ch); err != nil {
			return nil, nil, fmt.Errorf("client: %w", err)
		}
	}
	return nil, nil, errors.New("exchange did not end")
}

func start(t *testing.T, mech string, b Backend, r *Request) *Session {
	t.Helper()
	m := Lookup(mech)
	if m == nil {
		t.Fatalf("mechanism %s not registered", mech)
	}
	if r == nil {
		r = &Request{Service: "imap"}
	}
	return m.New(context.Background(), b, r)
}

// fixed answers challenges with the given responses in order.
func fixed(resps ...string) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) {
		if len(resps) == 0 {
			return nil, errors.New("no more responses")
		}
		r := resps[0]
		resps = resps[1:]
		return []byte(r), nil
	}
}

func wantOutcome(t *testing.T, res *Result, err error, wantUser string, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("error = %v, want %v", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("error = %v", err)
	}
	if res == nil || res.User != wantUser {
		t.Fatalf("result = %+v, want user %q", res, wantUser)
	}
}

func TestRegistry(t *testing.T) {
	want := []string{"APOP", "CRAM-MD5", "EXTERNAL", "LOGIN", "OAUTHBEARER", "PLAIN",
		"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "XOAUTH2"}
	if got := strings.Join(Names(), " "); got != strings.Join(want, " ") {
		t.Fatalf("Names = %s", got)
	}
	for name, m := range Registry() {
		if m.Name != name || m.Flags.Name != name || m.New == nil {
			t.Errorf("%s: inconsistent entry %+v", name, m)
		}
	}
	if Lookup("plain") == nil || Lookup("scram-sha-256-plus") == nil || Lookup("DIGEST-MD5") != nil {
		t.Fatal("Lookup is wrong")
	}
	reg := Registry()
	delete(reg, "PLAIN")
	if Lookup("PLAIN") == nil {
		t.Fatal("Registry returned the shared map")
	}
}

func TestPLAIN(t *testing.T) {
	tests := []struct {
		name     string
		ir       []byte
		next     []string
		tempFail bool
		user     string
		err      error
	}{
		{"no authzid", []byte("\x00bob\x00secret"), nil, false, "bob", nil},
		{"same authzid", []byte("bob\x00bob\x00secret"), nil, false, "bob", nil},
		{"utf8 password", []byte("\x00alice@x.org\x00pässword with spaces"), nil, false, "alice@x.org", nil},
		{"no initial response", nil, []string{"\x00bob\x00secret"}, false, "bob", nil},
		{"other authzid", []byte("admin\x00bob\x00secret"), nil, false, "", ErrAuthzid},
		{"wrong password", []byte("\x00bob\x00wrong"), nil, false, "", ErrAuthFailed},
		{"unknown user", []byte("\x00eve\x00secret"), nil, false, "", ErrAuthFailed},
		{"empty user", []byte("\x00\x00secret"), nil, false, "", ErrMalformed},
		{"one nul", []byte("bob\x00secret"), nil, false, "", ErrMalformed},
		{"three nuls", []byte("\x00bob\x00sec\x00ret"), nil, false, "", ErrMalformed},
		{"invalid utf8 user", []byte("\x00b\xffb\x00secret"), nil, false, "", ErrMalformed},
		{"backend error", []byte("\x00bob\x00secret"), nil, true, "", ErrTempFail},
		{"oversized", []byte("\x00bob\x00" + strings.Repeat("x", MaxResponse)), nil, false, "", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend()
			b.tempFail = tt.tempFail
			res, _, err := drive(start(t, "PLAIN", b, nil), tt.ir, fixed(tt.next...))
			wantOutcome(t, res, err, tt.user, tt.err)
		})
	}
	// go-sasl's own PLAIN client against the server.
	mech, ir, _ := gosasl.NewPlainClient("", "bob", "secret").Start()
	res, _, err := drive(start(t, mech, newBackend(), nil), ir, fixed())
	wantOutcome(t, res, err, "bob", nil)
}

func TestLOGIN(t *testing.T) {
	tests := []struct {
		name string
		ir   []byte
		next []string
		user string
		err  error
	}{
		{"prompted", nil, []string{"bob", "secret"}, "bob", nil},
		{"empty initial response", []byte{}, []string{"bob", "secret"}, "bob", nil},
		{"user as initial response", []byte("bob"), []string{"secret"}, "bob", nil},
		{"wrong password", nil, []string{"bob", "nope"}, "", ErrAuthFailed},
		{"unknown user", nil, []string{"eve", "secret"}, "", ErrAuthFailed},
		{"empty user after prompt", nil, []string{""}, "", ErrMalformed},
		{"nul in user", nil, []string{"b\x00b"}, "", ErrMalformed},
		{"nul in password", nil, []string{"bob", "sec\x00ret"}, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompts []string
			next := fixed(tt.next...)
			res, _, err := drive(start(t, "LOGIN", newBackend(), nil), tt.ir, func(ch []byte) ([]byte, error) {
				prompts = append(prompts, string(ch))
				return next(ch)
			})
			wantOutcome(t, res, err, tt.user, tt.err)
			for _, p := range prompts {
				if p != "Username:" && p != "Password:" {
					t.Fatalf("prompt %q", p)
				}
			}
		})
	}
}

// cramClient computes the RFC 2195 response with crypto/hmac, independently
// of the server's stored-context arithmetic.
func cramClient(user, password string) func([]byte) ([]byte, error) {
	return func(ch []byte) ([]byte, error) {
		m := hmac.New(md5.New, []byte(password))
		m.Write(ch)
		return []byte(user + " " + hex.EncodeToString(m.Sum(nil))), nil
	}
}

func TestCRAMMD5(t *testing.T) {
	b := newBackend()
	hashed, err := passwd.Hash("CRAM-MD5", "carol", "hmac key", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.users["carol"] = hashed
	long := strings.Repeat("k", 100) // over one MD5 block: the key is hashed first
	b.users["dave"] = "{PLAIN}" + long
	b.users["sha"] = "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="
	if out, err := exec.Command("doveadm", "pw", "-s", "CRAM-MD5", "-p", "dovecot made").Output(); err == nil {
		b.users["dove"] = strings.TrimSpace(string(out))
	}
	tests := []struct {
		name, user, password, wantUser string
		err                            error
	}{
		{"from plaintext", "bob", "secret", "bob", nil},
		{"from stored context", "carol", "hmac key", "carol", nil},
		{"long key", "dave", long, "dave", nil},
		{"wrong password", "bob", "wrong", "", ErrAuthFailed},
		{"unknown user", "eve", "secret", "", ErrAuthFailed},
		{"no usable credentials", "sha", "secret", "", ErrUnsupported},
	}
	if b.users["dove"] != "" {
		tests = append(tests, struct {
			name, user, password, wantUser string
			err                            error
		}{"doveadm context", "dove", "dovecot made", "dove", nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var challenge []byte
			client := cramClient(tt.user, tt.password)
			res, _, err := drive(start(t, "CRAM-MD5", b, nil), nil, func(ch []byte) ([]byte, error) {
				challenge = ch
				return client(ch)
			})
			wantOutcome(t, res, err, tt.wantUser, tt.err)
			if s := string(challenge); !strings.HasPrefix(s, "<") || !strings.HasSuffix(s, ">") || !strings.Contains(s, "@") {
				t.Fatalf("challenge %q is not a msg-id", s)
			}
		})
	}
	for _, tt := range []struct{ name, resp string }{
		{"no space", "bob"},
		{"short digest", "bob abcd"},
		{"not hex", "bob " + strings.Repeat("z", 32)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := drive(start(t, "CRAM-MD5", b, nil), nil, fixed(tt.resp))
			wantOutcome(t, nil, err, "", ErrMalformed)
		})
	}
	t.Run("initial response refused", func(t *testing.T) {
		_, _, err := drive(start(t, "CRAM-MD5", b, nil), []byte("bob x"), fixed())
		wantOutcome(t, nil, err, "", ErrMalformed)
	})
}

func TestAPOP(t *testing.T) {
	b := newBackend()
	r := &Request{Service: "pop3", ServerPID: 0x1f2e, ConnectUID: 7}
	banner := "<1f2e.7.5f5e100.abcdef@mail.example.org>"
	resp := func(ch, user, password string) []byte {
		d := md5.Sum([]byte(ch + password))
		return append([]byte(ch+"\x00"+user+"\x00"), d[:]...)
	}
	tests := []struct {
		name string
		r    *Request
		resp []byte
		user string
		err  error
	}{
		{"good", r, resp(banner, "bob", "secret"), "bob", nil},
		{"matching explicit challenge", &Request{APOPChallenge: "<1.2@h>"}, resp("<1.2@h>", "bob", "secret"), "bob", nil},
		{"wrong password", r, resp(banner, "bob", "wrong"), "", ErrAuthFailed},
		{"unknown user", r, resp(banner, "eve", "secret"), "", ErrAuthFailed},
		{"challenge of another connection", r, resp("<1f2e.8.5f5e100.abcdef@mail.example.org>", "bob", "secret"), "", ErrAuthFailed},
		{"challenge not the one issued", &Request{APOPChallenge: "<1.2@h>"}, resp("<1.3@h>", "bob", "secret"), "", ErrAuthFailed},
		{"nothing to check against", &Request{}, resp(banner, "bob", "secret"), "", ErrUnsupported},
		{"no plaintext available", r, resp(banner, "carol", "x"), "", ErrUnsupported},
		{"not a msg-id", r, resp("1f2e.7", "bob", "secret"), "", ErrMalformed},
		{"short digest", r, []byte(banner + "\x00bob\x00abc"), "", ErrMalformed},
		{"no user", r, []byte(banner), "", ErrMalformed},
		{"no initial response", r, nil, "", ErrMalformed},
	}
	hashed, _ := passwd.Hash("SHA512-CRYPT", "carol", "x", passwd.Options{})
	b.users["carol"] = hashed
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, err := drive(start(t, "APOP", b, tt.r), tt.resp, fixed())
			wantOutcome(t, res, err, tt.user, tt.err)
		})
	}
}

func TestEXTERNAL(t *testing.T) {
	cert := &Request{Service: "imap", ValidClientCert: true, CertUser: "bob"}
	tests := []struct {
		name string
		r    *Request
		ir   []byte
		next []string
		user string
		err  error
	}{
		{"certificate user", cert, []byte{}, nil, "bob", nil},
		{"same authzid", cert, []byte("bob"), nil, "bob", nil},
		{"prompted", cert, nil, []string{""}, "bob", nil},
		{"other authzid", cert, []byte("admin"), nil, "", ErrAuthzid},
		{"no verified certificate", &Request{Service: "imap", CertUser: "bob"}, []byte{}, nil, "", ErrAuthFailed},
		{"nul", cert, []byte("b\x00b"), nil, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, err := drive(start(t, "EXTERNAL", newBackend(), tt.r), tt.ir, fixed(tt.next...))
			wantOutcome(t, res, err, tt.user, tt.err)
		})
	}
}

func TestOAuth(t *testing.T) {
	bearer := func(user, token string) []byte {
		_, ir, _ := gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: user, Token: token, Host: "mail.example.org", Port: 993}).Start()
		return ir
	}
	xo := func(user, token string) []byte {
		return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
	}
	tests := []struct {
		name, mech string
		ir         []byte
		next       []string
		noTokens   bool
		user       string
		err        error
	}{
		{"oauthbearer", "OAUTHBEARER", bearer("bob", "tok-bob"), nil, false, "bob", nil},
		{"oauthbearer without authzid", "OAUTHBEARER", bearer("", "tok-bob"), nil, false, "bob", nil},
		{"oauthbearer extension pair", "OAUTHBEARER", []byte("n,,\x01auth=bearer tok-bob\x01ext=1\x01\x01"), nil, false, "bob", nil},
		{"oauthbearer escaped authzid", "OAUTHBEARER", []byte("n,a=b=3Db,\x01auth=Bearer tok-bob\x01\x01"), []string{"\x01"}, false, "", ErrAuthFailed},
		{"oauthbearer bad token", "OAUTHBEARER", bearer("bob", "nope"), []string{"\x01"}, false, "", ErrAuthFailed},
		{"oauthbearer other user's token", "OAUTHBEARER", bearer("alice@x.org", "tok-bob"), []string{"\x01"}, false, "", ErrAuthFailed},
		{"oauthbearer bad abort", "OAUTHBEARER", bearer("bob", "nope"), []string{""}, false, "", ErrMalformed},
		{"oauthbearer no validator", "OAUTHBEARER", bearer("bob", "tok-bob"), nil, true, "", ErrUnsupported},
		{"oauthbearer not bearer", "OAUTHBEARER", []byte("n,,\x01auth=Basic Ym9i\x01\x01"), nil, false, "", ErrMalformed},
		{"oauthbearer channel binding", "OAUTHBEARER", []byte("p=tls-exporter,,\x01auth=Bearer tok-bob\x01\x01"), nil, false, "", ErrMalformed},
		{"oauthbearer no auth", "OAUTHBEARER", []byte("n,,\x01host=x\x01\x01"), nil, false, "", ErrMalformed},
		{"oauthbearer unterminated", "OAUTHBEARER", []byte("n,,\x01auth=Bearer tok-bob"), nil, false, "", ErrMalformed},
		{"oauthbearer prompted", "OAUTHBEARER", nil, []string{string(bearer("bob", "tok-bob"))}, false, "bob", nil},
		{"xoauth2", "XOAUTH2", xo("bob", "tok-bob"), nil, false, "bob", nil},
		{"xoauth2 bad token", "XOAUTH2", xo("bob", "nope"), []string{""}, false, "", ErrAuthFailed},
		{"xoauth2 no user", "XOAUTH2", []byte("auth=Bearer tok-bob\x01\x01"), nil, false, "", ErrMalformed},
		{"xoauth2 unknown key", "XOAUTH2", []byte("user=bob\x01x=y\x01auth=Bearer tok-bob\x01\x01"), nil, false, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend()
			if tt.noTokens {
				b.tokens = nil
			}
			var challenges []string
			next := fixed(tt.next...)
			res, _, err := drive(start(t, tt.mech, b, nil), tt.ir, func(ch []byte) ([]byte, error) {
				challenges = append(challenges, string(ch))
				return next(ch)
			})
			wantOutcome(t, res, err, tt.user, tt.err)
			if errors.Is(tt.err, ErrAuthFailed) && (len(challenges) == 0 || !strings.Contains(challenges[len(challenges)-1], `"status":"invalid_token"`)) {
				t.Fatalf("no JSON error challenge before the failure: %q", challenges)
			}
		})
	}
}

func TestSessionAfterEnd(t *testing.T) {
	s := start(t, "PLAIN", newBackend(), nil)
	if _, done, err := s.Next([]byte("\x00bob\x00secret")); !done || err != nil {
		t.Fatal(done, err)
	}
	if _, _, err := s.Next(nil); !errors.Is(err, ErrDone) {
		t.Fatalf("Next after done: %v", err)
	}
	if s.Result() == nil {
		t.Fatal("result lost")
	}
	s = start(t, "PLAIN", newBackend(), nil)
	if _, _, err := s.Next([]byte("\x00bob\x00wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if s.Result() != nil {
		t.Fatal("result after failure")
	}
	if _, _, err := s.Next([]byte("\x00bob\x00secret")); !errors.Is(err, ErrDone) {
		t.Fatalf("retry after failure: %v", err)
	}
}
