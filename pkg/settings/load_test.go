package settings

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite want and golden files")

// loadErrs loads path and returns its error lines with dir+"/" removed, so
// expectations name files relative to the case directory.
func loadErrs(t *testing.T, path, dir string) (*Config, []string) {
	t.Helper()
	c, err := Load(path)
	if err == nil {
		return c, nil
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load(%s): error %T %v, want *LoadError", path, err, err)
	}
	var out []string
	for _, e := range le.Errs {
		out = append(out, strings.ReplaceAll(e, dir+"/", ""))
	}
	return nil, out
}

func diffLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("%s:\n-want\n%s\n+got\n%s", what, strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestBrokenCorpus loads every testdata/broken/<case>/cote.conf and
// compares its errors with the case's want file, line for line.
func TestBrokenCorpus(t *testing.T) {
	cases, err := filepath.Glob("testdata/broken/*")
	if err != nil || len(cases) < 12 {
		t.Fatalf("broken corpus: %d cases, err %v", len(cases), err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, got := loadErrs(t, filepath.Join(abs, "cote.conf"), abs)
			if len(got) == 0 {
				t.Fatalf("loaded without error")
			}
			wantFile := filepath.Join(dir, "want")
			if *update {
				if err := os.WriteFile(wantFile, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			diffLines(t, "errors", readLines(t, wantFile), got)
		})
	}
}

// copyTree copies the regular files and directories of src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDebianStockTree loads Debian 12's /etc/dovecot (dovecot-core) copied
// unchanged and expects exactly these errors and warnings. Its absolute
// `!include_try /usr/share/dovecot/protocols.d/*.protocol` and `<file`
// values read the installed package's files, as Dovecot would.
func TestDebianStockTree(t *testing.T) {
	if _, err := os.Stat("/etc/dovecot/dovecot.conf"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("/etc/dovecot is missing: apt-get install dovecot-core")
		}
		t.Skip("/etc/dovecot is missing (apt-get install dovecot-core)")
	}
	if os.Geteuid() != 0 {
		t.Skip("reading /etc/dovecot/private needs root")
	}
	dir := t.TempDir()
	copyTree(t, "/etc/dovecot", dir)
	_, got := loadErrs(t, filepath.Join(dir, "dovecot.conf"), dir)
	diffLines(t, "errors", []string{
		"conf.d/10-mail.conf:30: mail_location: mbox is not supported yet; use maildir:...",
	}, got)

	// Without the mbox line, the rest loads with exactly these warnings.
	mail := filepath.Join(dir, "conf.d", "10-mail.conf")
	b, err := os.ReadFile(mail)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "\nmail_location = mbox:", "\nmail_location = maildir:", 1))
	if err := os.WriteFile(mail, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, got := loadErrs(t, filepath.Join(dir, "dovecot.conf"), dir)
	diffLines(t, "errors after mbox->maildir", nil, got)
	if c == nil {
		return
	}
	var warns []string
	for _, w := range c.Warnings {
		warns = append(warns, strings.ReplaceAll(w, dir+"/", ""))
	}
	diffLines(t, "warnings", []string{
		"conf.d/10-mail.conf:114: mail_privileged_group: not used: it only serves mbox dotlocks, and cote does not read mbox",
		"conf.d/10-ssl.conf:36: ssl_client_ca_dir: not used: cote verifies no client certificates and makes no outgoing TLS connections yet",
		"conf.d/10-ssl.conf:55: ssl_dh: not used: Go negotiates no DHE cipher suites",
	}, warns)
	// `protocols = $protocols imap` starts from the default "imap pop3 lmtp".
	diffLines(t, "protocols", []string{"imap", "pop3", "lmtp"}, c.protocolSet())
	diffLines(t, "missing protocols", nil, c.MissingProtocols())
}

// TestShippedTree loads etc/cote.conf and etc/conf.d unchanged: no errors
// and no warnings, except the certificate files, which exist only once
// mkcert.sh has run.
func TestShippedTree(t *testing.T) {
	src, err := filepath.Abs("../../etc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "cote.conf")); err != nil {
		t.Skip("etc/cote.conf not written yet")
	}
	dir := t.TempDir()
	copyTree(t, src, dir)
	c, got := loadErrs(t, filepath.Join(dir, "cote.conf"), dir)
	var unexpected []string
	for _, e := range got {
		if strings.Contains(e, "/etc/pki/cote/") {
			if _, err := os.Stat("/etc/pki/cote/certs/cote.pem"); err != nil {
				continue // mkcert.sh has not run on this machine
			}
		}
		unexpected = append(unexpected, e)
	}
	diffLines(t, "errors", nil, unexpected)
	if c != nil {
		diffLines(t, "warnings", nil, c.Warnings)
	}
}
