package tlsconf

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/youmark/pkcs8"
)

// keyPair loads a PEM certificate chain and its private key. certName and
// keyName are the setting names used in errors ("ssl_cert", or
// "local_name mail.example.com: ssl_cert"); pos prefixes are applied by the
// caller.
type keyPair struct {
	cert, key, password string
	certName, keyName   string
	certPos, keyPos     string
}

func at(pos, msg string) error {
	if pos != "" {
		return errors.New(pos + ": " + msg)
	}
	return errors.New(msg)
}

// load returns the certificate and warnings (an expired certificate, a
// password given for a key that is not encrypted).
func (kp keyPair) load(now time.Time) (tls.Certificate, []string, error) {
	var warnings []string
	var chain [][]byte
	rest := []byte(kp.cert)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return tls.Certificate{}, nil, at(kp.certPos, kp.certName+": no PEM certificate found")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return tls.Certificate{}, nil, at(kp.certPos, fmt.Sprintf("%s: cannot parse the certificate: %v", kp.certName, err))
	}
	if now.After(leaf.NotAfter) {
		warnings = append(warnings, at(kp.certPos, fmt.Sprintf("%s: the certificate expired on %s",
			kp.certName, leaf.NotAfter.UTC().Format(time.DateOnly))).Error())
	}

	key, encrypted, err := kp.parseKey()
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	if kp.password != "" && !encrypted {
		warnings = append(warnings, at(kp.keyPos, kp.keyName+"_password is set but "+kp.keyName+" is not encrypted").Error())
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, nil, at(kp.keyPos, kp.keyName+": does not match "+kp.certName)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, warnings, nil
}

// parseKey finds the first private key block and decodes it, decrypting
// it with the password when it is encrypted. Encrypted PKCS#8 ("ENCRYPTED
// PRIVATE KEY", what `openssl genpkey -aes256` and OpenSSL 3's `openssl rsa
// -aes256` write) goes through github.com/youmark/pkcs8, as the standard
// library cannot decrypt it; it covers PBES2 with PBKDF2 or scrypt and
// AES-CBC/GCM or 3DES, OpenSSL's defaults since 1.1. The legacy
// "Proc-Type: 4,ENCRYPTED" form (`openssl genrsa -des3` in OpenSSL 1.x)
// goes through x509.DecryptPEMBlock: deprecated because its CBC padding
// check is a padding oracle against an attacker who can submit ciphertexts,
// which cannot happen to a key file read from local disk.
func (kp keyPair) parseKey() (crypto.Signer, bool, error) {
	rest := []byte(kp.key)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, false, at(kp.keyPos, kp.keyName+": no PEM private key found")
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue // "EC PARAMETERS" and certificates may share the file
		}
		der := b.Bytes
		encrypted := false
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY":
			if kp.password == "" {
				return nil, false, at(kp.keyPos, kp.keyName+": encrypted key needs "+kp.keyName+"_password")
			}
			k, err := pkcs8.ParsePKCS8PrivateKey(der, []byte(kp.password))
			if err != nil {
				return nil, false, at(kp.keyPos, fmt.Sprintf("%s: cannot decrypt with %s_password (wrong password or unsupported encryption: %v)",
					kp.keyName, kp.keyName, err))
			}
			return signer(k, kp)
		case x509.IsEncryptedPEMBlock(b): //nolint:staticcheck // see above
			if kp.password == "" {
				return nil, false, at(kp.keyPos, kp.keyName+": encrypted key needs "+kp.keyName+"_password")
			}
			var err error
			der, err = x509.DecryptPEMBlock(b, []byte(kp.password)) //nolint:staticcheck // see above
			if err != nil {
				return nil, false, at(kp.keyPos, fmt.Sprintf("%s: cannot decrypt with %s_password (wrong password?)", kp.keyName, kp.keyName))
			}
			encrypted = true
		}
		k, err := parseDER(der)
		if err != nil {
			if encrypted {
				return nil, false, at(kp.keyPos, fmt.Sprintf("%s: cannot decrypt with %s_password (wrong password?)", kp.keyName, kp.keyName))
			}
			return nil, false, at(kp.keyPos, fmt.Sprintf("%s: cannot parse the %s: %v", kp.keyName, strings.ToLower(b.Type), err))
		}
		s, _, err := signer(k, kp)
		return s, encrypted, err
	}
}

func signer(k any, kp keyPair) (crypto.Signer, bool, error) {
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, false, at(kp.keyPos, fmt.Sprintf("%s: unsupported key type %T", kp.keyName, k))
	}
	return s, true, nil
}

// parseDER tries the three unencrypted encodings OpenSSL writes: PKCS#8,
// PKCS#1 (RSA) and SEC 1 (EC).
func parseDER(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, errors.New("neither PKCS#8, PKCS#1 nor SEC 1")
	}
	return k, nil
}
