package maildir

import (
	"errors"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// TestPreviewCachedAtSave: a save stores the PREVIEW text next to the
// MIME tree (an empty one for a message without text, none when the text
// needs a charset conversion), it survives reopening the index, and a
// COPY or a linked delivery keeps it.
func TestPreviewCachedAtSave(t *testing.T) {
	cases := []struct {
		name, raw string
		want      string
		cached    bool
	}{
		{"latin1", "Subject: c\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n", "", false},
		{"utf-8", "Subject: a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n> quoted\r\nH\xc3\xa9llo  there\r\n", "Héllo there", true},
		{"multipart", multipartMsg, "hello", true},
		{"no text", "Subject: b\r\nContent-Type: image/png\r\n\r\nxx\r\n", "", true},
	}
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	must(t, u.Create("A"))
	must(t, u.Create("B"))
	inbox, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := u.Open("A", false)
	b, _ := u.Open("B", false)
	defer func() { inbox.Close(); a.Close(); b.Close() }()

	sv, _ := inbox.BeginSave()
	for _, c := range cases {
		must(t, sv.Append(strings.NewReader(c.raw), storage.AppendOptions{}))
	}
	sm, err := sv.(storage.Sharer).Share() // the last message, linked into B below
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	_, uids, err := sv.Commit()
	if err != nil {
		t.Fatal(err)
	}
	_, copies, err := inbox.Copy(a, uids)
	must(t, err)
	a.Sync()
	sb, _ := b.BeginSave()
	if ok, err := sb.(storage.Linker).AppendLinked(sm, storage.AppendOptions{}); err != nil || !ok {
		t.Fatalf("AppendLinked: %v %v", ok, err)
	}
	_, linked, err := sb.Commit()
	must(t, err)
	b.Sync()

	check := func(what string, mb storage.Mailbox, uid uint32, want string, cached bool) {
		t.Helper()
		got, ok := mb.Cache(uid, storage.CachePreview)
		if ok != cached || string(got) != want {
			t.Errorf("%s: preview %q %v, want %q %v", what, got, ok, want, cached)
		}
	}
	for i, c := range cases {
		check(c.name+" saved", inbox, uids[i], c.want, c.cached)
		check(c.name+" copied", a, copies[i], c.want, c.cached)
	}
	last := cases[len(cases)-1]
	check(last.name+" linked", b, linked[0], last.want, last.cached)

	// The index log holds the previews: a fresh driver reads them back.
	inbox.Close()
	d2 := newDriver(t)
	u2 := openUser(t, home, d2, nil)
	inbox, err = u2.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		check(c.name+" reopened", inbox, uids[i], c.want, c.cached)
	}
}

// TestPreviewCachedWithCharsets: a driver given a charset decoder caches
// the preview of a text part in another charset at save too, and one
// whose decoder does not know the charset caches the bytes as they are
// (what the IMAP engine answers for it too, as Dovecot does).
func TestPreviewCachedWithCharsets(t *testing.T) {
	latin1 := func(cs, s string) (string, error) {
		if !strings.EqualFold(cs, "iso-8859-1") {
			return "", errors.New("unknown charset " + cs)
		}
		r := make([]rune, 0, len(s))
		for i := 0; i < len(s); i++ {
			r = append(r, rune(s[i]))
		}
		return string(r), nil
	}
	cases := []struct {
		name, raw string
		want      string
		cached    bool
	}{
		{"latin1", "Subject: c\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 cr\xe8me\r\n", "café crème", true},
		{"unknown charset", "Subject: k\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nabc\r\n", "abc", true},
	}
	d := newDriver(t)
	d.SetCharsetDecoder(latin1)
	_, inbox := openInbox(t, d)
	sv, _ := inbox.BeginSave()
	for _, c := range cases {
		must(t, sv.Append(strings.NewReader(c.raw), storage.AppendOptions{}))
	}
	_, uids, err := sv.Commit()
	must(t, err)
	for i, c := range cases {
		got, ok := inbox.Cache(uids[i], storage.CachePreview)
		if ok != c.cached || string(got) != c.want {
			t.Errorf("%s: preview %q %v, want %q %v", c.name, got, ok, c.want, c.cached)
		}
	}
}

// BenchmarkParseAtSave is the CPU a save spends parsing a message
// (benchMsg) before and after the preview was added to it.
func BenchmarkParseAtSave(b *testing.B) {
	raw := benchMsg(1)
	b.Run("structure", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			storage.StructureOf(raw)
		}
	})
	b.Run("structure+preview", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			storage.ParseAtSave(raw, nil)
		}
	})
}

// TestLargeSaveCached: a message over storage.MapThreshold (read back
// through a mapping of the written file rather than kept in the heap while
// it is written) gets its MIME tree and preview cached at save too.
func TestLargeSaveCached(t *testing.T) {
	raw := "Subject: large\r\nContent-Type: text/plain\r\n\r\nfirst words\r\n" +
		strings.Repeat("more text of a long message\r\n", storage.MapThreshold/28+100)
	_, inbox := openInbox(t, nil)
	sv, _ := inbox.BeginSave()
	must(t, sv.Append(strings.NewReader(raw), storage.AppendOptions{}))
	_, uids, err := sv.Commit()
	must(t, err)
	if got, ok := inbox.Cache(uids[0], storage.CacheStructure); !ok || string(got) != string(storage.StructureOf([]byte(raw))) {
		t.Errorf("MIME tree of a %d-byte message not cached at save (%v)", len(raw), ok)
	}
	if got, ok := inbox.Cache(uids[0], storage.CachePreview); !ok || !strings.HasPrefix(string(got), "first words more text") {
		t.Errorf("preview of a %d-byte message: %q %v", len(raw), got, ok)
	}
}
