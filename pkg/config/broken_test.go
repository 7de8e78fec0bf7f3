package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenCorpus parses each testdata/broken/<case>/cote.conf and compares
// the errors with the case's `want` file (paths shown relative to the case).
func TestBrokenCorpus(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "broken", "*"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no broken cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "want"))
			if err != nil {
				t.Fatal(err)
			}
			_, perr := ParseFile(filepath.Join(dir, "cote.conf"), Options{})
			if perr == nil {
				t.Fatalf("no error, want:\n%s", want)
			}
			got := strings.ReplaceAll(perr.Error(), dir+string(filepath.Separator), "") + "\n"
			if got != string(want) {
				t.Errorf("errors mismatch\n-want:\n%s+got:\n%s", want, got)
			}
		})
	}
}
