package settings

import (
	"testing"

	"github.com/cote-mail/cote/pkg/config"
)

// FuzzSettings validates arbitrary configurations: no panic, and a
// configuration that loads can be dumped, re-parsed and loaded again.
func FuzzSettings(f *testing.F) {
	f.Add([]byte("protocols = imap\nservice imap-login {\n  inet_listener imap {\n    port = 143\n  }\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		tree, err := config.Parse("fuzz.conf", src, config.Options{Default: parserDefault})
		if err != nil {
			return
		}
		c, err := FromTree(tree)
		if err != nil {
			return
		}
		_ = c.Services()
		_ = c.Protocol("imap")
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzValues runs the value parsers on arbitrary strings.
func FuzzValues(f *testing.F) {
	f.Add("256M")
	f.Fuzz(func(t *testing.T, s string) {
		ParseBool(s)
		ParseSize(s)
		ParseDuration(s)
		ParseMode(s)
		for i := range schema {
			checkValue(&schema[i], s)
		}
		sameAsDefault(s, "1 mins")
	})
}
