package auth

import (
	"strings"
	"testing"
)

// FuzzParsePasswdFile: any users file parses without panicking, every
// entry has a non-empty name without white space, and every problem has a
// line number inside the file.
func FuzzParsePasswdFile(f *testing.F) {
	f.Add([]byte("alice:{PLAIN}pw:1000:1000:A:/home/a:/bin/sh:quota_rule=*:storage=1G nologin\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, problems := parsePasswdFile(data)
		lines := strings.Count(string(data), "\n") + 2
		for _, u := range users {
			if u.Name == "" || strings.ContainsAny(u.Name, " \t") {
				t.Fatalf("bad user name %q", u.Name)
			}
		}
		for _, p := range problems {
			if p.line < 1 || p.line > lines {
				t.Fatalf("problem line %d outside 1..%d", p.line, lines)
			}
		}
	})
}
