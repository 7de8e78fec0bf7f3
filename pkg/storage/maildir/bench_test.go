package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// benchN is the mailbox size of the open/sync/rebuild benchmarks (the
// issue's 100,000); -short uses 10,000.
func benchN() int {
	if testing.Short() {
		return 10000
	}
	return 100000
}

// makeBig writes n message files straight into cur/ (as a migrated
// Maildir would be) and returns the home directory.
func makeBig(b *testing.B, n int) string {
	b.Helper()
	home := b.TempDir()
	root := filepath.Join(home, "Maildir")
	if err := makeMaildir(root, false); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d,W=%d:2,S", 1600000000+i, i, len(testMsg), len(testMsg)+4)
		if err := os.WriteFile(filepath.Join(root, "cur", name), []byte(testMsg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return home
}

func benchOpen(b *testing.B, home string) (*storage.User, storage.Mailbox, *Driver) {
	d := New(nil)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := u.Open("INBOX", true)
	if err != nil {
		b.Fatal(err)
	}
	return u, mb, d
}

func closeAll(u *storage.User, mb storage.Mailbox, d *Driver) { mb.Close(); u.Close(); d.Close() }

// BenchmarkRebuild is the first open of a Maildir without an index.
func BenchmarkRebuild(b *testing.B) {
	home := makeBig(b, benchN())
	root := filepath.Join(home, "Maildir")
	closeAll(benchOpen(b, home)) // the uidlist exists from here on
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(filepath.Join(root, indexName))
		b.StartTimer()
		closeAll(benchOpen(b, home))
	}
}

// BenchmarkOpenCold opens an indexed mailbox in a fresh process state
// (new Driver: the index is read from disk).
func BenchmarkOpenCold(b *testing.B) {
	home := makeBig(b, benchN())
	closeAll(benchOpen(b, home))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		closeAll(benchOpen(b, home))
	}
}

// BenchmarkSyncWarm is a Sync of an open mailbox nothing changed in.
func BenchmarkSyncWarm(b *testing.B) {
	home := makeBig(b, benchN())
	u, mb, d := benchOpen(b, home)
	defer closeAll(u, mb, d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mb.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlagsAll reads the flags of every message (FETCH 1:* FLAGS).
func BenchmarkFlagsAll(b *testing.B) {
	home := makeBig(b, benchN())
	u, mb, d := benchOpen(b, home)
	defer closeAll(u, mb, d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		mb.Messages(nil, func(m storage.Message) error { n += int(m.Flags); return nil })
	}
}

func benchDeliver(b *testing.B, batch int) {
	home := b.TempDir()
	d := New(nil)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mb, _ := u.Open("INBOX", false)
	defer closeAll(u, mb, d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sv, _ := mb.BeginSave()
		for j := 0; j < batch; j++ {
			sv.Append(strings.NewReader(testMsg), storage.AppendOptions{})
		}
		if _, _, err := sv.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverOne is one message in one transaction, fsynced.
func BenchmarkDeliverOne(b *testing.B) { benchDeliver(b, 1) }

// BenchmarkDeliverBatch1000 is 1,000 messages in one transaction.
func BenchmarkDeliverBatch1000(b *testing.B) { benchDeliver(b, 1000) }
