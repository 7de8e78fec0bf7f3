package smtp

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	cases := []struct {
		name, in string
		want     Address
		str      string
		wantErr  bool
	}{
		{"plain", "User@Example.COM", Address{"User", "example.com"}, "User@example.com", false},
		{"dots", "a.b.c@x.org", Address{"a.b.c", "x.org"}, "a.b.c@x.org", false},
		{"quoted space", `"a b"@x.org`, Address{"a b", "x.org"}, `"a b"@x.org`, false},
		{"quoted pair", `"a\"b"@x.org`, Address{`a"b`, "x.org"}, `"a\"b"@x.org`, false},
		{"quoted at", `"b@c"@local`, Address{"b@c", "local"}, `"b@c"@local`, false},
		{"percent", "user%other@local", Address{"user%other", "local"}, "user%other@local", false},
		{"bang", "other!user@local", Address{"other!user", "local"}, "other!user@local", false},
		{"idn", "u@Bücher.example", Address{"u", "xn--bcher-kva.example"}, "u@xn--bcher-kva.example", false},
		{"utf8 local", "jörg@x.de", Address{"jörg", "x.de"}, "jörg@x.de", false},
		{"literal v4", "u@[192.0.2.1]", Address{"u", "[192.0.2.1]"}, "u@[192.0.2.1]", false},
		{"literal v6", "u@[ipv6:2001:DB8::1]", Address{"u", "[IPv6:2001:db8::1]"}, "u@[IPv6:2001:db8::1]", false},
		{"double at", "user@other@local", Address{}, "", true},
		{"trailing dot", "u@example.com.", Address{}, "", true},
		{"leading dot local", ".u@x", Address{}, "", true},
		{"double dot local", "a..b@x", Address{}, "", true},
		{"empty local", "@x", Address{}, "", true},
		{"empty quoted", `""@x`, Address{}, "", true},
		{"no domain", "u@", Address{}, "", true},
		{"no at", "u", Address{}, "", true},
		{"bad label", "u@-x.org", Address{}, "", true},
		{"underscore", "u@a_b.org", Address{}, "", true},
		{"bad literal", "u@[300.1.1.1]", Address{}, "", true},
		{"v4 as v6", "u@[IPv6:1.2.3.4]", Address{}, "", true},
		{"control", "a\x01b@x", Address{}, "", true},
		{"long local", string(make65()) + "@x", Address{}, "", true},
		{"unterminated", `"ab@x`, Address{}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAddress(c.in)
			if c.wantErr {
				if err == nil || !errors.Is(err, ErrSyntax) {
					t.Fatalf("ParseAddress(%q) = %v, %v; want syntax error", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseAddress(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
			}
			if s := got.String(); s != c.str {
				t.Fatalf("String() = %q, want %q", s, c.str)
			}
			again, err := ParseAddress(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip %q -> %#v, %v", got.String(), again, err)
			}
		})
	}
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

func TestParseDecoded(t *testing.T) {
	cases := []struct {
		name, in string
		want     Address
		routing  bool
		wantErr  bool
	}{
		{"plain", "a@X.org", Address{"a", "x.org"}, false, false},
		{"unquoted at", "b@c@local", Address{"b@c", "local"}, true, false},
		{"space", "a b@x", Address{"a b", "x"}, false, false},
		{"percent", "u%v@x", Address{"u%v", "x"}, true, false},
		{"no local", "@x", Address{}, false, true},
		{"trailing dot", "a@x.", Address{}, false, true},
		{"nul", "a\x00@x", Address{}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseDecoded(c.in)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("ParseDecoded(%q) = %#v, %v", c.in, got, err)
			}
			if err == nil && got.HasRoutingChars() != c.routing {
				t.Fatalf("HasRoutingChars = %v", got.HasRoutingChars())
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	cases := []struct {
		name, in string
		want     Address
		null     bool
		wantErr  bool
	}{
		{"null", "<>", Address{}, true, false},
		{"plain", "<a@b.c>", Address{"a", "b.c"}, false, false},
		{"source route", "<@relay.example,@r2.example:b@c.example>", Address{"b", "c.example"}, false, false},
		{"bad route", "<@:b@c>", Address{}, false, true},
		{"route no colon", "<@a b@c>", Address{}, false, true},
		{"no brackets", "a@b", Address{}, false, true},
		{"trailing junk", "<a@b>x", Address{}, false, true},
		{"empty", "", Address{}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, null, err := ParsePath(c.in)
			if (err != nil) != c.wantErr || got != c.want || null != c.null {
				t.Fatalf("ParsePath(%q) = %#v, %v, %v", c.in, got, null, err)
			}
		})
	}
}

func TestPunycode(t *testing.T) {
	// RFC 3492 section 7.1 samples and common IDNs.
	cases := map[string]string{
		"bücher":            "bcher-kva",
		"münchen":           "mnchen-3ya",
		"ليهمابتكلموشعربي؟": "egbpdaj6bu4bxfgehfvwxn",
		"他们为什么不说中文":         "ihqwcrb4cv8a8dqg056pqjye",
	}
	for in, want := range cases {
		got, err := punyEncode(in)
		if err != nil || got != want {
			t.Errorf("punyEncode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestRouting(t *testing.T) {
	r := &Routing{
		MyHostname:            "mx.example.org",
		MyDestination:         []string{"example.org", "localhost"},
		VirtualMailboxDomains: []string{"virt.example"},
		RelayDomains:          []string{"backup.example", ".sub.example"},
	}
	cases := []struct {
		domain string
		want   Class
	}{
		{"example.org", Local},
		{"EXAMPLE.org", Local},
		{"mx.example.org", Local},
		{"localhost", Local},
		{"virt.example", Virtual},
		{"backup.example", Relay},
		{"a.sub.example", Relay},
		{"sub.example", Remote},
		{"other.example", Remote},
		{"example.org.", Remote},
		{"[127.0.0.1]", Remote},
	}
	for _, c := range cases {
		t.Run(c.domain, func(t *testing.T) {
			if got := r.Class(c.domain); got != c.want {
				t.Fatalf("Class(%q) = %v, want %v", c.domain, got, c.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAliases(t *testing.T) {
	dir := t.TempDir()
	inc := writeFile(t, dir, "team.inc", "# team\ncarol, dave\n  erin\n")
	p := writeFile(t, dir, "aliases", `# comment
postmaster: root
root: alice
Alice: alice, backup@other.example
"sales team": bob
team: :include:`+inc+`
loop1: loop2
loop2: loop1
pipe: "|/usr/bin/procmail -a x"
file: /var/mail/archive
multi: frank,
	grace
`)
	opt := AliasOptions{RecipientDelimiter: "+"}
	a, err := LoadAliases(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	ad := func(l string) Address { return Address{l, "example.org"} }
	cases := []struct {
		name    string
		in      Address
		want    []Address
		wantErr error
	}{
		{"not alias", ad("zed"), []Address{ad("zed")}, nil},
		{"chain and self", ad("postmaster"), []Address{ad("alice"), {"backup", "other.example"}}, nil},
		{"case", ad("ROOT"), []Address{ad("alice"), {"backup", "other.example"}}, nil},
		{"quoted key", ad("sales team"), []Address{ad("bob")}, nil},
		{"include", ad("team"), []Address{ad("carol"), ad("dave"), ad("erin")}, nil},
		{"loop", ad("loop1"), []Address{ad("loop1")}, nil},
		{"continuation", ad("multi"), []Address{ad("frank"), ad("grace")}, nil},
		{"delimiter", ad("multi+tag"), []Address{ad("frank"), ad("grace")}, nil},
		{"pipe refused", ad("pipe"), nil, ErrAliasTarget},
		{"file refused", ad("file"), nil, ErrAliasTarget},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := a.Expand(c.in)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Expand = %v, %v; want %v", got, err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("Expand(%v) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
	opt.AllowPipes, opt.AllowFiles = true, true
	a, err = LoadAliases(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Expand(ad("pipe"))
	if err != nil || !slices.Equal(got, []Address{{Local: "|/usr/bin/procmail -a x"}}) {
		t.Fatalf("allowed pipe: %v, %v", got, err)
	}
	got, err = a.Expand(ad("file"))
	if err != nil || !slices.Equal(got, []Address{{Local: "/var/mail/archive"}}) {
		t.Fatalf("allowed file: %v, %v", got, err)
	}
}

func TestAliasDepth(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "aliases", "a: b\nb: c\nc: d\nd: e\n")
	a, err := LoadAliases(p, AliasOptions{MaxDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expand(Address{"a", "x"}); !errors.Is(err, ErrAliasLoop) {
		t.Fatalf("want depth error, got %v", err)
	}
	if got, err := a.Expand(Address{"c", "x"}); err != nil || !slices.Equal(got, []Address{{"e", "x"}}) {
		t.Fatalf("short chain: %v, %v", got, err)
	}
}

func TestAliasFileErrors(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"no colon", "root alice\n", "aliases:1: missing ':'"},
		{"empty target", "x: y\nroot:\n", "aliases:2: alias \"root\" has no target"},
		{"bad name", "a@b: c\n", "aliases:1: bad alias name"},
		{"relative include", "x: :include:rel\n", "aliases:1: :include: path"},
		{"unterminated", "x: \"|cmd\n", "aliases:1: unterminated quote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "aliases", c.data)
			_, err := LoadAliases(p, AliasOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want containing %q", err, c.want)
			}
		})
	}
}

func TestVirtualAliases(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "virtual", `virt.example  anything
info@virt.example   alice@example.org, bob@example.org
sales@virt.example  info@virt.example
user@virt.example   carol
@catch.example      dave@example.org
`)
	a, err := LoadVirtualAliases(p, AliasOptions{RecipientDelimiter: "+-"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   Address
		want []Address
	}{
		{"list", Address{"info", "virt.example"}, []Address{{"alice", "example.org"}, {"bob", "example.org"}}},
		{"recursive", Address{"Sales", "virt.example"}, []Address{{"alice", "example.org"}, {"bob", "example.org"}}},
		{"bare target keeps domain", Address{"user", "virt.example"}, []Address{{"carol", "virt.example"}}},
		{"extension propagates", Address{"info+x", "virt.example"}, []Address{{"alice+x", "example.org"}, {"bob+x", "example.org"}}},
		{"catch-all", Address{"who", "catch.example"}, []Address{{"dave", "example.org"}}},
		{"not alias", Address{"zed", "virt.example"}, []Address{{"zed", "virt.example"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := a.Expand(c.in)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("Expand(%v) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
	for _, d := range []string{"virt.example", "catch.example"} {
		if !a.IsVirtualDomain(d) {
			t.Errorf("IsVirtualDomain(%q) = false", d)
		}
	}
	if a.IsVirtualDomain("example.org") {
		t.Error("example.org is not a virtual alias domain")
	}
	bad := writeFile(t, dir, "bad", "x@y.example |cmd\n")
	if _, err := LoadVirtualAliases(bad, AliasOptions{AllowPipes: true}); !errors.Is(err, ErrAliasTarget) {
		t.Fatalf("pipe in virtual: %v", err)
	}
}
