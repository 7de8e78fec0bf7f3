package message_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message"
)

var update = flag.Bool("update", false, "rewrite the golden files from the reference Dovecot")

func corpus(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return files
}

// render gives cote's answer in the shape of Dovecot's FETCH response.
func render(m *message.Message) []byte {
	b := []byte("RFC822.SIZE ")
	b = strconv.AppendInt(b, m.Size(), 10)
	b = append(b, " ENVELOPE "...)
	b = imap.AppendEnvelope(b, m.Root.Envelope)
	b = append(b, " BODYSTRUCTURE "...)
	b = imap.AppendBodyStructure(b, m.Root, true)
	b = append(b, " BODY "...)
	b = imap.AppendBodyStructure(b, m.Root, false)
	return b
}

// TestGenerateGolden rewrites the goldens from Dovecot with -update.
func TestGenerateGolden(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the goldens from Dovecot")
	}
	if !haveDovecot() {
		t.Fatal("-update needs root and " + dovecotIMAP)
	}
	for _, f := range corpus(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := dovecotFetch(t, raw, fetchItems)
		if err := os.WriteFile(goldenName(f), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGolden compares cote's rendering with Dovecot's, byte for byte.
func TestGolden(t *testing.T) {
	for _, f := range corpus(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(goldenName(f))
			if err != nil {
				t.Fatalf("golden: %v (run go test -run TestGenerateGolden -update)", err)
			}
			got := render(message.Parse(raw))
			if !bytes.Equal(got, want) {
				t.Errorf("mismatch\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

// TestGoldenCurrent re-runs Dovecot where it is installed and checks that
// the committed goldens are still what it answers.
func TestGoldenCurrent(t *testing.T) {
	if !haveDovecot() {
		t.Skip("needs root and " + dovecotIMAP)
	}
	if testing.Short() {
		t.Skip("runs Dovecot once per message")
	}
	for _, f := range corpus(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(goldenName(f))
		if err != nil {
			t.Fatal(err)
		}
		if got := dovecotFetch(t, raw, fetchItems); !bytes.Equal(got, want) {
			t.Errorf("%s: golden is stale\ndovecot: %q\n golden: %q", f, got, want)
		}
		data, err := os.ReadFile(sectionsName(f))
		if err != nil {
			t.Fatal(err)
		}
		items, wantSec := readSections(t, data)
		gotSec := dovecotSections(t, raw, items)
		for _, it := range items {
			if !bytes.Equal(gotSec[it], wantSec[it]) {
				t.Errorf("%s %s: sections golden is stale\ndovecot: %q\n golden: %q", f, it, gotSec[it], wantSec[it])
			}
		}
	}
}
