package maildir

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// TestIdleBoxes checks the boxes a Driver keeps after the last session
// closed them (Driver.idle): a reopen reuses the in-memory index, yet
// sees every change another process made meanwhile, and never the index
// of a mailbox deleted and created again.
func TestIdleBoxes(t *testing.T) {
	uids := func(t *testing.T, u *storage.User, name string) ([]uint32, storage.Mailbox) {
		t.Helper()
		mb, err := u.Open(name, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mb.Close() })
		return mb.UIDs(), mb
	}
	tests := []struct {
		name string
		run  func(t *testing.T, home string, d *Driver, u *storage.User)
	}{
		{"reopen reuses the index", func(t *testing.T, home string, d *Driver, u *storage.User) {
			mb, _ := u.Open("INBOX", false)
			appendMsgs(t, mb, 3, storage.AppendOptions{})
			b := mb.(*mailbox).b
			mb.Close()
			d.mu.Lock()
			idle := slices.Contains(d.idle, b)
			d.mu.Unlock()
			if !idle || b.st == nil || b.lockF != nil {
				t.Fatalf("released box: idle %v, index kept %v, lock file open %v", idle, b.st != nil, b.lockF != nil)
			}
			got, mb2 := uids(t, u, "INBOX")
			if mb2.(*mailbox).b != b || !slices.Equal(got, []uint32{1, 2, 3}) {
				t.Fatalf("reopen: same box %v, UIDs %v", mb2.(*mailbox).b == b, got)
			}
		}},
		{"changes by another process while idle", func(t *testing.T, home string, d *Driver, u *storage.User) {
			mb, _ := u.Open("INBOX", false)
			appendMsgs(t, mb, 3, storage.AppendOptions{})
			mb.Close()
			// Another process: its own Driver over the same files.
			u2 := openUser(t, home, newDriver(t), nil)
			mb2, err := u2.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			appendMsgs(t, mb2, 1, storage.AppendOptions{})
			must(t, func() error {
				_, err := mb2.Store([]uint32{1}, storage.StoreAdd, storage.FlagDeleted, nil, 0)
				return err
			}())
			if _, err := mb2.Expunge(nil); err != nil {
				t.Fatal(err)
			}
			if _, err := mb2.Store([]uint32{2}, storage.StoreAdd, storage.FlagSeen, nil, 0); err != nil {
				t.Fatal(err)
			}
			mb2.Close()
			got, mb3 := uids(t, u, "INBOX")
			if !slices.Equal(got, []uint32{2, 3, 4}) {
				t.Fatalf("UIDs after the other process: %v", got)
			}
			if m, err := mb3.Message(2); err != nil || m.Flags != storage.FlagSeen {
				t.Fatalf("message 2: %+v %v", m, err)
			}
		}},
		{"mailbox deleted and created again", func(t *testing.T, home string, d *Driver, u *storage.User) {
			must(t, u.Create("F"))
			mb, _ := u.Open("F", false)
			appendMsgs(t, mb, 3, storage.AppendOptions{})
			mb.Close()
			u2 := openUser(t, home, newDriver(t), nil)
			must(t, u2.Delete("F"))
			must(t, u2.Create("F"))
			mb2, err := u2.Open("F", false)
			if err != nil {
				t.Fatal(err)
			}
			appendMsgs(t, mb2, 1, storage.AppendOptions{})
			mb2.Close()
			got, mb3 := uids(t, u, "F")
			if !slices.Equal(got, []uint32{1}) || mb3.Count() != 1 {
				t.Fatalf("UIDs of the new mailbox: %v", got)
			}
		}},
		{"only the last few are kept", func(t *testing.T, home string, d *Driver, u *storage.User) {
			var boxes []*box
			for i := 0; i <= maxIdleBoxes; i++ {
				name := fmt.Sprintf("F%d", i)
				must(t, u.Create(name))
				mb, err := u.Open(name, false)
				if err != nil {
					t.Fatal(err)
				}
				boxes = append(boxes, mb.(*mailbox).b)
				mb.Close()
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if !slices.Equal(d.idle, boxes[1:]) || boxes[0].st != nil {
				t.Fatalf("idle %d boxes, first kept %v", len(d.idle), boxes[0].st != nil)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			d := newDriver(t)
			tt.run(t, home, d, openUser(t, home, d, nil))
		})
	}
}
