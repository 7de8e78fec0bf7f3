package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// shape renders a tree without positions, for round-trip comparison.
func shape(n *Node) string {
	var b strings.Builder
	var walk func(n *Node)
	walk = func(n *Node) {
		if n.Section {
			fmt.Fprintf(&b, "%q %q {\n", n.Key, n.Name)
			for _, c := range n.Children {
				walk(c)
			}
			b.WriteString("}\n")
			return
		}
		fmt.Fprintf(&b, "%q=%q <%q\n", n.Key, n.Value, n.FromFile)
	}
	walk(n)
	return b.String()
}

// FuzzParse checks that the parser never panics and that whatever it
// accepts prints back to text that parses to the same tree.
func FuzzParse(f *testing.F) {
	f.Add([]byte("a = b\n"))
	dir := f.TempDir()
	name := filepath.Join(dir, "cote.conf")
	opt := defaults(map[string]string{"mail_plugins": "zlib", "protocols": "imap pop3"})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Keep includes and `<file` inside the temp dir: a pattern such as
		// /*/*/* would walk the whole machine.
		if bytes.Contains(data, []byte("/")) && (bytes.Contains(data, []byte("!include")) || bytes.Contains(data, []byte("<"))) {
			t.Skip()
		}
		tree, err := Parse(name, data, opt)
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error %T is not an ErrorList", err)
			}
			if tree == nil {
				t.Fatal("nil tree with errors")
			}
			return
		}
		var out bytes.Buffer
		if err := Print(&out, tree.Root); err != nil {
			if strings.Contains(err.Error(), "line break") {
				return
			}
			t.Fatalf("Print: %v", err)
		}
		again, err := Parse(name, out.Bytes(), opt)
		if err != nil {
			t.Fatalf("printed form does not parse: %v\ninput:\n%q\nprinted:\n%s", err, data, out.Bytes())
		}
		if a, b := shape(tree.Root), shape(again.Root); a != b {
			t.Fatalf("round trip changed the tree\ninput:\n%q\nprinted:\n%s\nfirst:\n%s\nsecond:\n%s", data, out.Bytes(), a, b)
		}
	})
}

func TestPrint(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"plain", "a = b c\n", "a = b c\n"},
		{"empty", "a =\n", "a =\n"},
		{"quotes kept where needed", `a = "  x  "
b = "#x"
c = "$x y"
d = "<x"
e = 'it"s'
f = "\\"
`, `a = "  x  "
b = "#x"
c = "$x y"
d = "<x"
e = "it\"s"
f = "\\"
`},
		{"sections", "s n { a = 1 t { } }\np \"x y\" {\n}\n", "s n {\n  a = 1\n  t {\n  }\n}\np \"x y\" {\n}\n"},
		{"mid-word dollar stays bare", "a = x$y\n", "a = x$y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := Parse("cote.conf", []byte(tt.src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := Print(&b, tree.Root); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("-want:\n%s+got:\n%s", tt.want, b.String())
			}
		})
	}
	var b bytes.Buffer
	if err := Print(&b, &Node{Key: "a", Value: "x\ny"}); err == nil {
		t.Errorf("value with a newline printed as %q", b.String())
	}
}
