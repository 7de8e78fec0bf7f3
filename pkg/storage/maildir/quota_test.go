package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

func openQuotaUser(t *testing.T, home string, d *Driver, backend string, rules ...string) *storage.User {
	t.Helper()
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir",
		QuotaBackend: backend, QuotaRules: rules}, map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func TestQuotaMaildirSize(t *testing.T) {
	home := t.TempDir()
	root := filepath.Join(home, "Maildir")
	d := newDriver(t)
	u := openQuotaUser(t, home, d, "maildir", "*:storage=1M", "*:messages=10")
	must(t, u.Create("Work"))
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	uids := appendMsgs(t, mb, 3, storage.AppendOptions{})
	work, err := u.Open("Work", false)
	if err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, work, 2, storage.AppendOptions{})
	work.Close()
	size := int64(len(testMsg))

	check := func(what string, bytes, count int64) {
		t.Helper()
		us, err := u.Usage()
		if err != nil {
			t.Fatal(err)
		}
		if us.Bytes != bytes || us.Messages != count {
			t.Errorf("%s: usage %+v", what, us)
		}
		q, _, err := format.ReadMaildirSize(root)
		if err != nil {
			t.Fatalf("%s: maildirsize: %v", what, err)
		}
		if q.StorageLimit != 1<<20 || q.MessageLimit != 10 || q.Bytes != bytes || q.Count != count {
			t.Errorf("%s: maildirsize %+v, want %d bytes %d messages", what, q, bytes, count)
		}
	}
	check("after saves", 5*size, 5)

	_, err = mb.Store(uids[:1], storage.StoreAdd, storage.FlagDeleted, nil, 0)
	must(t, err)
	_, err = mb.Expunge(nil)
	must(t, err)
	check("after expunge", 4*size, 4)

	// A deleted maildirsize is recalculated from the indexes, as Dovecot
	// recalculates from the Maildir.
	must(t, os.Remove(filepath.Join(root, format.MaildirSizeName)))
	check("recalculated", 4*size, 4)

	roots, err := u.QuotaRoots("Work")
	if err != nil || !reflect.DeepEqual(roots, []string{"User quota"}) {
		t.Fatalf("QuotaRoots = %q, %v", roots, err)
	}
	res, err := u.QuotaResources("user QUOTA")
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.QuotaResource{{Name: "STORAGE", Usage: 1, Limit: 1024}, {Name: "MESSAGE", Usage: 4, Limit: 10}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("QuotaResources = %+v, want %+v", res, want)
	}
	if _, err := u.QuotaResources("other"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown root: %v", err)
	}
}

// TestQuotaCountAcrossDrivers: the count backend sums the index counters;
// a closed mailbox's remembered sum is dropped when another process (a
// second Driver here) changes its index.
func TestQuotaCountAcrossDrivers(t *testing.T) {
	home := t.TempDir()
	d1, d2 := newDriver(t), newDriver(t)
	u1 := openQuotaUser(t, home, d1, "", "*:messages=4")
	u2 := openQuotaUser(t, home, d2, "")
	must(t, u1.Create("A"))
	a, err := u1.Open("A", false)
	if err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, a, 2, storage.AppendOptions{})
	a.Close()
	if us, _ := u1.Usage(); us.Messages != 2 {
		t.Fatalf("usage %+v", us)
	}
	a2, err := u2.Open("A", false)
	if err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, a2, 2, storage.AppendOptions{})
	a2.Close()
	if us, _ := u1.Usage(); us.Messages != 4 || us.Bytes != 4*int64(len(testMsg)) {
		t.Fatalf("usage after the other driver's delivery %+v", us)
	}
	inbox, err := u1.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer inbox.Close()
	sv, _ := inbox.BeginSave()
	must(t, sv.Append(strings.NewReader(testMsg), storage.AppendOptions{}))
	if _, _, err := sv.Commit(); !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("commit over quota: %v", err)
	}
	if res, err := u2.QuotaResources("User quota"); err == nil || len(res) != 0 {
		t.Errorf("a user without limits has a quota root: %+v %v", res, err)
	}
}

// TestQuotaVSizes: quota_vsizes counts RFC822.SIZE (bare LFs as CRLF).
func TestQuotaVSizes(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir",
		QuotaBackend: "count", QuotaVSizes: true, QuotaRules: []string{"*:storage=1M"}},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, _ := u.Open("INBOX", false)
	appendMsgs(t, mb, 2, storage.AppendOptions{})
	mb.Close()
	vsize := int64(len(strings.ReplaceAll(testMsg, "\n", "\r\n")))
	if us, _ := u.Usage(); us.Bytes != 2*vsize || us.Messages != 2 {
		t.Fatalf("usage %+v, want %d bytes", us, 2*vsize)
	}
	if _, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir",
		QuotaBackend: "maildir", QuotaVSizes: true}, map[string]storage.Driver{"maildir": d.Open}, nil); err == nil {
		t.Fatal("quota_vsizes accepted with maildirsize")
	}
}
