package imapd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

// previewDir is message.Preview's corpus, with Dovecot's answers.
var previewDir = filepath.Join("..", "message", "testdata", "preview")

// TestPreviewDovecot compares previewText (message.Preview with the
// charset tables SEARCH uses) with Dovecot 2.3.19.1's FETCH PREVIEW
// answers for the messages of pkg/message/testdata/preview
// (dovecot.golden). HTML is reduced more simply than Dovecot's html2text,
// so for HTML only the words must agree, not the spaces between them.
func TestPreviewDovecot(t *testing.T) {
	dir := previewDir
	golden, err := os.ReadFile(filepath.Join(dir, "dovecot.golden"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(golden), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, want, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		n++
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			got := previewText(message.Parse(raw))
			if strings.Contains(file, "html") {
				got, want = strings.Join(strings.Fields(got), " "), strings.Join(strings.Fields(want), " ")
			}
			if got != want {
				t.Errorf("preview\n got %q\nwant %q", got, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no golden lines")
	}
}

// TestPreview: RFC 8970 §3's FETCH PREVIEW and PREVIEW (LAZY) on the
// wire: LAZY answers at once for a message whose preview the store
// computed at save (message 2: UTF-8), NIL for one it could not (message
// 1: ISO-8859-1 needs the charset tables) until a PREVIEW has filled the
// store's cache; COPY keeps both cached previews.
func TestPreview(t *testing.T) {
	ts := newTestServer(t, Config{})
	raw, err := os.ReadFile(filepath.Join(previewDir, "02-qp.eml"))
	if err != nil {
		t.Fatal(err)
	}
	ts.deliver(t, "INBOX", testDate, string(raw), msg1)
	r := rawSession(t, ts)
	lines, _ := r.cmd("CAPABILITY")
	if len(lines) != 1 || !strings.Contains(lines[0]+" ", " PREVIEW ") {
		t.Fatalf("capability %q lacks PREVIEW", lines)
	}
	steps := []struct {
		name, cmd string
		untagged  []string
		done      string
	}{
		{"select", "SELECT INBOX", nil, "OK"},
		{"lazy uncached", "FETCH 1 (PREVIEW (LAZY))", []string{"* 1 FETCH (PREVIEW NIL)"}, "OK"},
		{"lazy at delivery", "FETCH 2 (PREVIEW (LAZY))", []string{"* 2 FETCH (PREVIEW \"Hello Bob.\")"}, "OK"},
		{"preview", "FETCH 1 (PREVIEW)", []string{"* 1 FETCH (PREVIEW {38}", "Café crème, a long soft broken line.)"}, "OK"},
		{"lazy cached", "FETCH 1 (UID PREVIEW (LAZY))", []string{"* 1 FETCH (UID 1 PREVIEW {38}", "Café crème, a long soft broken line.)"}, "OK"},
		{"bare atom", "UID FETCH 2 PREVIEW", nil, "OK"},
		{"lazy after", "UID FETCH 2 (PREVIEW (LAZY))", []string{"* 2 FETCH (UID 2 PREVIEW \"Hello Bob.\")"}, "OK"},
		{"copy", "COPY 1:2 INBOX", nil, "OK"},
		{"lazy copies", "FETCH 3:4 (PREVIEW (LAZY))", []string{"* 3 FETCH (PREVIEW {38}", "Café crème, a long soft broken line.)", "* 4 FETCH (PREVIEW \"Hello Bob.\")"}, "OK"},
		{"bad modifier", "FETCH 1 (PREVIEW (FUZZY))", nil, "BAD"},
		{"empty modifier", "FETCH 1 (PREVIEW ())", nil, "BAD"},
		{"no seen", "FETCH 1 (FLAGS)", []string{`* 1 FETCH (FLAGS (\Recent))`}, "OK"},
	}
	for _, st := range steps {
		lines, done := r.cmd(st.cmd)
		if !strings.Contains(done, " "+st.done) {
			t.Errorf("%s: done %q, want %q (untagged %q)", st.name, done, st.done, lines)
		}
		for _, want := range st.untagged {
			if !contains(lines, want) {
				t.Errorf("%s: untagged %q lack %q", st.name, lines, want)
			}
		}
		if st.name == "preview" {
			// The preview is in the store's cache for the next FETCH.
			mb, done := ts.examine(t, "INBOX")
			got, ok := mb.Cache(1, storage.CachePreview)
			done()
			if !ok || string(got) != "Café crème, a long soft broken line." {
				t.Errorf("cached preview %q %v", got, ok)
			}
		}
		if st.name == "bare atom" && (len(lines) != 1 || !strings.HasPrefix(lines[0], "* 2 FETCH (UID 2 PREVIEW ")) {
			t.Errorf("bare atom: %q", lines)
		}
	}
}
