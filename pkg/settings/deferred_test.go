package settings

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A `key = <file` value is read only when it stays in effect: the shipped
// 10-ssl.conf names /etc/pki/cote files that a later file may override.
func TestDeferredFileValues(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := write("cert.pem", "CERT")
	missing := filepath.Join(dir, "nope.pem")

	t.Run("overridden file is never read", func(t *testing.T) {
		conf := write("a.conf", "ssl_cert = <"+missing+"\nssl_cert = <"+cert+"\n")
		c, err := Load(conf)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Root.Get("ssl_cert"); got != "CERT" {
			t.Fatalf("ssl_cert = %q, want the file's contents", got)
		}
		if !slices.Contains(c.Files, cert) || slices.Contains(c.Files, missing) {
			t.Fatalf("Files = %q: want the read file listed and the overridden one not", c.Files)
		}
	})
	t.Run("effective missing file is an error at its line", func(t *testing.T) {
		conf := write("b.conf", "ssl_cert = <"+cert+"\nssl_cert = <"+missing+"\n")
		_, err := Load(conf)
		want := conf + ":2: ssl_cert: cannot read <" + missing + ": no such file or directory"
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v\nwant %s", err, want)
		}
	})
	t.Run("file value is validated after reading", func(t *testing.T) {
		bad := write("port", "not-a-port")
		conf := write("c.conf", "service imap-login {\n  inet_listener imap {\n    port = <"+bad+"\n  }\n}\n")
		_, err := Load(conf)
		if err == nil || !strings.HasPrefix(err.Error(), conf+":3: port: ") {
			t.Fatalf("error = %v, want one naming %s:3 and port", err, conf)
		}
	})
}
