package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

const multipartMsg = "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n"

// TestStructureCachedAtSave: the MIME tree is stored at APPEND time,
// LoadMessage uses it, and a corrupt or missing entry is parsed again and
// repaired.
func TestStructureCachedAtSave(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
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
	uid := uids[0]
	want := message.Parse([]byte(multipartMsg))
	data, ok := mb.Cache(uid, storage.CacheStructure)
	if !ok {
		t.Fatal("no structure cached at save")
	}
	var root message.Part
	must(t, root.UnmarshalBinary(data))
	if !reflect.DeepEqual(&root, want.Root) {
		t.Fatalf("cached tree differs from a parse")
	}

	tests := []struct {
		name   string
		break_ func()
	}{
		{"cached", func() {}},
		{"corrupt", func() { must(t, mb.SetCache(uid, storage.CacheStructure, []byte("CMT\x01garbage"))) }},
		{"foreign tree", func() {
			other, _ := message.Parse([]byte("Subject: x\r\n\r\n" + strings.Repeat("y", 500))).Root.MarshalBinary()
			must(t, mb.SetCache(uid, storage.CacheStructure, other))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.break_()
			m, release, err := storage.LoadMessage(mb, uid)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			if !reflect.DeepEqual(m.Root, want.Root) || string(m.Raw) != multipartMsg {
				t.Fatalf("LoadMessage tree differs")
			}
			data, _ := mb.Cache(uid, storage.CacheStructure)
			var r message.Part
			if err := r.UnmarshalBinary(data); err != nil || !reflect.DeepEqual(&r, want.Root) {
				t.Fatalf("cache not repaired: %v", err)
			}
		})
	}
}

// TestEmailIDAcrossCopy: copies keep the EMAILID of their source (also
// two copies into one mailbox, and a copy of a copy), and a rebuild of
// the destination's index finds the same EMAILIDs through the uidlist's
// GUID extension.
func TestEmailIDAcrossCopy(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	must(t, u.Create("A"))
	must(t, u.Create("B"))
	inbox, _ := u.Open("INBOX", false)
	defer inbox.Close()
	a, _ := u.Open("A", false)
	b, _ := u.Open("B", false)
	uids := appendMsgs(t, inbox, 2, storage.AppendOptions{})
	src, _ := inbox.Message(uids[0])
	if src.EmailID == "" {
		t.Fatal("no EMAILID")
	}
	_, dst1, err := inbox.Copy(a, uids[:1])
	must(t, err)
	_, dst2, err := inbox.Copy(a, uids[:1])
	must(t, err)
	a.Sync()
	_, dst3, err := a.Copy(b, dst1)
	must(t, err)
	src2, _ := inbox.Message(uids[1])
	_, moved, err := storage.Move(inbox, b, uids[1:])
	must(t, err)
	b.Sync()
	check := func(what string, mb storage.Mailbox, uid uint32, want string) {
		t.Helper()
		m, err := mb.Message(uid)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if m.EmailID != want {
			t.Errorf("%s: EMAILID %s, want %s", what, m.EmailID, want)
		}
		if _, ok := mb.Cache(uid, storage.CacheStructure); !ok {
			t.Errorf("%s: copy lacks the cached structure", what)
		}
	}
	check("copy", a, dst1[0], src.EmailID)
	check("second copy", a, dst2[0], src.EmailID)
	check("copy of a copy", b, dst3[0], src.EmailID)
	check("move", b, moved[0], src2.EmailID)
	if src2.EmailID == src.EmailID {
		t.Fatal("two messages share an EMAILID")
	}
	a.Close()
	b.Close()
	// Rebuild A and B from the Maildir alone.
	for _, box := range []string{".A", ".B"} {
		for _, f := range []string{indexName, logName} {
			os.Remove(filepath.Join(home, "Maildir", box, f))
		}
	}
	a, _ = u.Open("A", false)
	defer a.Close()
	b, _ = u.Open("B", false)
	defer b.Close()
	for _, c := range []struct {
		mb   storage.Mailbox
		uid  uint32
		want string
	}{{a, dst1[0], src.EmailID}, {a, dst2[0], src.EmailID}, {b, dst3[0], src.EmailID}, {b, moved[0], src2.EmailID}} {
		m, err := c.mb.Message(c.uid)
		if err != nil {
			t.Fatal(err)
		}
		if m.EmailID != c.want {
			t.Errorf("after rebuild uid %d: EMAILID %s, want %s", c.uid, m.EmailID, c.want)
		}
	}
}
