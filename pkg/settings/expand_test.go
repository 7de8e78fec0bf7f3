package settings

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := Vars{
		"user":    "John@Example.com",
		"home":    "/home/john",
		"service": "imap",
		"uid":     "1234",
		"rip":     "10.0.0.1",
		"quote":   `a"b\c'`,
		"num":     "255",
		"sub":     "sub.domain.org",
		"trail":   "x  \t",
		"one":     "1",
		"big":     "12345",
	}
	tests := []struct {
		name, tmpl, want string
	}{
		{"no variables", "maildir:~/Maildir", "maildir:~/Maildir"},
		{"user", "%u", "John@Example.com"},
		{"username derived", "%n", "John"},
		{"domain derived", "%d", "Example.com"},
		{"doc mail location", "maildir:/var/mail/%Ld/%Ln", "maildir:/var/mail/example.com/john"},
		{"long forms", "%{user} %{home} %{service}", "John@Example.com /home/john imap"},
		{"modifier on long form", "%L{user}", "john@example.com"},
		{"uppercase", "%Ud", "EXAMPLE.COM"},
		{"literal percent", "100%% %%u", "100% %u"},
		{"width cuts", "%2u", "Jo"},
		{"offset and width", "%2.1u", "h"},
		{"first character", "%0.1n", "J"},
		{"first character lowercased", "%1Ln", "j"},
		{"directory hashing from the doc", "/var/mail/%1Ln/%2.1Ln/%Ln", "/var/mail/j/h/john"},
		{"negative offset", "%-2.2{uid}", "34"},
		{"negative offset past start", "%-9.9{uid}", "1234"},
		{"offset past end", "%9.1{uid}", ""},
		{"zero padding", "%04{one}", "0001"},
		{"zero padding never cuts", "%04{big}", "12345"},
		{"hex padded", "%08X{num}", "000000ff"},
		{"hex of junk is 0", "%Xu", "0"},
		{"escape", "%E{quote}", `a\"b\\c\'`},
		{"reverse", "%R{uid}", "4321"},
		{"md5", "%M{one}", "c4ca4238a0b923820dcc509a6f75849b"},
		{"ldap dc", "%D{sub}", "sub,dc=domain,dc=org"},
		{"trim", "[%T{trail}]", "[x]"},
		{"rip", "%r", "10.0.0.1"},
		{"modifiers left to right", "%LUu", "JOHN@EXAMPLE.COM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.tmpl, vars)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.tmpl, err)
			}
			if got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.tmpl, got, tt.want)
			}
		})
	}
}

func TestExpandHash(t *testing.T) {
	// Values of Dovecot's str_hash (PJW) for "john@example.com":
	// 0x54dbbed, and 0x54dbbed % 256 = 237 = 0xed.
	vars := Vars{"user": "john@example.com"}
	for tmpl, want := range map[string]string{"%Hu": "54dbbed", "%256Hu": "ed", "%4.256Hu": "00ed"} {
		got, err := Expand(tmpl, vars)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
}

func TestExpandDerived(t *testing.T) {
	tests := []struct {
		name string
		vars Vars
		tmpl string
		want string
	}{
		{"no domain", Vars{"user": "john"}, "[%n][%d]", "[john][]"},
		{"explicit username wins", Vars{"user": "a@b", "username": "x", "domain": "y"}, "%n@%d", "x@y"},
		{"first at sign", Vars{"user": "a@b@c"}, "%n|%d", "a|b@c"},
		{"empty value", Vars{"home": ""}, "[%h]", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.tmpl, tt.vars)
			if err != nil || got != tt.want {
				t.Errorf("Expand(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	vars := Vars{"user": "john"}
	tests := []struct {
		name, tmpl, want string
	}{
		{"unknown short", "%z", "unknown variable %z"},
		{"unknown long", "%{nope}", "unknown variable %{nope}"},
		{"missing value", "%h", "unknown variable %{home}"},
		{"trailing percent", "abc%", `"abc%" ends inside a %-variable`},
		{"trailing modifier", "%L", `"%L" ends inside a %-variable`},
		{"unterminated long", "%{user", `unterminated %{ in "%{user"`},
		{"2.4 filter", "%{user | lower}", "%{user | lower}: filters are Dovecot 2.4 syntax, not supported"},
		{"N modifier", "%Nu", "%-variable modifier N is not supported"},
		{"huge width", "%099999u", `%-variable width too large in "%099999u"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Expand(tt.tmpl, vars)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Expand(%q) error = %v, want %q", tt.tmpl, err, tt.want)
			}
		})
	}
}

// FuzzExpand checks that Expand never panics and keeps its output bounded.
func FuzzExpand(f *testing.F) {
	f.Add("%Lu")
	vars := Vars{"user": "John@Example.com", "home": "/home/john", "uid": "1000", "service": "imap"}
	f.Fuzz(func(t *testing.T, tmpl string) {
		out, err := Expand(tmpl, vars)
		if err != nil {
			return
		}
		// Each variable adds at most its value (or an MD5) plus maxPad.
		if limit := len(tmpl) * (maxPad + 64); len(out) > limit {
			t.Fatalf("Expand(%q) gave %d bytes", tmpl, len(out))
		}
		if !strings.Contains(tmpl, "%") && out != tmpl {
			t.Fatalf("Expand(%q) = %q without variables", tmpl, out)
		}
	})
}
