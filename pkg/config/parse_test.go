package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (name -> content, "/"-separated names) under a
// temp dir and returns the dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dump renders a tree compactly with positions: "file:line key=value",
// "file:line key name {" ... "}". dir is cut from file names.
func dump(n *Node, dir string) string {
	var b strings.Builder
	var walk func(n *Node, depth int)
	walk = func(n *Node, depth int) {
		ind := strings.Repeat("  ", depth)
		file := strings.TrimPrefix(n.Pos.File, dir+string(filepath.Separator))
		switch {
		case n.Section:
			name := ""
			if n.Name != "" {
				name = fmt.Sprintf(" %q", n.Name)
			}
			fmt.Fprintf(&b, "%s%s:%d %s%s {\n", ind, file, n.Pos.Line, n.Key, name)
			for _, c := range n.Children {
				walk(c, depth+1)
			}
			fmt.Fprintf(&b, "%s}\n", ind)
		default:
			from := ""
			if n.FromFile != "" {
				from = " <" + strings.TrimPrefix(n.FromFile, dir+string(filepath.Separator))
			}
			fmt.Fprintf(&b, "%s%s:%d %s=%q%s\n", ind, file, n.Pos.Line, n.Key, n.Value, from)
		}
	}
	for _, c := range n.Children {
		walk(c, 0)
	}
	return b.String()
}

func defaults(m map[string]string) Options {
	return Options{Default: func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // "cote.conf" is parsed
		want  string
	}{
		{
			name:  "key value trimmed",
			files: map[string]string{"cote.conf": "  protocols =   imap pop3  \t\nlisten=*\nempty =\n"},
			want: `cote.conf:1 protocols="imap pop3"
cote.conf:2 listen="*"
cote.conf:3 empty=""
`,
		},
		{
			name: "quoted values",
			files: map[string]string{"cote.conf": `a = "x \"y\" \\z"
b = 'it''s'
c = "  spaced  "
d = "#not a comment"
e = "a" "b"
f = "
g = ''
`},
			want: `cote.conf:1 a="x \"y\" \\z"
cote.conf:2 b="it''s"
cote.conf:3 c="  spaced  "
cote.conf:4 d="#not a comment"
cote.conf:5 e="a\" \"b"
cote.conf:6 f="\""
cote.conf:7 g=""
`,
		},
		{
			name: "comments",
			files: map[string]string{"cote.conf": `# a comment
   # indented comment
a = b # trailing
c = d#glued
e = "x # y" # z
f = it's # not stripped: the quote runs to the end
`},
			want: `cote.conf:3 a="b"
cote.conf:4 c="d"
cote.conf:5 e="x # y"
cote.conf:6 f="it's # not stripped: the quote runs to the end"
`,
		},
		{
			name:  "continuation",
			files: map[string]string{"cote.conf": "a = one \\\n   two\\\n# comment inside\n\n three\nb = c\nd = last \\\n"},
			want: `cote.conf:1 a="one two three"
cote.conf:6 b="c"
cote.conf:7 d="last"
`,
		},
		{
			name:  "crlf",
			files: map[string]string{"cote.conf": "a = b\r\nsvc {\r\n x = y\r\n}\r\n"},
			want: `cote.conf:1 a="b"
cote.conf:2 svc {
  cote.conf:3 x="y"
}
`,
		},
		{
			name: "sections and filters",
			files: map[string]string{"cote.conf": `service imap-login {
  inet_listener imaps {
    port = 993
  }
}
passdb {
  driver = pam
}
protocol !smtp {
  x = 1
}
local 127.0.0.1 {
}
remote 10.0.0.0/8 {
}
local_name "mail.example.com" {
  ssl_cert = c
}
namespace inbox {
  mailbox "Sent Messages" {
    special_use = \Sent
  }
}
local 10.0.0.1 10.0.0.2 {
}
`},
			want: `cote.conf:1 service "imap-login" {
  cote.conf:2 inet_listener "imaps" {
    cote.conf:3 port="993"
  }
}
cote.conf:6 passdb {
  cote.conf:7 driver="pam"
}
cote.conf:9 protocol "!smtp" {
  cote.conf:10 x="1"
}
cote.conf:12 local "127.0.0.1" {
}
cote.conf:14 remote "10.0.0.0/8" {
}
cote.conf:16 local_name "mail.example.com" {
  cote.conf:17 ssl_cert="c"
}
cote.conf:19 namespace "inbox" {
  cote.conf:20 mailbox "Sent Messages" {
    cote.conf:21 special_use="\\Sent"
  }
}
cote.conf:24 local "10.0.0.1 10.0.0.2" {
}
`,
		},
		{
			name: "one-line sections",
			files: map[string]string{"cote.conf": `service imap-login { inet_listener imaps { port = 993 ssl = yes } }
passdb { driver = passwd-file args = scheme=CRYPT username_format=%u /etc/x }
plugin { a = "q } x" b = 2 }
s { } t = 1
u { v = }
`},
			want: `cote.conf:1 service "imap-login" {
  cote.conf:1 inet_listener "imaps" {
    cote.conf:1 port="993"
    cote.conf:1 ssl="yes"
  }
}
cote.conf:2 passdb {
  cote.conf:2 driver="passwd-file"
  cote.conf:2 args="scheme=CRYPT username_format=%u /etc/x"
}
cote.conf:3 plugin {
  cote.conf:3 a="q } x"
  cote.conf:3 b="2"
}
cote.conf:4 s {
}
cote.conf:4 t="1"
cote.conf:5 u {
  cote.conf:5 v=""
}
`,
		},
		{
			name:  "value ending in brace on a normal line stays Dovecot's",
			files: map[string]string{"cote.conf": "a = b }\n"},
			want:  "cote.conf:1 a=\"b }\"\n",
		},
		{
			name: "includes sorted, relative, inside sections",
			files: map[string]string{
				"cote.conf":            "!include conf.d/*.conf\nsvc {\n  !include inner.conf\n}\n!include_try missing.conf\n!include_try none/*.conf\n",
				"conf.d/20-b.conf":     "b = 2\n!include ../sub/x.conf\n",
				"conf.d/10-a.conf":     "a = 1\n",
				"conf.d/ignored.conf~": "nope = 1\n",
				"sub/x.conf":           "x = 3\n",
				"inner.conf":           "in = 4\n",
			},
			want: `conf.d/10-a.conf:1 a="1"
conf.d/20-b.conf:1 b="2"
sub/x.conf:1 x="3"
cote.conf:2 svc {
  inner.conf:1 in="4"
}
`,
		},
		{
			name: "brace include",
			files: map[string]string{
				"cote.conf": "!include {b,a}.conf\n",
				"a.conf":    "a = 1\n",
				"b.conf":    "b = 1\n",
			},
			want: `b.conf:1 b="1"
a.conf:1 a="1"
`,
		},
		{
			name: "key from file",
			files: map[string]string{
				"cote.conf":     "ssl_cert = <certs/c.pem\nssl_key =<  certs/k.pem\n",
				"certs/c.pem":   "-----BEGIN CERT-----\nabc\n",
				"certs/k.pem":   "key",
				"certs/unused":  "",
				"certs/ignored": "",
			},
			want: `cote.conf:1 ssl_cert="-----BEGIN CERT-----\nabc\n" <certs/c.pem
cote.conf:2 ssl_key="key" <certs/k.pem
`,
		},
		{
			name: "variables",
			files: map[string]string{"cote.conf": `mail_plugins = $mail_plugins quota
mail_plugins = $mail_plugins   acl
protocol imap {
  mail_plugins = $mail_plugins imap_quota
  other = $mail_plugins
}
x = $mail_plugins
pct = %u@%d $$not $ok
q = "$mail_plugins"
mid = a$mail_plugins
`},
			want: `cote.conf:1 mail_plugins="zlib quota"
cote.conf:2 mail_plugins="zlib quota acl"
cote.conf:3 protocol "imap" {
  cote.conf:4 mail_plugins="zlib quota acl imap_quota"
  cote.conf:5 other="zlib quota acl imap_quota"
}
cote.conf:7 x="zlib quota acl"
cote.conf:8 pct="%u@%d dollar yes"
cote.conf:9 q="$mail_plugins"
cote.conf:10 mid="a$mail_plugins"
`,
		},
	}
	opt := defaults(map[string]string{"mail_plugins": "zlib", "$not": "dollar", "ok": "yes"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			tree, err := ParseFile(filepath.Join(dir, "cote.conf"), opt)
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if got := dump(tree.Root, dir); got != tt.want {
				t.Errorf("tree mismatch\n-want:\n%s\n+got:\n%s", tt.want, got)
			}
		})
	}
}

func TestFilesGlobsWarnings(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"cote.conf":      "!include conf.d/*.conf\n!include_try local.conf\nc = d#x\n",
		"conf.d/a.conf":  "k = <../k.pem\n",
		"conf.d/b.conf":  "!include ../k.conf\n",
		"k.pem":          "secret",
		"k.conf":         "x = 1\n",
		"k.conf.unused~": "",
	})
	tree, err := ParseFile(filepath.Join(dir, "cote.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rel := func(l []string) string {
		var out []string
		for _, s := range l {
			if !filepath.IsAbs(s) {
				t.Errorf("%q is not absolute", s)
			}
			out = append(out, strings.TrimPrefix(s, dir+"/"))
		}
		return strings.Join(out, " ")
	}
	if got, want := rel(tree.Files), "cote.conf conf.d/a.conf k.pem conf.d/b.conf k.conf"; got != want {
		t.Errorf("Files = %q, want %q", got, want)
	}
	if got, want := rel(tree.Globs), "conf.d/*.conf k.conf local.conf"; got != want {
		t.Errorf("Globs = %q, want %q", got, want)
	}
	var warns []string
	for _, w := range tree.Warnings {
		warns = append(warns, strings.ReplaceAll(w.Error(), dir+"/", ""))
	}
	if got, want := strings.Join(warns, "\n"), "cote.conf:3: ambiguous '#' treated as a comment: put a space before it"; got != want {
		t.Errorf("Warnings = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing key file", map[string]string{"cote.conf": "a = 1\n\nssl_cert = </nope/cert.pem\n"},
			"cote.conf:3: ssl_cert: cannot read </nope/cert.pem: no such file or directory"},
		{"relative key file", map[string]string{"cote.conf": "ssl_key = <k.pem\n"},
			"cote.conf:1: ssl_key: cannot read <k.pem: no such file or directory"},
		{"key file is a directory", map[string]string{"cote.conf": "ssl_key = <d\n", "d/x": ""},
			"cote.conf:1: ssl_key: cannot read <d: not a regular file"},
		{"key file without name", map[string]string{"cote.conf": "ssl_key = <\n"},
			"cote.conf:1: ssl_key: missing file name after '<'"},
		{"unknown variable", map[string]string{"cote.conf": "a = $nope x\n"},
			"cote.conf:1: a: unknown variable $nope"},
		{"lone dollar", map[string]string{"cote.conf": "a = $\n"},
			"cote.conf:1: a: unknown variable $"},
		{"missing include", map[string]string{"cote.conf": "!include nope.conf\n"},
			"cote.conf:1: !include nope.conf: no such file or directory"},
		{"include glob without match", map[string]string{"cote.conf": "!include conf.d/*.conf\n"},
			"cote.conf:1: !include conf.d/*.conf: no matches"},
		{"include of a directory", map[string]string{"cote.conf": "!include d\n", "d/x": ""},
			"cote.conf:1: !include d: cannot read d: not a regular file"},
		{"include self", map[string]string{"cote.conf": "a = 1\n!include cote.conf\n"},
			"cote.conf:2: !include cote.conf: include loop: cote.conf:2 -> cote.conf"},
		{"include loop", map[string]string{"cote.conf": "!include a.conf\n", "a.conf": "\n!include b.conf\n", "b.conf": "!include a.conf\n"},
			"b.conf:1: !include a.conf: include loop: a.conf:2 -> b.conf:1 -> a.conf"},
		{"include missing path", map[string]string{"cote.conf": "!include\n"},
			"cote.conf:1: !include: missing file name"},
		{"unexpected close", map[string]string{"cote.conf": "a = 1\n}\n"},
			"cote.conf:2: unexpected '}'"},
		{"missing close", map[string]string{"cote.conf": "service imap {\n  inet_listener x {\n}\n"},
			`cote.conf:1: missing '}' for section "service imap"`},
		{"included file cannot close the includer's section", map[string]string{"cote.conf": "s {\n!include x.conf\n", "x.conf": "}\n"},
			"x.conf:1: unexpected '}'\ncote.conf:1: missing '}' for section \"s\""},
		{"included file leaves a section open", map[string]string{"cote.conf": "!include x.conf\n}\n", "x.conf": "s {\n"},
			"x.conf:1: missing '}' for section \"s\"\ncote.conf:2: unexpected '}'"},
		{"bare word", map[string]string{"cote.conf": "ssl\n"},
			"cote.conf:1: ssl: expecting '=' or '{'"},
		{"two words", map[string]string{"cote.conf": "ssl yes\n"},
			"cote.conf:1: ssl: expecting '=' or '{'"},
		{"missing key", map[string]string{"cote.conf": "= 1\n"},
			"cote.conf:1: missing setting name before '='"},
		{"missing type", map[string]string{"cote.conf": "{\n  a = 1\n}\nb = 2\n"},
			"cote.conf:1: missing section type before '{'"},
		{"bad key", map[string]string{"cote.conf": "a\"b = 1\nc;d {\n}\n"},
			"cote.conf:1: invalid setting name \"a\\\"b\"\ncote.conf:2: invalid name \"c;d\""},
		{"garbage after quoted name", map[string]string{"cote.conf": "local_name \"x\" y {\n}\n"},
			"cote.conf:1: local_name: expecting '{' after section name"},
		{"unterminated quoted name", map[string]string{"cote.conf": "local_name \"x {\n"},
			"cote.conf:1: local_name: unterminated quoted section name"},
		{"unterminated inline quote", map[string]string{"cote.conf": "s { a = \"x }\n}\n"},
			"cote.conf:1: a: unterminated quoted string"},
		{"text after inline quote", map[string]string{"cote.conf": "s { a = \"x\"y }\n"},
			// The rest of a bad line is dropped, its `}` too.
			"cote.conf:1: a: text after closing quote\ncote.conf:1: missing '}' for section \"s\""},
		{"errors continue after a bad line", map[string]string{"cote.conf": "a\nb = 1\nc = $x\nd\n"},
			"cote.conf:1: a: expecting '=' or '{'\ncote.conf:3: c: unknown variable $x\ncote.conf:4: d: expecting '=' or '{'"},
		{"nesting cap", map[string]string{"cote.conf": strings.Repeat("s {\n", 33) + strings.Repeat("}\n", 33)},
			"cote.conf:33: s: sections nested deeper than 32"},
		{"include depth cap", func() map[string]string {
			m := map[string]string{"cote.conf": "!include i0.conf\n"}
			for i := 0; i < 40; i++ {
				m[fmt.Sprintf("i%d.conf", i)] = fmt.Sprintf("!include i%d.conf\n", i+1)
			}
			m["i40.conf"] = "x = 1\n"
			return m
		}(), "i31.conf:1: !include i32.conf: includes nested deeper than 32"},
		{"long line", map[string]string{"cote.conf": "a = " + strings.Repeat("x", maxLine) + "\n"},
			"cote.conf:1: line longer than 1048576 bytes"},
		{"long continued line", map[string]string{"cote.conf": "a = x\\\n" + strings.Repeat(strings.Repeat("x", 1<<16)+"\\\n", 17)},
			"cote.conf:1: line longer than 1048576 bytes"},
		{"value grows past the cap", map[string]string{"cote.conf": "a = " + strings.Repeat("x", 1<<19) + "\n" + "a = $a $a $a\n"},
			"cote.conf:2: a: value longer than 1048576 bytes"},
		{"too many errors", map[string]string{"cote.conf": strings.Repeat("x\n", 200)},
			strings.Repeat("cote.conf:N: x: expecting '=' or '{'\n", 100) + "cote.conf:101: too many errors (over 100), giving up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			_, err := ParseFile(filepath.Join(dir, "cote.conf"), Options{})
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			list, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			for _, e := range list {
				if e.Pos.File == "" {
					t.Errorf("error without a file: %v", e)
				}
			}
			got := strings.ReplaceAll(err.Error(), dir+"/", "")
			want := tt.want
			if strings.Contains(want, "cote.conf:N:") {
				// Numbered lines of a repeated error.
				var b strings.Builder
				n := 0
				for _, l := range strings.SplitAfter(want, "\n") {
					if strings.Contains(l, ":N:") {
						n++
						l = strings.Replace(l, ":N:", fmt.Sprintf(":%d:", n), 1)
					}
					b.WriteString(l)
				}
				want = b.String()
			}
			if got != want {
				t.Errorf("errors mismatch\n-want:\n%s\n+got:\n%s", want, got)
			}
		})
	}
}

func TestParseFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	_, err := ParseFile(filepath.Join(dir, "cote.conf"), Options{})
	got := strings.ReplaceAll(fmt.Sprint(err), dir+"/", "")
	if want := "cote.conf: cannot read cote.conf: no such file or directory"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExpandBraces(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"a.conf", "a.conf"},
		{"{a,b}.conf", "a.conf b.conf"},
		{"x{a,b{c,d}}y", "xay xbcy xbdy"},
		{"{a}.conf", "{a}.conf"},
		{"{a,b", "{a,b"},
		{"%{user}/{x,y}", "%{user}/x %{user}/y"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := expandBraces(tt.in)
			if !ok || strings.Join(got, " ") != tt.want {
				t.Errorf("expandBraces(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
	if _, ok := expandBraces(strings.Repeat("{a,b}", 9)); ok {
		t.Errorf("512 expansions accepted")
	}
}
