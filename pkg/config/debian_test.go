package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebianStockTree parses a copy of Debian's /etc/dovecot (package
// dovecot-core) and expects no syntax error. Its absolute references
// (/usr/share/dovecot/protocols.d, ssl_dh) stay as they are; the only
// errors allowed are ssl_cert/ssl_key files that the package's postinst
// creates and a bare build machine may lack.
func TestDebianStockTree(t *testing.T) {
	const src = "/etc/dovecot"
	if _, err := os.Stat(filepath.Join(src, "dovecot.conf")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs Debian's dovecot-core installed: %v", err)
		}
		t.Skipf("dovecot-core not installed: %v", err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	// Dovecot's default for `protocols`, which protocols.d extends with
	// `protocols = $protocols imap`.
	opt := defaults(map[string]string{"protocols": ""})
	tree, err := ParseFile(filepath.Join(dir, "dovecot.conf"), opt)
	if err != nil {
		for _, e := range err.(ErrorList) {
			if (e.Key == "ssl_cert" || e.Key == "ssl_key") && strings.HasPrefix(e.Msg, "cannot read </etc/dovecot/private/") {
				continue
			}
			t.Errorf("unexpected error: %v", e)
		}
	}
	if len(tree.Warnings) > 0 {
		t.Errorf("warnings: %v", ErrorList(tree.Warnings))
	}
	var found bool
	for _, n := range tree.Root.Children {
		if n.Section && n.Key == "service" && n.Name == "imap-login" {
			for _, c := range n.Children {
				if c.Section && c.Key == "inet_listener" && c.Name == "imaps" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("no service imap-login { inet_listener imaps { } } in the parsed tree")
	}
	var confd int
	for _, f := range tree.Files {
		if strings.HasPrefix(f, filepath.Join(dir, "conf.d")+"/") {
			confd++
		}
	}
	if confd < 10 {
		t.Errorf("read %d conf.d files, want the stock tree's (over 10): %v", confd, tree.Files)
	}
}
