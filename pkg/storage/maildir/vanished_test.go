package maildir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// TestExpungedSince: the expunge record answers QRESYNC exactly, survives
// a reopen by another driver (the index files), and says it cannot vouch
// for a modseq from before an index rebuild.
func TestExpungedSince(t *testing.T) {
	home := t.TempDir()
	u := openUser(t, home, newDriver(t), nil)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, mb, 5, storage.AppendOptions{})
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	before := mb.HighestModSeq()
	must2 := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must2(mb.Store([]uint32{2, 4}, storage.StoreAdd, storage.FlagDeleted, nil, 0))
	must2(mb.Expunge([]uint32{2}))
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	mid := mb.HighestModSeq()
	must2(mb.Expunge([]uint32{4}))
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	after := mb.HighestModSeq()
	must(t, mb.Close())

	check := func(name string, mb storage.Mailbox, since uint64, want []uint32, wantComplete bool) {
		t.Helper()
		got, complete := mb.ExpungedSince(since)
		if !slices.Equal(got, want) || complete != wantComplete {
			t.Errorf("%s: ExpungedSince(%d) = %v, %v; want %v, %v", name, since, got, complete, want, wantComplete)
		}
	}
	// Another driver: the answer comes from the index files.
	u2 := openUser(t, home, newDriver(t), nil)
	mb2, err := u2.Open("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	check("all", mb2, before, []uint32{2, 4}, true)
	check("since mid", mb2, mid, []uint32{4}, true)
	check("since after", mb2, after, nil, true)
	must(t, mb2.Close())

	// A rebuilt index knows no expunges: a modseq from before the
	// rebuild is below every record, one after it is vouched for.
	dir := filepath.Join(home, "Maildir")
	for _, f := range []string{indexName, logName} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	u3 := openUser(t, home, newDriver(t), nil)
	mb3, err := u3.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb3.Close()
	check("rebuilt", mb3, before, nil, false)
	check("rebuilt after", mb3, after, nil, false)
	check("rebuilt now", mb3, mb3.HighestModSeq(), nil, true)
}
