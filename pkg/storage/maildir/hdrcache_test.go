package maildir

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// TestHeaderCacheSaveCopyBatch: a save stores the header fields record,
// a copy (hard link or not) keeps it, SetCacheBatch stores many records
// in one write (dropping those of unknown messages), and all of them are
// in the index another driver loads.
func TestHeaderCacheSaveCopyBatch(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	must(t, u.Create("Other"))
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sv, _ := mb.BeginSave()
	must(t, sv.Append(strings.NewReader(multipartMsg), storage.AppendOptions{}))
	_, uids, err := sv.Commit()
	if err != nil {
		t.Fatal(err)
	}
	want := storage.HeaderCacheOf([]byte(multipartMsg))
	if got, _ := mb.Cache(uids[0], storage.CacheHeaders); !bytes.Equal(got, want) {
		t.Fatalf("record at save %q, want %q", got, want)
	}
	hc, ok := storage.CachedHeaders(mb, uids[0])
	if !ok || !hc.Covers("Subject") || len(hc.Fields()) != 2 {
		t.Fatalf("cached fields %+v %v", hc, ok)
	}

	other, err := u.Open("Other", false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, dst, err := mb.Copy(other, []uint32{uids[0]})
	if err != nil || len(dst) != 1 {
		t.Fatalf("copy: %v %v", dst, err)
	}
	if got, _ := other.Cache(dst[0], storage.CacheHeaders); !bytes.Equal(got, want) {
		t.Fatalf("record after copy %q, want %q", got, want)
	}

	more := appendMsgs(t, other, 3, storage.AppendOptions{})
	var entries []storage.CacheEntry
	for i, uid := range append(more, 999) {
		entries = append(entries, storage.CacheEntry{UID: uid, Field: "test.batch", Data: []byte{byte(i)}})
	}
	must(t, storage.SetCaches(other, entries))
	check := func(mb storage.Mailbox) {
		t.Helper()
		for i, uid := range more {
			if got, ok := mb.Cache(uid, "test.batch"); !ok || !bytes.Equal(got, []byte{byte(i)}) {
				t.Fatalf("uid %d: batch entry %q %v", uid, got, ok)
			}
		}
		if _, ok := mb.Cache(999, "test.batch"); ok {
			t.Fatal("entry of an unknown message stored")
		}
		if got, _ := mb.Cache(dst[0], storage.CacheHeaders); !bytes.Equal(got, want) {
			t.Fatal("copied record lost")
		}
	}
	check(other)

	d2 := newDriver(t)
	u2 := openUser(t, home, d2, nil)
	again, err := u2.Open("Other", true)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	check(again)
}
