package message

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// latin1 is a CharsetDecoder for ISO-8859-1 only, enough for the preview
// corpus without linking the charset tables into this package's tests.
func latin1(cs, s string) (string, error) {
	if !strings.EqualFold(cs, "iso-8859-1") {
		return "", errors.New("unknown charset")
	}
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r), nil
}

// TestPreviewDovecot compares Preview with Dovecot 2.3.19.1's FETCH
// PREVIEW answers for the messages of testdata/preview (dovecot.golden).
// HTML is reduced more simply than Dovecot's html2text, so for HTML only
// the words must agree, not the spaces between them.
func TestPreviewDovecot(t *testing.T) {
	dir := filepath.Join("testdata", "preview")
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
			got, ok := Preview(Parse(raw), latin1)
			if !ok {
				t.Fatal("no preview with a decoder")
			}
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

// TestPreviewNoDecoder: without a CharsetDecoder a preview is computed
// only when its text part needs no charset conversion.
func TestPreviewNoDecoder(t *testing.T) {
	cases := []struct {
		name, raw string
		want      string
		ok        bool
	}{
		{"utf-8", "Content-Type: text/plain; charset=utf-8\r\n\r\nHéllo\r\n", "Héllo", true},
		{"no charset", "Subject: x\r\n\r\nplain  text\r\n", "plain text", true},
		{"us-ascii", "Content-Type: text/plain; charset=US-ASCII\r\n\r\nhi\r\n", "hi", true},
		{"latin1", "Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n", "", false},
		{"no text part", "Content-Type: image/png\r\n\r\nxx\r\n", "", true},
		{"latin1 attachment after text", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n--b\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\nx\r\n--b--\r\n", "first", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Preview(Parse([]byte(c.raw)), nil)
			if got != c.want || ok != c.ok {
				t.Errorf("Preview = %q, %v; want %q, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// BenchmarkPreview: the cost of computing one preview (paid once per
// message, at save or on the first FETCH PREVIEW).
func BenchmarkPreview(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "preview", "05-alternative.eml"))
	if err != nil {
		b.Fatal(err)
	}
	m := Parse(raw)
	b.ReportAllocs()
	for b.Loop() {
		Preview(m, nil)
	}
}

// FuzzPreview: any message gives a preview of valid UTF-8, at most
// PreviewMax characters, without control characters, outer spaces or
// runs of spaces.
func FuzzPreview(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "preview", "*.eml"))
	for _, p := range files {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte("Content-Type: text/html\r\n\r\n<script>x</script><!-- <p>a</p>&#0;&lt"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, _ := Preview(Parse(raw), latin1)
		if !utf8.ValidString(p) || utf8.RuneCountInString(p) > PreviewMax || p != strings.Trim(p, " ") || strings.Contains(p, "  ") {
			t.Fatalf("preview %q", p)
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in preview %q", p)
			}
		}
	})
}
