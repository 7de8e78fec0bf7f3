package maildir

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/storage"
)

// Delivery benchmarks (issue 6 item 2, issue 9): durable deliveries of a
// 4 KiB message as LMTP makes them (OpenUser, OpenSave INBOX, one Append,
// Commit), by 1, 4 and 16 concurrent goroutines of one process sharing a
// Driver, to as many users or all to one user. Each loop iteration hands
// one message to the next free worker, so msgs/s is throughput with that
// many deliveries in flight. BenchmarkFsyncRate is the disk's physical
// limit for comparison: a new file written and fsynced, renamed into
// another directory and that directory fsynced.
//
//	go test -run '^$' -bench 'Delivery|FsyncRate' -benchtime 2s ./pkg/storage/maildir/

// deliverMsg is a 4 KiB message.
var deliverMsg = func() []byte {
	var b bytes.Buffer
	b.WriteString("From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: delivery benchmark\r\nMessage-ID: <bench@example.org>\r\n\r\n")
	for b.Len() < 4096-80 {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n")
	}
	for b.Len() < 4096-2 {
		b.WriteByte('x')
	}
	b.WriteString("\r\n")
	return b.Bytes()
}()

func deliverOnce(d *Driver, home string) error {
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		return err
	}
	defer u.Close()
	mb, err := u.OpenSave("INBOX")
	if err != nil {
		return err
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		return err
	}
	if err := sv.Append(bytes.NewReader(deliverMsg), storage.AppendOptions{}); err != nil {
		sv.Abort()
		return err
	}
	_, _, err = sv.Commit()
	return err
}

// runWorkers runs fn on conc workers, one call per b.Loop iteration,
// worker i always with home i (one home each, or all the same one).
func runWorkers(b *testing.B, conc int, homes []string, fn func(home string) error) {
	jobs := make(chan struct{})
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		home := homes[i%len(homes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := fn(home); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	n := 0
	for b.Loop() {
		jobs <- struct{}{}
		n++
	}
	close(jobs)
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkDelivery(b *testing.B) {
	for _, conc := range []int{1, 4, 16} {
		for _, target := range []string{"users", "oneuser"} {
			b.Run(fmt.Sprintf("%s/c=%d", target, conc), func(b *testing.B) {
				d := New(nil)
				defer d.Close()
				base := b.TempDir()
				homes := []string{filepath.Join(base, "u0")}
				if target == "users" {
					for i := 1; i < conc; i++ {
						homes = append(homes, filepath.Join(base, "u"+strconv.Itoa(i)))
					}
				}
				for _, h := range homes {
					if err := os.MkdirAll(h, 0o700); err != nil {
						b.Fatal(err)
					}
					if err := deliverOnce(d, h); err != nil { // creates the Maildir and its index
						b.Fatal(err)
					}
				}
				runWorkers(b, conc, homes, func(home string) error { return deliverOnce(d, home) })
			})
		}
	}
}

// BenchmarkDeliveryUnread is delivery into a mailbox whose new/ already
// holds 20,000 unread messages (a user who reads mail rarely, or by
// POP3): a delivery must not cost a read of new/.
func BenchmarkDeliveryUnread(b *testing.B) {
	d := New(nil)
	defer d.Close()
	home := filepath.Join(b.TempDir(), "u")
	if err := os.MkdirAll(home, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := deliverOnce(d, home); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 20000; i++ {
		name := fmt.Sprintf("1700000000.M%dP1.bench,S=%d,W=%d", i, len(deliverMsg), len(deliverMsg))
		if err := os.WriteFile(filepath.Join(home, "Maildir", "new", name), deliverMsg, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	// A session indexes them, as one would before the next delivery.
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := u.Open("INBOX", true)
	if err != nil {
		b.Fatal(err)
	}
	mb.Close()
	u.Close()
	runWorkers(b, 1, []string{home}, func(home string) error { return deliverOnce(d, home) })
}

// BenchmarkFsyncRate is the raw cost of a durable Maildir delivery on
// this disk without any index: write + fsync a new file in tmp/, rename
// it into new/, fsync new/, by 1, 4 and 16 goroutines (each in its own
// Maildir).
func BenchmarkFsyncRate(b *testing.B) {
	for _, conc := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("c=%d", conc), func(b *testing.B) {
			base := b.TempDir()
			var homes []string
			for i := 0; i < conc; i++ {
				h := filepath.Join(base, strconv.Itoa(i))
				for _, sub := range []string{"tmp", "new"} {
					if err := os.MkdirAll(filepath.Join(h, sub), 0o700); err != nil {
						b.Fatal(err)
					}
				}
				homes = append(homes, h)
			}
			var seq sync.Mutex
			n := 0
			runWorkers(b, conc, homes, func(home string) error {
				seq.Lock()
				n++
				name := strconv.Itoa(n)
				seq.Unlock()
				tmp := filepath.Join(home, "tmp", name)
				f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				if _, err := f.Write(deliverMsg); err != nil {
					f.Close()
					return err
				}
				if err := f.Sync(); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if err := os.Rename(tmp, filepath.Join(home, "new", name)); err != nil {
					return err
				}
				return syncDir(filepath.Join(home, "new"))
			})
		})
	}
	// The same without any fsync, each writer waiting for a shared
	// syncfs of the file system instead.
	for _, conc := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("syncfs/c=%d", conc), func(b *testing.B) {
			base := b.TempDir()
			var homes []string
			for i := 0; i < conc; i++ {
				h := filepath.Join(base, strconv.Itoa(i))
				for _, sub := range []string{"tmp", "new"} {
					if err := os.MkdirAll(filepath.Join(h, sub), 0o700); err != nil {
						b.Fatal(err)
					}
				}
				homes = append(homes, h)
			}
			dirf, err := os.Open(base)
			if err != nil {
				b.Fatal(err)
			}
			defer dirf.Close()
			g := &groupSyncfs{fd: int(dirf.Fd())}
			g.cond = sync.NewCond(&g.mu)
			var seq sync.Mutex
			n := 0
			runWorkers(b, conc, homes, func(home string) error {
				seq.Lock()
				n++
				name := strconv.Itoa(n)
				seq.Unlock()
				tmp := filepath.Join(home, "tmp", name)
				if err := os.WriteFile(tmp, deliverMsg, 0o600); err != nil {
					return err
				}
				if err := os.Rename(tmp, filepath.Join(home, "new", name)); err != nil {
					return err
				}
				return g.wait()
			})
		})
	}
}

// groupSyncfs is the alternative to per-file fsyncs that
// BenchmarkFsyncRate/syncfs measures: writers wait for one syncfs(2)
// started after their rename, which flushes the whole file system.
type groupSyncfs struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs started
	done    uint64 // syncs finished
	running bool
	fd      int
}

// wait returns once a syncfs that started after the call has finished.
func (g *groupSyncfs) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// A syncfs running now may have started before our write: wait for
	// the next one to start.
	target := g.started + 1
	for g.done < target {
		if !g.running {
			g.running = true
			g.started++
			g.mu.Unlock()
			err := unix.Syncfs(g.fd)
			g.mu.Lock()
			g.running = false
			g.done++
			g.cond.Broadcast()
			if err != nil {
				return err
			}
			continue
		}
		g.cond.Wait()
	}
	return nil
}

// BenchmarkDeliveryShared is one 4 KiB message to 8 users, as an LMTP
// transaction with 8 recipients delivers it: written once and linked
// into the other 7 mailboxes (storage.Delivery), or written 8 times.
// rcpts/s counts recipient deliveries.
func BenchmarkDeliveryShared(b *testing.B) {
	const rcpts = 8
	for _, mode := range []string{"linked", "copies"} {
		b.Run(mode, func(b *testing.B) {
			d := New(nil)
			defer d.Close()
			base := b.TempDir()
			var homes []string
			for i := 0; i < rcpts; i++ {
				h := filepath.Join(base, "u"+strconv.Itoa(i))
				if err := os.MkdirAll(h, 0o700); err != nil {
					b.Fatal(err)
				}
				if err := deliverOnce(d, h); err != nil {
					b.Fatal(err)
				}
				homes = append(homes, h)
			}
			n := 0
			for b.Loop() {
				var dl *storage.Delivery
				if mode == "linked" {
					dl = storage.NewDelivery(func() io.Reader { return bytes.NewReader(deliverMsg) })
				}
				for _, h := range homes {
					if err := deliverVia(d, h, dl); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if dl != nil {
					dl.Close()
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rcpts/s")
		})
	}
}

// deliverVia is deliverOnce through dl (nil: a plain Append).
func deliverVia(d *Driver, home string, dl *storage.Delivery) error {
	if dl == nil {
		return deliverOnce(d, home)
	}
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		return err
	}
	defer u.Close()
	mb, err := u.OpenSave("INBOX")
	if err != nil {
		return err
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		return err
	}
	if err := dl.Append(sv, storage.AppendOptions{}); err != nil {
		sv.Abort()
		return err
	}
	_, _, err = sv.Commit()
	return err
}
