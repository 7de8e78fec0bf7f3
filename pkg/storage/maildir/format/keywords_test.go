package format

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseKeywords(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      map[int]string
		nProblems int
		out       string
	}{
		{"dovecot", "0 $Forwarded\n1 work\n", map[int]string{0: "$Forwarded", 1: "work"}, 0, "0 $Forwarded\n1 work\n"},
		{"gaps and order", "3 c\n0 a\n", map[int]string{0: "a", 3: "c"}, 0, "0 a\n3 c\n"},
		{"bad lines", "x\n26 z\n-1 y\nq name\n2 \n4 ok\n", map[int]string{4: "ok"}, 5, "4 ok\n"},
		{"no trailing newline", "0 a", map[int]string{0: "a"}, 0, "0 a\n"},
		{"later wins", "0 a\n0 b\n", map[int]string{0: "b"}, 0, "0 b\n"},
		{"name with spaces", "0 a b\n", map[int]string{0: "a b"}, 0, "0 a b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := ParseKeywords([]byte(tc.in))
			got := map[int]string{}
			for i, n := range k.Names {
				if n != "" {
					got[i] = n
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("names %v, want %v", got, tc.want)
			}
			if len(k.Problems) != tc.nProblems {
				t.Errorf("problems %q, want %d", k.Problems, tc.nProblems)
			}
			if out := string(k.Marshal()); out != tc.out {
				t.Errorf("Marshal = %q, want %q", out, tc.out)
			}
		})
	}
}

func TestKeywordsLookup(t *testing.T) {
	k := ParseKeywords([]byte("0 $Forwarded\n2 Work\n"))
	if c, ok := k.Letter("work"); !ok || c != 'c' {
		t.Errorf("Letter(work) = %c %v (case-insensitive like Dovecot)", c, ok)
	}
	if n, ok := k.Name('a'); !ok || n != "$Forwarded" {
		t.Errorf("Name(a) = %q %v", n, ok)
	}
	if _, ok := k.Name('b'); ok {
		t.Error("Name(b) found")
	}
	if c, err := k.Add("new"); err != nil || c != 'b' {
		t.Errorf("Add(new) = %c %v, want first free letter b", c, err)
	}
	if c, err := k.Add("WORK"); err != nil || c != 'c' {
		t.Errorf("Add(WORK) = %c %v, want existing c", c, err)
	}
	for i := 0; i < MaxKeywords-3; i++ {
		if _, err := k.Add(string(rune('A'+i)) + "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Add("overflow"); !errors.Is(err, ErrTooManyKeywords) {
		t.Errorf("27th keyword: err = %v", err)
	}
	for _, bad := range []string{"", "a b", "a\nb"} {
		if _, err := k.Add(bad); err == nil {
			t.Errorf("Add(%q) accepted", bad)
		}
	}
}

func TestKeywordsResolve(t *testing.T) {
	k := ParseKeywords([]byte("0 unknown-3\n"))
	name, changed := k.Resolve('d')
	if name != "unknown-3?" || !changed {
		t.Errorf("Resolve(d) = %q %v", name, changed)
	}
	if name, changed := k.Resolve('a'); name != "unknown-3" || changed {
		t.Errorf("Resolve(a) = %q %v", name, changed)
	}
}

func TestWriteKeywords(t *testing.T) {
	dir := t.TempDir()
	k, err := ReadKeywords(dir)
	if err != nil || len(k.Marshal()) != 0 {
		t.Fatalf("missing file: %v %q", err, k.Marshal())
	}
	k.Add("a")
	// A leftover lock of a crashed writer is removed, as Dovecot does
	// under the uidlist lock.
	if err := os.WriteFile(filepath.Join(dir, KeywordsName+LockSuffix), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeywords(dir, k); err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(filepath.Join(dir, KeywordsName))
	k.Add("b")
	if err := WriteKeywords(dir, k); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(filepath.Join(dir, KeywordsName))
	if fi2.ModTime().Unix() <= fi1.ModTime().Unix() {
		t.Errorf("mtime did not grow in seconds: %v -> %v", fi1.ModTime(), fi2.ModTime())
	}
	if fi2.ModTime().After(time.Now().Add(10 * time.Second)) {
		t.Errorf("mtime pushed far ahead: %v", fi2.ModTime())
	}
	got, err := ReadKeywords(dir)
	if err != nil || string(got.Marshal()) != "0 a\n1 b\n" {
		t.Errorf("read back %q %v", got.Marshal(), err)
	}
}
