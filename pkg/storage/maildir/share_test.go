package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
)

// testDate is an internal date other than now.
var testDate = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// rcpt is one recipient of a shared delivery test.
type rcpt struct {
	home  string
	quota []string
	opts  storage.AppendOptions
	// prep changes the Maildir before the delivery (another owner).
	prep func(t *testing.T, root string)
}

func openRcpt(t *testing.T, d *Driver, r rcpt) *storage.User {
	t.Helper()
	u, err := storage.OpenUser(storage.UserConfig{Name: filepath.Base(r.home), Home: r.home, MailLocation: "maildir:~/Maildir", QuotaRules: r.quota},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// deliverShared delivers msg to every recipient through one
// storage.Delivery and returns each Commit's error.
func deliverShared(t *testing.T, d *Driver, msg []byte, rcpts []rcpt) (*storage.Delivery, []error) {
	t.Helper()
	dl := storage.NewDelivery(func() io.Reader { return bytes.NewReader(msg) })
	t.Cleanup(func() { dl.Close() })
	var errs []error
	for _, r := range rcpts {
		u := openRcpt(t, d, r)
		mb, err := u.OpenSave("INBOX")
		if err != nil {
			t.Fatal(err)
		}
		sv, _ := mb.BeginSave()
		if err := dl.Append(sv, r.opts); err != nil {
			t.Fatal(err)
		}
		_, _, err = sv.Commit()
		errs = append(errs, err)
		mb.Close()
	}
	return dl, errs
}

// onlyMessage returns the one message of home's INBOX and its file.
func onlyMessage(t *testing.T, d *Driver, home string) (storage.Message, []byte, os.FileInfo) {
	t.Helper()
	u := openRcpt(t, d, rcpt{home: home})
	mb, err := u.Open("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	if mb.Count() != 1 {
		t.Fatalf("%s: %d messages, want 1", home, mb.Count())
	}
	m, err := mb.Message(mb.UIDAt(1))
	if err != nil {
		t.Fatal(err)
	}
	body, err := mb.Open(m.UID)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	data, _ := io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
	var fi os.FileInfo
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(home, "Maildir", sub))
		for _, e := range ents {
			fi, _ = os.Stat(filepath.Join(home, "Maildir", sub, e.Name()))
		}
	}
	return m, data, fi
}

func TestDeliveryShared(t *testing.T) {
	msg := []byte("From: a@example.org\nSubject: shared\n\nOne write, many recipients.\n")
	otherOwner := func(t *testing.T, root string) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a Maildir another owner")
		}
		if err := os.Chown(filepath.Join(root, "tmp"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		rcpts      func(base string) []rcpt
		wantLinked int
		// wantErr[i]: recipient i's Commit fails with this kind.
		wantErr map[int]error
		// sameFile[i]: recipient i's file is the first one's inode.
		sameFile map[int]bool
	}{
		{
			name: "flags and keywords per recipient",
			rcpts: func(base string) []rcpt {
				return []rcpt{
					{home: filepath.Join(base, "a")},
					{home: filepath.Join(base, "b"), opts: storage.AppendOptions{Flags: storage.FlagSeen}},
					{home: filepath.Join(base, "c"), opts: storage.AppendOptions{Keywords: []string{"$Label1"}}},
				}
			},
			wantLinked: 2,
			sameFile:   map[int]bool{1: true, 2: true},
		},
		{
			name: "quota per recipient",
			rcpts: func(base string) []rcpt {
				return []rcpt{
					{home: filepath.Join(base, "a")},
					{home: filepath.Join(base, "b"), quota: []string{"*:bytes=10"}},
					{home: filepath.Join(base, "c"), quota: []string{"*:storage=1K"}},
				}
			},
			wantLinked: 2,
			wantErr:    map[int]error{1: storage.ErrOverQuota},
			sameFile:   map[int]bool{2: true},
		},
		{
			name: "another owner gets a copy",
			rcpts: func(base string) []rcpt {
				return []rcpt{
					{home: filepath.Join(base, "a")},
					{home: filepath.Join(base, "b"), prep: otherOwner},
					{home: filepath.Join(base, "c")},
				}
			},
			wantLinked: 1,
			sameFile:   map[int]bool{1: false, 2: true},
		},
		{
			name: "another internal date gets a copy",
			rcpts: func(base string) []rcpt {
				return []rcpt{
					{home: filepath.Join(base, "a")},
					{home: filepath.Join(base, "b"), opts: storage.AppendOptions{InternalDate: testDate}},
				}
			},
			wantLinked: 0,
			sameFile:   map[int]bool{1: false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t)
			rcpts := tc.rcpts(t.TempDir())
			for _, r := range rcpts {
				must(t, os.MkdirAll(r.home, 0o700))
				openRcpt(t, d, r) // creates the Maildir
				if r.prep != nil {
					r.prep(t, filepath.Join(r.home, "Maildir"))
				}
			}
			dl, errs := deliverShared(t, d, msg, rcpts)
			if dl.Linked() != tc.wantLinked {
				t.Errorf("linked %d, want %d", dl.Linked(), tc.wantLinked)
			}
			must(t, dl.Close())
			var first os.FileInfo
			for i, r := range rcpts {
				if want := tc.wantErr[i]; want != nil {
					if !errors.Is(errs[i], want) {
						t.Errorf("recipient %d: commit %v, want %v", i, errs[i], want)
					}
					if us, _ := openRcpt(t, d, r).Usage(); us.Messages != 0 {
						t.Errorf("recipient %d: usage %+v after a refused save", i, us)
					}
					continue
				}
				if errs[i] != nil {
					t.Fatalf("recipient %d: %v", i, errs[i])
				}
				m, data, fi := onlyMessage(t, d, r.home)
				if !bytes.Equal(data, msg) {
					t.Errorf("recipient %d: content %q", i, data)
				}
				if m.Flags != r.opts.Flags || strings.Join(m.Keywords, " ") != strings.Join(r.opts.Keywords, " ") {
					t.Errorf("recipient %d: flags %v keywords %v, want %v %v", i, m.Flags, m.Keywords, r.opts.Flags, r.opts.Keywords)
				}
				if m.PhysicalSize != int64(len(msg)) || m.Size != int64(len(msg)+bytes.Count(msg, []byte("\n"))) {
					t.Errorf("recipient %d: sizes %d/%d", i, m.PhysicalSize, m.Size)
				}
				if us, _ := openRcpt(t, d, r).Usage(); us.Messages != 1 || us.Bytes != int64(len(msg)) {
					t.Errorf("recipient %d: usage %+v", i, us)
				}
				if first == nil {
					first = fi
				} else if same, ok := tc.sameFile[i]; ok && os.SameFile(first, fi) != same {
					t.Errorf("recipient %d: same file as the first %v, want %v", i, !same, same)
				}
				ents, _ := os.ReadDir(filepath.Join(r.home, "Maildir", "tmp"))
				if len(ents) != 0 {
					t.Errorf("recipient %d: tmp/ keeps %d files after Close", i, len(ents))
				}
			}
		})
	}
}

// TestDeliveryOtherFileSystem: a recipient on another file system gets a
// copy. It needs a second file system: the directory in
// COTE_TEST_OTHER_FS, else /dev/shm when it is one.
func TestDeliveryOtherFileSystem(t *testing.T) {
	other := os.Getenv("COTE_TEST_OTHER_FS")
	if other == "" {
		other = "/dev/shm"
	}
	base := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(base, &a) != nil || syscall.Stat(other, &b) != nil || a.Dev == b.Dev {
		t.Skip("no second file system to deliver to")
	}
	otherBase, err := os.MkdirTemp(other, "cote-test")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(otherBase) })
	d := newDriver(t)
	rcpts := []rcpt{{home: filepath.Join(base, "a")}, {home: filepath.Join(otherBase, "b")}, {home: filepath.Join(base, "c")}}
	for _, r := range rcpts {
		must(t, os.MkdirAll(r.home, 0o700))
	}
	msg := []byte("Subject: x\n\nacross file systems\n")
	dl, errs := deliverShared(t, d, msg, rcpts)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if _, data, _ := onlyMessage(t, d, rcpts[i].home); !bytes.Equal(data, msg) {
			t.Errorf("recipient %d: content %q", i, data)
		}
	}
	if dl.Linked() != 1 {
		t.Errorf("linked %d, want 1 (the other file system gets a copy)", dl.Linked())
	}
}

// TestGroupCommit: concurrent commits into one mailbox, from handles of
// several Users of one Driver, each get their own UIDs, all durable and
// consistent with the Maildir, the uidlist and a rebuilt index.
func TestGroupCommit(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	uidsC := make(chan []uint32, workers*each)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
				map[string]storage.Driver{"maildir": d.Open}, nil)
			if err != nil {
				errs <- err
				return
			}
			defer u.Close()
			for i := 0; i < each; i++ {
				mb, err := u.OpenSave("INBOX")
				if err != nil {
					errs <- err
					return
				}
				sv, _ := mb.BeginSave()
				n := 1 + (g+i)%2 // some transactions of two messages
				for j := 0; j < n; j++ {
					sv.Append(strings.NewReader(fmt.Sprintf("Subject: %d-%d-%d\n\nx\n", g, i, j)), storage.AppendOptions{})
				}
				_, uids, err := sv.Commit()
				mb.Close()
				if err != nil {
					errs <- err
					return
				}
				if len(uids) != n {
					errs <- fmt.Errorf("%d UIDs for %d messages", len(uids), n)
					return
				}
				uidsC <- uids
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	close(uidsC)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	total := 0
	for uids := range uidsC {
		for i, uid := range uids {
			if seen[uid] {
				t.Fatalf("UID %d given twice", uid)
			}
			if i > 0 && uid != uids[i-1]+1 {
				t.Errorf("one transaction's UIDs %v are not consecutive", uids)
			}
			seen[uid] = true
			total++
		}
	}
	for uid := uint32(1); uid <= uint32(total); uid++ {
		if !seen[uid] {
			t.Errorf("UID %d missing of 1..%d", uid, total)
		}
	}
	checkConsistent(t, filepath.Join(home, "Maildir"))
}

// TestDeliveryConcurrentCommits: appends through one Delivery in turn,
// then every recipient's Commit at once (as an LMTP server may answer
// recipients in parallel): each mailbox gets the message once.
func TestDeliveryConcurrentCommits(t *testing.T) {
	d := newDriver(t)
	base := t.TempDir()
	msg := []byte("Subject: parallel\n\ncommits\n")
	dl := storage.NewDelivery(func() io.Reader { return bytes.NewReader(msg) })
	defer dl.Close()
	var homes []string
	var saves []storage.Save
	for i := 0; i < 6; i++ {
		home := filepath.Join(base, fmt.Sprint(i))
		must(t, os.MkdirAll(home, 0o700))
		u := openRcpt(t, d, rcpt{home: home})
		mb, err := u.OpenSave("INBOX")
		must(t, err)
		t.Cleanup(func() { mb.Close() })
		sv, err := mb.BeginSave()
		must(t, err)
		must(t, dl.Append(sv, storage.AppendOptions{}))
		homes = append(homes, home)
		saves = append(saves, sv)
	}
	errs := make([]error, len(saves))
	var wg sync.WaitGroup
	for i, sv := range saves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = sv.Commit()
		}()
	}
	wg.Wait()
	for i, home := range homes {
		must(t, errs[i])
		if _, data, _ := onlyMessage(t, d, home); !bytes.Equal(data, msg) {
			t.Errorf("recipient %d: %q", i, data)
		}
	}
	if dl.Linked() != 5 {
		t.Errorf("linked %d, want 5", dl.Linked())
	}
}
