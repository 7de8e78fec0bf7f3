package maildir

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// TestSetIdleLimits checks Driver.SetIdleLimits: the box bound replaces
// the default of four, and the message bound drops the least recently
// released boxes first (and a box larger than the bound at once).
func TestSetIdleLimits(t *testing.T) {
	tests := []struct {
		name        string
		boxes, msgs int
		sizes       []int // messages of F0, F1, ... released in this order
		kept        []int // indexes of the boxes left idle, oldest first
	}{
		{name: "more boxes than the default", boxes: 6, sizes: []int{1, 1, 1, 1, 1, 1}, kept: []int{0, 1, 2, 3, 4, 5}},
		{name: "box bound", boxes: 2, sizes: []int{1, 1, 1}, kept: []int{1, 2}},
		{name: "message bound drops the oldest", boxes: 10, msgs: 5, sizes: []int{2, 2, 2}, kept: []int{1, 2}},
		{name: "a box over the message bound is not kept", boxes: 10, msgs: 3, sizes: []int{1, 4}, kept: []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			d := newDriver(t)
			d.SetIdleLimits(tt.boxes, tt.msgs)
			u := openUser(t, home, d, nil)
			var boxes []*box
			for i, n := range tt.sizes {
				name := fmt.Sprintf("F%d", i)
				must(t, u.Create(name))
				mb, err := u.Open(name, false)
				if err != nil {
					t.Fatal(err)
				}
				appendMsgs(t, mb, n, storage.AppendOptions{})
				boxes = append(boxes, mb.(*mailbox).b)
				mb.Close()
			}
			want := []*box{}
			for _, i := range tt.kept {
				want = append(want, boxes[i])
			}
			d.mu.Lock()
			got := slices.Clone(d.idle)
			d.mu.Unlock()
			if got == nil {
				got = []*box{}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("idle boxes %d, want %v of %d", len(got), tt.kept, len(boxes))
			}
			for i, b := range boxes {
				if !slices.Contains(tt.kept, i) && b.st != nil {
					t.Fatalf("box %d was dropped but keeps its index", i)
				}
			}
		})
	}
}

// TestIdleDroppedWhenMemoryTight: with the heap over half the memory
// limit, a released mailbox's index is not kept; with room it is.
func TestIdleDroppedWhenMemoryTight(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		kept  int
	}{
		{"room", math.MaxInt64, 1},
		{"tight", 64 << 10, 0}, // any test binary's heap is over 32 KiB
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t)
			u := openUser(t, t.TempDir(), d, nil)
			mb, err := u.Open("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			appendMsgs(t, mb, 1, storage.AppendOptions{})
			old := debug.SetMemoryLimit(tc.limit)
			mb.Close()
			debug.SetMemoryLimit(old)
			d.mu.Lock()
			kept := len(d.idle)
			d.mu.Unlock()
			if kept != tc.kept {
				t.Errorf("%d idle boxes after the release, want %d", kept, tc.kept)
			}
		})
	}
}
