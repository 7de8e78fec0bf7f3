package sasl

import (
	"bytes"
	"testing"
)

// fuzzExchange runs mech with the fuzzer's responses (split at 0xff, a byte
// no seed needs elsewhere): no input may panic, and a success must name a
// user the backend knows.
func fuzzExchange(t *testing.T, mech string, r *Request, data []byte) {
	b := newBackend()
	if r == nil {
		r = &Request{Service: "imap", ServerPID: 0x1f2e, ConnectUID: 7, ValidClientCert: true, CertUser: "bob"}
	}
	s := Lookup(mech).New(t.Context(), b, r)
	parts := bytes.Split(data, []byte{0xff})
	for i, p := range parts {
		if i == 0 && len(p) == 0 {
			p = nil // no initial response
		}
		_, done, err := s.Next(p)
		if err != nil {
			return
		}
		if done {
			res := s.Result()
			if res == nil {
				t.Fatal("done without a result")
			}
			if _, known := b.users[res.User]; !known {
				t.Fatalf("authenticated unknown user %q", res.User)
			}
			return
		}
	}
}

func FuzzPLAIN(f *testing.F) {
	f.Add([]byte("\x00bob\x00secret"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExchange(t, "PLAIN", nil, data) })
}

func FuzzLOGIN(f *testing.F) {
	f.Add([]byte("\xffbob\xffsecret"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExchange(t, "LOGIN", nil, data) })
}

func FuzzCRAM(f *testing.F) {
	f.Add([]byte("\xffbob 0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExchange(t, "CRAM-MD5", nil, data) })
}

func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=bob,r=abcdefghijkl"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzExchange(t, "SCRAM-SHA-256", nil, data)
		fuzzExchange(t, "SCRAM-SHA-1-PLUS", &Request{CBindType: "tls-exporter", CBind: []byte("0123456789abcdef0123456789abcdef")}, data)
	})
}

func FuzzOAUTH(f *testing.F) {
	f.Add([]byte("n,a=bob,\x01auth=Bearer tok-bob\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzExchange(t, "OAUTHBEARER", nil, data)
		fuzzExchange(t, "XOAUTH2", nil, data)
	})
}

func FuzzAPOP(f *testing.F) {
	f.Add([]byte("<1f2e.7.1@h>\x00bob\x000123456789abcdef"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExchange(t, "APOP", nil, data) })
}

func FuzzEXTERNAL(f *testing.F) {
	f.Add([]byte("bob"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExchange(t, "EXTERNAL", nil, data) })
}
