package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

const testMsg = "From: a@example.org\nSubject: hi\n\nbody\n"

func openUser(t *testing.T, home string, d *Driver, nss []storage.NamespaceConfig) *storage.User {
	t.Helper()
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir", Namespaces: nss},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func newDriver(t *testing.T) *Driver {
	d := New(nil)
	t.Cleanup(func() { d.Close() })
	return d
}

// openInbox opens INBOX of a new user in a temporary home through the
// driver d (newDriver(t) when nil); it is closed when the test ends.
func openInbox(t *testing.T, d *Driver) (home string, mb storage.Mailbox) {
	t.Helper()
	if d == nil {
		d = newDriver(t)
	}
	home = t.TempDir()
	mb, err := openUser(t, home, d, nil).Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return home, mb
}

func appendMsgs(t *testing.T, mb storage.Mailbox, n int, opts storage.AppendOptions) []uint32 {
	t.Helper()
	sv, err := mb.BeginSave()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := sv.Append(strings.NewReader(testMsg), opts); err != nil {
			t.Fatal(err)
		}
	}
	_, uids, err := sv.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return uids
}

func TestSaveFetchStoreExpunge(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	uids := appendMsgs(t, mb, 3, storage.AppendOptions{Flags: storage.FlagSeen, Keywords: []string{"$Junk"}, InternalDate: date})
	if !slices.Equal(uids, []uint32{1, 2, 3}) {
		t.Fatalf("uids = %v", uids)
	}
	ch, err := mb.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Exists != 3 || mb.Count() != 3 {
		t.Fatalf("exists %d count %d", ch.Exists, mb.Count())
	}
	m, err := mb.Message(2)
	if err != nil {
		t.Fatal(err)
	}
	wantSize := int64(len(testMsg) + strings.Count(testMsg, "\n"))
	if m.Flags != storage.FlagSeen || !slices.Equal(m.Keywords, []string{"$Junk"}) || m.Size != wantSize || !m.InternalDate.Equal(date) {
		t.Fatalf("message = %+v", m)
	}
	b, err := mb.Open(2)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(b)
	b.Close()
	if string(raw) != testMsg {
		t.Fatalf("raw = %q", raw)
	}
	ms0 := mb.HighestModSeq()
	failed, err := mb.Store([]uint32{1, 2}, storage.StoreAdd, storage.FlagDeleted|storage.FlagFlagged, []string{"work"}, 0)
	if err != nil || len(failed) != 0 {
		t.Fatal(failed, err)
	}
	m, _ = mb.Message(1)
	if m.ModSeq <= ms0 || m.Flags != storage.FlagSeen|storage.FlagDeleted|storage.FlagFlagged || !slices.Equal(m.Keywords, []string{"$Junk", "work"}) {
		t.Fatalf("after store: %+v", m)
	}
	// UNCHANGEDSINCE below the message's modseq fails it.
	failed, err = mb.Store([]uint32{1, 3}, storage.StoreRemove, storage.FlagSeen, nil, ms0)
	if err != nil || !slices.Equal(failed, []uint32{1}) {
		t.Fatalf("failed = %v, %v", failed, err)
	}
	gone, err := mb.Expunge(nil)
	if err != nil || !slices.Equal(gone, []uint32{1, 2}) {
		t.Fatalf("expunged %v %v", gone, err)
	}
	if _, err := mb.Message(1); !errors.Is(err, storage.ErrExpunged) {
		t.Fatalf("Message of expunged = %v", err)
	}
	ch, err = mb.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Expunged, []uint32{2, 1}) || mb.Count() != 1 || mb.UIDAt(1) != 3 {
		t.Fatalf("changes %+v view %v", ch, mb.UIDs())
	}
	st, err := u.Status("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 1 || st.UIDNext != 4 || st.Unseen != 1 || st.HighestModSeq < m.ModSeq {
		t.Fatalf("status %+v", st)
	}
}

func TestFoldersAndSubscriptions(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	nss := []storage.NamespaceConfig{{Separator: ".", Inbox: true, List: "yes", Subscriptions: true,
		Mailboxes: []storage.MailboxConfig{{Name: "Sent", SpecialUse: []string{`\Sent`}, Auto: "subscribe"}}}}
	u := openUser(t, home, d, nss)
	for _, n := range []string{"a", "a.b", "a.b.c", "Grüße"} {
		if err := u.Create(n); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	if err := u.Create("a"); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("create twice: %v", err)
	}
	for _, bad := range []string{"x/y", "..", "a..b", ".x"} {
		if err := u.Create(bad); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("create %q: %v, want ErrInvalid", bad, err)
		}
	}
	if err := u.Rename("a", "z"); err != nil {
		t.Fatal(err)
	}
	if err := u.Delete("INBOX"); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := u.SetSubscribed("z.b", true); err != nil {
		t.Fatal(err)
	}
	infos, err := u.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mi := range infos {
		s := mi.Name
		if mi.Children {
			s += "+"
		}
		if mi.Subscribed {
			s += "*"
		}
		if len(mi.SpecialUse) > 0 {
			s += mi.SpecialUse[0]
		}
		got = append(got, s)
	}
	want := []string{"Grüße", "INBOX", `Sent*\Sent`, "z+", "z.b+*", "z.b.c"}
	if !slices.Equal(got, want) {
		t.Fatalf("list = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(home, "Maildir", ".Gr&APwA3w-e")); err != nil {
		t.Fatalf("mUTF-7 folder dir: %v", err)
	}
	if err := u.Delete("z.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Open("z.b", true); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("open deleted: %v", err)
	}
}

func TestInboxRename(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	mb, _ := u.Open("INBOX", false)
	appendMsgs(t, mb, 2, storage.AppendOptions{Flags: storage.FlagSeen})
	mb.Close()
	if err := u.Rename("INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		n    uint32
	}{{"INBOX", 0}, {"Old", 2}} {
		st, err := u.Status(c.name)
		if err != nil || st.Messages != c.n {
			t.Fatalf("%s: %+v %v", c.name, st, err)
		}
	}
}

// TestExternalChanges: files added, renamed and removed by another
// program are picked up; a damaged uidlist and a missing cur/ are
// survived.
func TestExternalChanges(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	mb, _ := u.Open("INBOX", false)
	defer mb.Close()
	appendMsgs(t, mb, 2, storage.AppendOptions{})
	mb.Sync()
	root := filepath.Join(home, "Maildir")
	// mutt marks message 1 seen; a procmail drops a new file without
	// ,S=; a file of unknown shape appears; message 2 is deleted.
	ul, err := format.ReadUidlist(root)
	if err != nil || len(ul.Records) != 2 {
		t.Fatalf("uidlist %+v %v", ul, err)
	}
	must(t, os.Rename(filepath.Join(root, "new", ul.Records[0].Base), filepath.Join(root, "cur", ul.Records[0].Base+":2,S")))
	must(t, os.Remove(filepath.Join(root, "new", ul.Records[1].Base)))
	must(t, os.WriteFile(filepath.Join(root, "new", "1700000000.procmail.host"), []byte("Subject: x\n\ny\n"), 0o600))
	ch, err := mb.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.ExpungedUIDs, []uint32{2}) || !slices.Equal(ch.FlagsChanged, []uint32{1}) || !slices.Equal(mb.UIDs(), []uint32{1, 3}) {
		t.Fatalf("changes %+v view %v", ch, mb.UIDs())
	}
	m, _ := mb.Message(1)
	if m.Flags != storage.FlagSeen {
		t.Fatalf("flags %v", m.Flags)
	}
	m, _ = mb.Message(3)
	if m.Size != int64(len("Subject: x\r\n\r\ny\r\n")) {
		t.Fatalf("size %d", m.Size)
	}
	// Truncated uidlist: UIDs the index knows stay.
	ulPath := filepath.Join(root, "dovecot-uidlist")
	data, _ := os.ReadFile(ulPath)
	must(t, os.WriteFile(ulPath, data[:len(data)-5], 0o600))
	must(t, os.WriteFile(filepath.Join(root, "new", "1700000001.other.host"), []byte("x\n"), 0o600))
	mb.Sync()
	if !slices.Equal(mb.UIDs(), []uint32{1, 3, 4}) {
		t.Fatalf("after truncated uidlist: %v", mb.UIDs())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRebuild: deleting or corrupting the index keeps UIDs and flags
// and raises HIGHESTMODSEQ above every value announced.
func TestRebuild(t *testing.T) {
	for _, damage := range []struct {
		name string
		fn   func(dir string) error
	}{
		{"deleted", func(dir string) error {
			os.Remove(filepath.Join(dir, logName))
			return os.Remove(filepath.Join(dir, indexName))
		}},
		{"corrupt snapshot", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, indexName), []byte("COTEIDX\x00garbage"), 0o600)
		}},
		{"corrupt log", func(dir string) error {
			f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(frame('?', []byte("unknown record")))
			return err
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			home := t.TempDir()
			root := filepath.Join(home, "Maildir")
			var before []storage.Message
			var highest uint64
			{
				d := New(nil)
				u := openUser(t, home, d, nil)
				mb, _ := u.Open("INBOX", false)
				appendMsgs(t, mb, 5, storage.AppendOptions{})
				mb.Sync()
				mb.Store([]uint32{2, 4}, storage.StoreAdd, storage.FlagAnswered, []string{"k1"}, 0)
				mb.Expunge(nil)
				mb.Sync()
				mb.Messages(nil, func(m storage.Message) error { before = append(before, m); return nil })
				highest = mb.HighestModSeq()
				mb.Close()
				u.Close()
				d.Close()
			}
			must(t, damage.fn(root))
			d := newDriver(t)
			u := openUser(t, home, d, nil)
			mb, err := u.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			var after []storage.Message
			mb.Messages(nil, func(m storage.Message) error { after = append(after, m); return nil })
			if len(after) != len(before) {
				t.Fatalf("%d messages, want %d", len(after), len(before))
			}
			for i := range after {
				a, b := after[i], before[i]
				if a.UID != b.UID || a.Flags != b.Flags || !slices.Equal(a.Keywords, b.Keywords) {
					t.Errorf("message %d: %+v, want %+v", i, a, b)
				}
			}
			if mb.HighestModSeq() <= highest && damage.name != "corrupt log" {
				t.Errorf("highestmodseq %d, not above %d", mb.HighestModSeq(), highest)
			}
		})
	}
}

// TestConcurrentGoroutines: sessions in goroutines append, flag and
// expunge at once; the Maildir, uidlist and index then agree.
func TestConcurrentGoroutines(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			mb, err := u.Open("INBOX", false)
			if err != nil {
				errs <- err
				return
			}
			defer mb.Close()
			for i := 0; i < 15; i++ {
				sv, _ := mb.BeginSave()
				sv.Append(strings.NewReader(testMsg), storage.AppendOptions{})
				if _, _, err := sv.Commit(); err != nil {
					errs <- err
					return
				}
				mb.Sync()
				uids := mb.UIDs()
				if len(uids) > 0 {
					pick := uids[(i*7+g)%len(uids)]
					op := storage.StoreAdd
					if i%3 == 0 {
						op = storage.StoreRemove
					}
					if _, err := mb.Store([]uint32{pick}, op, storage.FlagSeen|storage.FlagDeleted, []string{fmt.Sprintf("g%d", g)}, 0); err != nil {
						errs <- err
						return
					}
				}
				if i%5 == 4 {
					if _, err := mb.Expunge(nil); err != nil {
						errs <- err
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkConsistent(t, filepath.Join(home, "Maildir"))
}

// checkConsistent compares a fresh index (rebuilt from nothing but the
// Maildir and uidlist) with the existing one.
func checkConsistent(t *testing.T, root string) {
	t.Helper()
	d := newDriver(t)
	u := openUser(t, filepath.Dir(root), d, nil)
	mb, err := u.Open("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	var got []storage.Message
	mb.Messages(nil, func(m storage.Message) error { got = append(got, m); return nil })
	mb.Close()
	must(t, os.Remove(filepath.Join(root, indexName)))
	d2 := newDriver(t)
	u2 := openUser(t, filepath.Dir(root), d2, nil)
	mb2, err := u2.Open("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb2.Close()
	var want []storage.Message
	mb2.Messages(nil, func(m storage.Message) error { want = append(want, m); return nil })
	if len(got) != len(want) {
		t.Fatalf("index has %d messages, Maildir %d", len(got), len(want))
	}
	seen := map[uint32]bool{}
	for i := range got {
		if seen[got[i].UID] {
			t.Fatalf("duplicate UID %d", got[i].UID)
		}
		seen[got[i].UID] = true
		if got[i].UID != want[i].UID || got[i].Flags != want[i].Flags || !slices.Equal(got[i].Keywords, want[i].Keywords) {
			t.Errorf("index %+v, Maildir %+v", got[i], want[i])
		}
	}
}

func TestQuota(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir", QuotaRules: []string{"*:messages=3"}},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, _ := u.Open("INBOX", false)
	defer mb.Close()
	appendMsgs(t, mb, 2, storage.AppendOptions{})
	sv, _ := mb.BeginSave()
	sv.Append(strings.NewReader(testMsg), storage.AppendOptions{})
	sv.Append(strings.NewReader(testMsg), storage.AppendOptions{})
	if _, _, err := sv.Commit(); !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("commit over quota: %v", err)
	}
	us, _ := u.Usage()
	if us.Messages != 2 {
		t.Fatalf("usage %+v: something was half-written", us)
	}
	ents, _ := os.ReadDir(filepath.Join(home, "Maildir", "tmp"))
	if len(ents) != 0 {
		t.Fatalf("tmp/ keeps %d files", len(ents))
	}
}
