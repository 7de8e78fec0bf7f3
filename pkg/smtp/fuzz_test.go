package smtp

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseAddress checks that parsing never panics and that every accepted
// address renders to a string that parses back to the same address.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@b.c", `"a b"@x`, "u@[IPv6:::1]", "u@Bücher.de", "a..b@x", `"\"@x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		b, err := ParseAddress(a.String())
		if err != nil || a != b {
			t.Fatalf("%q -> %#v -> %q -> %#v, %v", s, a, a.String(), b, err)
		}
		if _, err := ParseDecoded(a.Local + "@" + a.Domain); err != nil && len(a.Local) <= MaxLocalPart {
			t.Fatalf("ParseDecoded refuses what ParseAddress accepted: %q: %v", s, err)
		}
	})
}

// FuzzParsePath covers the bracketed forms, null path and source routes.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"<>", "<a@b>", "<@x,@y:a@b>", "<@:a@b>", "<\"q\"@x>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, null, err := ParsePath(s)
		if err != nil {
			return
		}
		if null != (a == Address{}) {
			t.Fatalf("%q: null=%v addr=%#v", s, null, a)
		}
		if !null {
			if _, err := NormalizeDomain(a.Domain); err != nil {
				t.Fatalf("%q: domain %q not normalised: %v", s, a.Domain, err)
			}
		}
	})
}

// FuzzAliases loads arbitrary alias and virtual files and expands a few
// recipients: no panic, bounded output, errors instead of hangs.
func FuzzAliases(f *testing.F) {
	f.Add("root: alice\nalice: alice, bob@x\n", "root")
	f.Add("\"a b\": \"|cmd x\", /f\n  c\n", "a b")
	f.Add("a: b\nb: a\n", "a")
	f.Add("info@v.example a@x, b\n@v.example c@y\nv.example x\n", "info")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data, local string) {
		p := filepath.Join(dir, "aliases")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		opt := AliasOptions{RecipientDelimiter: "+", AllowPipes: len(local)%2 == 0}
		for _, load := range []func(string, AliasOptions) (*Aliases, error){LoadAliases, LoadVirtualAliases} {
			a, err := load(p, opt)
			if err != nil {
				continue
			}
			out, err := a.Expand(Address{Local: local, Domain: "v.example"})
			if err == nil && len(out) == 0 {
				t.Fatalf("empty expansion without error for %q", local)
			}
		}
	})
}
