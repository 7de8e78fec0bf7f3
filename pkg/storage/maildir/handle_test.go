package maildir

import (
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// recentCount opens name read-write, as SELECT does, and counts \Recent.
func recentCount(t *testing.T, u *storage.User, name string) int {
	t.Helper()
	mb, err := u.Open(name, false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	n := 0
	for _, uid := range mb.UIDs() {
		if mb.Recent(uid) {
			n++
		}
	}
	return n
}

// TestOpenSaveKeepsRecent: saving through a save-only handle (APPEND,
// COPY or MOVE into a mailbox that is not selected) must leave \Recent to
// the next session that selects the mailbox (RFC 3501 §2.3.2).
func TestOpenSaveKeepsRecent(t *testing.T) {
	tests := []struct {
		name string
		save func(t *testing.T, u *storage.User, dst storage.Mailbox)
		want int
	}{
		{"append", func(t *testing.T, u *storage.User, dst storage.Mailbox) {
			appendMsgs(t, dst, 2, storage.AppendOptions{})
		}, 2},
		{"copy", func(t *testing.T, u *storage.User, dst storage.Mailbox) {
			src, err := u.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			uids := appendMsgs(t, src, 3, storage.AppendOptions{Keywords: []string{"k"}})
			if _, err := src.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := src.Copy(dst, uids); err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"move", func(t *testing.T, u *storage.User, dst storage.Mailbox) {
			src, err := u.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			uids := appendMsgs(t, src, 1, storage.AppendOptions{})
			if _, err := src.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := storage.Move(src, dst, uids); err != nil {
				t.Fatal(err)
			}
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := openUser(t, t.TempDir(), newDriver(t), nil)
			must(t, u.Create("Box"))
			dst, err := u.OpenSave("Box")
			if err != nil {
				t.Fatal(err)
			}
			if dst.ReadOnly() {
				t.Fatal("save handle is read-only")
			}
			tc.save(t, u, dst)
			// A Sync of the save handle must not claim \Recent either.
			if _, err := dst.Sync(); err != nil {
				t.Fatal(err)
			}
			must(t, dst.Close())
			st, err := u.Status("Box")
			if err != nil {
				t.Fatal(err)
			}
			if int(st.Recent) != tc.want {
				t.Fatalf("STATUS RECENT = %d, want %d", st.Recent, tc.want)
			}
			if got := recentCount(t, u, "Box"); got != tc.want {
				t.Fatalf("first SELECT sees %d \\Recent, want %d", got, tc.want)
			}
			if got := recentCount(t, u, "Box"); got != 0 {
				t.Fatalf("second SELECT sees %d \\Recent, want 0", got)
			}
		})
	}
}

// TestOpenSaveWhileSelected: a session that has the mailbox selected
// claims what a save-only handle adds, at its next Sync.
func TestOpenSaveWhileSelected(t *testing.T) {
	u := openUser(t, t.TempDir(), newDriver(t), nil)
	sel, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	dst, err := u.OpenSave("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, dst, 2, storage.AppendOptions{})
	must(t, dst.Close())
	ch, err := sel.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Exists != 2 || ch.Recent != 2 {
		t.Fatalf("exists %d recent %d, want 2 2", ch.Exists, ch.Recent)
	}
}

func TestOpenSaveMissing(t *testing.T) {
	u := openUser(t, t.TempDir(), newDriver(t), nil)
	if _, err := u.OpenSave("Nope"); storage.KindOf(err) != storage.ErrNotFound {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// TestNewKeywords: NewKeywords and KeywordsChanged compare with the set
// the handle last returned from Keywords, so a session's own STORE that
// it has announced is not reported again, and one it has not is.
func TestNewKeywords(t *testing.T) {
	tests := []struct {
		name string
		// act runs on the session's handle a and another handle b.
		act      func(t *testing.T, a, b storage.Mailbox, uids []uint32)
		announce bool // the session reads Keywords (sends FLAGS) after act
		want     bool
	}{
		{"own store announced", func(t *testing.T, a, b storage.Mailbox, uids []uint32) {
			if _, err := a.Store(uids, storage.StoreAdd, 0, []string{"new1"}, 0); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"own store not announced", func(t *testing.T, a, b storage.Mailbox, uids []uint32) {
			if _, err := a.Store(uids, storage.StoreAdd, 0, []string{"new1"}, 0); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"other handle", func(t *testing.T, a, b storage.Mailbox, uids []uint32) {
			if _, err := b.Store(uids, storage.StoreAdd, 0, []string{"new2"}, 0); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"existing keyword", func(t *testing.T, a, b storage.Mailbox, uids []uint32) {
			if _, err := b.Store(uids, storage.StoreReplace, 0, []string{"old"}, 0); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"nothing", func(t *testing.T, a, b storage.Mailbox, uids []uint32) {}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := openUser(t, t.TempDir(), newDriver(t), nil)
			a, err := u.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			uids := appendMsgs(t, a, 1, storage.AppendOptions{Keywords: []string{"old"}})
			b, err := u.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if _, err := a.Sync(); err != nil {
				t.Fatal(err)
			}
			a.Keywords() // SELECT's FLAGS
			if _, err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			tc.act(t, a, b, uids)
			// Before any announcement the flag says whether keywords were
			// created at all.
			created := tc.want || tc.announce
			if got := a.KeywordsChanged(); got != created {
				t.Fatalf("KeywordsChanged = %v before announcing, want %v", got, created)
			}
			if tc.announce {
				a.Keywords()
			}
			ch, err := a.Sync()
			if err != nil {
				t.Fatal(err)
			}
			if ch.NewKeywords != tc.want {
				t.Fatalf("NewKeywords = %v, want %v", ch.NewKeywords, tc.want)
			}
			if a.KeywordsChanged() != tc.want {
				t.Fatalf("KeywordsChanged after Sync = %v, want %v", !tc.want, tc.want)
			}
			a.Keywords()
			if ch, err := a.Sync(); err != nil || ch.NewKeywords {
				t.Fatalf("after Keywords: NewKeywords = %v, %v", ch.NewKeywords, err)
			}
		})
	}
}
