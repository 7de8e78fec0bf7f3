package tlsconf

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMkcert(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	out, err := runMkcert(t, dir, "HOSTNAME_CN=imap.example.org")
	if err != nil {
		t.Fatalf("mkcert.sh: %v\n%s", err, out)
	}
	certFile := filepath.Join(dir, "certs", "cote.pem")
	keyFile := filepath.Join(dir, "private", "cote.pem")
	if !strings.Contains(out, "sha256 Fingerprint=") {
		t.Errorf("no fingerprint printed:\n%s", out)
	}

	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{certFile, 0o644}, {keyFile, 0o600}} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %o, want %o", f.path, st.Mode().Perm(), f.mode)
		}
	}

	b, _ := os.ReadFile(certFile)
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM in the certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if pk, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pk.N.BitLen() != 3072 {
		t.Errorf("key %T, want RSA 3072", cert.PublicKey)
	}
	if !slices.Contains(cert.DNSNames, "imap.example.org") || !slices.Contains(cert.DNSNames, "localhost") {
		t.Errorf("subjectAltName %v lacks the host name or localhost", cert.DNSNames)
	}
	if cert.Subject.CommonName != "imap.example.org" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	days := cert.NotAfter.Sub(start).Hours() / 24
	if days < 364 || days > 366 {
		t.Errorf("valid for %.1f days, want 365", days)
	}
	kb, _ := os.ReadFile(keyFile)
	if _, _, err := (keyPair{cert: string(b), key: string(kb), certName: "ssl_cert", keyName: "ssl_key"}).load(time.Now()); err != nil {
		t.Errorf("the pair does not load: %v", err)
	}

	// A second run must refuse, name the file, and leave both files alone.
	out, err = runMkcert(t, dir)
	if err == nil || !strings.Contains(out, certFile+" already exists") {
		t.Errorf("second run: err %v, output %q; want a refusal naming %s", err, out, certFile)
	}
	if b2, _ := os.ReadFile(certFile); string(b2) != string(b) {
		t.Error("the certificate was overwritten")
	}

	// With only the key present, it names the key.
	dir2 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir2, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	key2 := filepath.Join(dir2, "private", "cote.pem")
	if err := os.WriteFile(key2, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runMkcert(t, dir2)
	if err == nil || !strings.Contains(out, key2+" already exists") {
		t.Errorf("existing key: err %v, output %q; want a refusal naming %s", err, out, key2)
	}
	if b, _ := os.ReadFile(key2); string(b) != "keep me" {
		t.Error("the key was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir2, "certs", "cote.pem")); err == nil {
		t.Error("a certificate was written although the key existed")
	}
}

func TestMkcertExplicitPaths(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "a", "server.crt")
	kf := filepath.Join(dir, "b", "server.key")
	out, err := runMkcert(t, filepath.Join(dir, "unused"), "CERTFILE="+cf, "KEYFILE="+kf, "DAYS=30", "HOSTNAME_CN=localhost")
	if err != nil {
		t.Fatalf("mkcert.sh: %v\n%s", err, out)
	}
	for _, f := range []string{cf, kf} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "unused", "certs")); err == nil {
		t.Error("mkcert.sh created the default certs dir although CERTFILE was given")
	}
}
