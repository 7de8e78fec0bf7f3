package tlsconf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// needOpenSSL returns the openssl binary. The cipher tests compare against
// the real `openssl ciphers`, so CI must have it; elsewhere the test skips.
func needOpenSSL(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not found: apt-get install openssl")
		}
		t.Skip("openssl not found (apt-get install openssl)")
	}
	return p
}

// mkcertScript is scripts/mkcert.sh of this repository.
func mkcertScript(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "mkcert.sh")
}

// runMkcert runs scripts/mkcert.sh with SSLDIR=dir and extra NAME=value
// environment, returning its combined output.
func runMkcert(t testing.TB, dir string, env ...string) (string, error) {
	t.Helper()
	needOpenSSL(t)
	cmd := exec.Command("sh", mkcertScript(t))
	cmd.Env = append(os.Environ(), "SSLDIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

type pemPair struct{ cert, key, dir string }

var (
	certsMu sync.Mutex
	certs   = map[string]pemPair{}
	certDir string
)

// testCert returns a certificate made by mkcert.sh for host name cn, made
// once per test binary: RSA 3072 key generation is slow on a loaded machine.
func testCert(t testing.TB, cn string) pemPair {
	t.Helper()
	certsMu.Lock()
	defer certsMu.Unlock()
	if p, ok := certs[cn]; ok {
		return p
	}
	dir := filepath.Join(certDir, cn)
	out, err := runMkcert(t, dir, "HOSTNAME_CN="+cn)
	if err != nil {
		t.Fatalf("mkcert.sh: %v\n%s", err, out)
	}
	c, err := os.ReadFile(filepath.Join(dir, "certs", "cote.pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(filepath.Join(dir, "private", "cote.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := pemPair{cert: string(c), key: string(k), dir: dir}
	certs[cn] = p
	return p
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "tlsconf-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	certDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
