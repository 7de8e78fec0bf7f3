package testkit

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Cert is a certificate made by the shipped scripts/mkcert.sh, laid out as
// mkcert lays out /etc/pki/cote: SSLDir/certs/cote.pem and
// SSLDir/private/cote.pem.
type Cert struct {
	SSLDir   string
	CertFile string
	KeyFile  string
	// Pool holds the certificate itself: it is self-signed, so it is its own
	// root and clients verify against it with ServerName "localhost".
	Pool *x509.CertPool
}

// ClientConfig returns a TLS client configuration that verifies the server
// against c with the given server name ("localhost" matches the mkcert
// subjectAltName).
func (c *Cert) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

var (
	certOnce sync.Once
	certVal  *Cert
	certErr  error
)

// MakeCert runs scripts/mkcert.sh once per test process into a directory
// under os.TempDir() and returns the certificate. openssl must be installed.
func MakeCert(t testing.TB) *Cert {
	t.Helper()
	root := ModuleRoot(t)
	RequireTool(t, "openssl", "openssl")
	certOnce.Do(func() { certVal, certErr = makeCert(root) })
	if certErr != nil {
		t.Fatalf("testkit: mkcert: %v", certErr)
	}
	return certVal
}

func makeCert(root string) (*Cert, error) {
	script := filepath.Join(root, "scripts", "mkcert.sh")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("scripts/mkcert.sh: %w", err)
	}
	cnf := filepath.Join(root, "scripts", "cote-openssl.cnf")
	// The certificate is cached beside the binaries, keyed by the script and
	// its openssl configuration, so a change to either makes a new one.
	h := sha256.New()
	for _, f := range []string{script, cnf} {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		h.Write(data)
	}
	cacheRoot := filepath.Join(os.TempDir(), fmt.Sprintf("cote-testkit-%d", os.Getuid()))
	if err := os.MkdirAll(cacheRoot, 0o700); err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheRoot, "cert-"+hex.EncodeToString(h.Sum(nil))[:16])
	c := certIn(dir)
	if _, err := os.Stat(c.KeyFile); err != nil {
		tmp, err := os.MkdirTemp(cacheRoot, "mkcert-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		tc := certIn(tmp)
		cmd := exec.Command("sh", script)
		cmd.Env = append(os.Environ(),
			"SSLDIR="+tmp,
			"OPENSSLCONFIG="+cnf,
			"CERTDIR="+filepath.Join(tmp, "certs"),
			"KEYDIR="+filepath.Join(tmp, "private"),
			"CERTFILE="+tc.CertFile,
			"KEYFILE="+tc.KeyFile,
		)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", script, err, out)
		}
		// A concurrent test process may have renamed its copy first.
		if err := os.Rename(tmp, dir); err != nil {
			if _, serr := os.Stat(c.KeyFile); serr != nil {
				return nil, err
			}
		}
	}
	pem, err := os.ReadFile(c.CertFile)
	if err != nil {
		return nil, err
	}
	c.Pool = x509.NewCertPool()
	if !c.Pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("mkcert.sh wrote no PEM certificate")
	}
	return c, nil
}

func certIn(dir string) *Cert {
	return &Cert{
		SSLDir:   dir,
		CertFile: filepath.Join(dir, "certs", "cote.pem"),
		KeyFile:  filepath.Join(dir, "private", "cote.pem"),
	}
}
