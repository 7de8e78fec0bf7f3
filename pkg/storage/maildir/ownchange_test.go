package maildir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// boxOf returns the shared box under a handle the user opened.
func boxOf(t *testing.T, mb storage.Mailbox) *box {
	t.Helper()
	m, ok := mb.(*mailbox)
	if !ok {
		t.Fatalf("handle is %T, not *mailbox", mb)
	}
	return m.b
}

// TestOwnChangesNeedNoListing: STORE and EXPUNGE by cote record their
// renames and removals as cote's own change of new/ and cur/, so the
// syncs after them read no directory, while a change by another program
// afterwards is still seen by the next sync.
func TestOwnChangesNeedNoListing(t *testing.T) {
	home, mb := openInbox(t, nil)
	// Directories last changed an hour ago: a listing proves them clean.
	root := filepath.Join(home, "Maildir")
	old := time.Now().Add(-time.Hour)
	for _, sub := range subdirs {
		if err := os.Chtimes(filepath.Join(root, sub), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	uids := appendMsgs(t, mb, 4, storage.AppendOptions{})
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	b := boxOf(t, mb)
	clean := func(what string) {
		t.Helper()
		b.mu.Lock()
		defer b.mu.Unlock()
		if got := b.dirsToScan(time.Now()); got != [2]bool{} {
			t.Fatalf("after %s: dirs to scan %v, want none", what, got)
		}
	}
	clean("append")
	steps := []struct {
		name string
		do   func() error
	}{
		{"store new->cur", func() error {
			_, err := mb.Store(uids[:2], storage.StoreAdd, storage.FlagSeen, nil, 0)
			return err
		}},
		{"store cur->cur", func() error {
			_, err := mb.Store(uids[:1], storage.StoreAdd, storage.FlagFlagged, []string{"$Label1"}, 0)
			return err
		}},
		{"store repeated uid", func() error {
			_, err := mb.Store([]uint32{uids[2], uids[2]}, storage.StoreAdd, storage.FlagDeleted, nil, 0)
			return err
		}},
		{"expunge", func() error {
			_, err := mb.Expunge(nil)
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if _, err := mb.Sync(); err != nil {
			t.Fatal(err)
		}
		clean(st.name)
	}
	if want := []uint32{uids[0], uids[1], uids[3]}; !slices.Equal(mb.UIDs(), want) {
		t.Fatalf("view %v, want %v", mb.UIDs(), want)
	}
	// The index on disk says what the handle saw: a second driver (a
	// second process) reads the same flags from it.
	u2 := openUser(t, home, newDriver(t), nil)
	mb2, err := u2.Open("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb2.Close()
	for _, tc := range []struct {
		uid   uint32
		flags storage.Flags
		kw    []string
	}{
		{uids[0], storage.FlagSeen | storage.FlagFlagged, []string{"$Label1"}},
		{uids[1], storage.FlagSeen, nil},
		{uids[3], 0, nil},
	} {
		m, err := mb2.Message(tc.uid)
		if err != nil {
			t.Fatal(err)
		}
		if m.Flags != tc.flags || !slices.Equal(m.Keywords, tc.kw) {
			t.Fatalf("uid %d: flags %v %v, want %v %v", tc.uid, m.Flags, m.Keywords, tc.flags, tc.kw)
		}
	}
	// Another program renames a file after cote's changes: the next
	// sync sees it.
	ul, err := format.ReadUidlist(root)
	if err != nil {
		t.Fatal(err)
	}
	var base string
	for _, r := range ul.Records {
		if r.UID == uids[3] {
			base = r.Base
		}
	}
	if err := os.Rename(filepath.Join(root, "new", base), filepath.Join(root, "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	ch, err := mb.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.FlagsChanged, []uint32{uids[3]}) {
		t.Fatalf("external rename: changes %+v", ch)
	}
}

func TestDirClean(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ns := func(d time.Duration) int64 { return now.Add(d).UnixNano() }
	fine := ns(-time.Second + 123456789) // sub-second timestamp
	whole := ns(-time.Second)            // whole-second timestamp
	for _, tc := range []struct {
		name  string
		ds    dirState
		mtime int64
		want  bool
	}{
		{"never listed", dirState{}, fine, false},
		{"mtime moved", dirState{mtime: fine, check: ns(0)}, fine + 1, false},
		{"fine, listed 150ms after", dirState{mtime: fine, check: fine + int64(150*time.Millisecond)}, fine, true},
		{"fine, listed 50ms after", dirState{mtime: fine, check: fine + int64(50*time.Millisecond)}, fine, false},
		{"whole second, listed 150ms after", dirState{mtime: whole, check: whole + int64(150*time.Millisecond)}, whole, false},
		{"whole second, listed 3s after", dirState{mtime: whole, check: whole + int64(3*time.Second)}, whole, true},
		{"own change, refresh not due", dirState{mtime: fine, check: ns(-time.Second), own: true}, fine, true},
		{"own change, refresh due", dirState{mtime: fine, check: ns(-3 * time.Second), own: true}, fine, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dirClean(tc.ds, tc.mtime, now); got != tc.want {
				t.Fatalf("dirClean(%+v, %d) = %v, want %v", tc.ds, tc.mtime, got, tc.want)
			}
		})
	}
}

// TestOwnChangeAfterUnprovenListing: a directory listed within the
// window of its last change (a busy mailbox) is recorded as cote's own
// after cote's next change, so syncs stop listing it; a visible change
// by another program is never recorded over.
func TestOwnChangeAfterUnprovenListing(t *testing.T) {
	home, mb := openInbox(t, nil)
	b := boxOf(t, mb)
	newDir := filepath.Join(home, "Maildir", "new")
	toScan := func() [2]bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.dirsToScan(time.Now())
	}
	// Changed just now (sub-second mtime), listed at once.
	now := time.Now()
	if err := os.Chtimes(newDir, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, mb, 1, storage.AppendOptions{})
	if got := toScan(); got[0] {
		t.Fatalf("new/ after an own change following a recent listing: to scan %v", got)
	}
	// Another program drops a file and the mtime moves visibly: cote's
	// next change must not vouch for new/, the next sync lists it.
	if err := os.WriteFile(filepath.Join(newDir, "1700000000.other.host"), []byte("Subject: x\n\ny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(newDir, later, later); err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, mb, 1, storage.AppendOptions{})
	if got := toScan(); !got[0] {
		t.Fatalf("new/ after a visible external change: to scan %v", got)
	}
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(mb.UIDs()); n != 3 {
		t.Fatalf("view %v, want 3 messages", mb.UIDs())
	}
}
