package login

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"testing"

	"github.com/cote-mail/cote/pkg/ipc"
)

func TestChrootPath(t *testing.T) {
	cases := []struct {
		name, chroot, path, noPrivsep, want string
	}{
		{"not chrooted", "", "/run/cote/login/auth-client", "", "/run/cote/login/auth-client"},
		{"inside the chroot", "/run/cote/login", "/run/cote/login/auth-client", "", "/auth-client"},
		{"outside the chroot", "/run/cote/login", "/run/cote/auth-client", "", "/run/cote/auth-client"},
		{"privsep off: no chroot applied", "/run/cote/login", "/run/cote/login/auth-client", "1", "/run/cote/login/auth-client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(ipc.EnvNoPrivsep, tc.noPrivsep)
			if got := ChrootPath(tc.chroot, tc.path); got != tc.want {
				t.Errorf("ChrootPath(%q, %q) = %q, want %q", tc.chroot, tc.path, got, tc.want)
			}
		})
	}
}

// RFC 5929 §4.1: the certificate's signature hash, SHA-256 for MD5, SHA-1
// and algorithms without one.
func TestServerEndPoint(t *testing.T) {
	raw := []byte("certificate bytes")
	s256, s384, s512 := sha256.Sum256(raw), sha512.Sum384(raw), sha512.Sum512(raw)
	cases := []struct {
		name string
		alg  x509.SignatureAlgorithm
		want []byte
	}{
		{"SHA-1 becomes SHA-256", x509.SHA1WithRSA, s256[:]},
		{"ECDSA SHA-256", x509.ECDSAWithSHA256, s256[:]},
		{"ECDSA SHA-384", x509.ECDSAWithSHA384, s384[:]},
		{"RSA SHA-512", x509.SHA512WithRSA, s512[:]},
		{"Ed25519", x509.PureEd25519, s256[:]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := serverEndPoint(&x509.Certificate{Raw: raw, SignatureAlgorithm: tc.alg})
			if string(got) != string(tc.want) {
				t.Errorf("got %x, want %x", got, tc.want)
			}
		})
	}
}
