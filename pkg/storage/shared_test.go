package storage

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// fakeSave records what a Delivery does with it.
type fakeSave struct {
	appended []string // bytes read by Append
	linked   int
}

func (s *fakeSave) Append(r io.Reader, _ AppendOptions) error {
	b, err := io.ReadAll(r)
	s.appended = append(s.appended, string(b))
	return err
}
func (s *fakeSave) Commit() (uint32, []uint32, error) { return 1, nil, nil }
func (s *fakeSave) Abort() error                      { return nil }

// sharingSave can share and link; canLink says whether it takes a link.
type sharingSave struct {
	fakeSave
	canLink  bool
	shareErr error
}

type fakeShared struct{ closed *int }

func (m fakeShared) Size() int64  { return 1 }
func (m fakeShared) Close() error { *m.closed++; return nil }

var closedCount int

func (s *sharingSave) Share() (SavedMessage, error) {
	if s.shareErr != nil {
		return nil, s.shareErr
	}
	return fakeShared{&closedCount}, nil
}

func (s *sharingSave) AppendLinked(SavedMessage, AppendOptions) (bool, error) {
	if !s.canLink {
		return false, nil
	}
	s.linked++
	return true, nil
}

func TestDelivery(t *testing.T) {
	const body = "Subject: x\r\n\r\nbody\r\n"
	tests := []struct {
		name       string
		saves      func() []Save
		wantLinked int
		wantReads  int // Appends that read the source
		wantClosed int // shared copies closed by Close
	}{
		{
			name: "driver without sharing writes every copy",
			saves: func() []Save {
				return []Save{&fakeSave{}, &fakeSave{}, &fakeSave{}}
			},
			wantReads: 3,
		},
		{
			name: "first written, the others linked",
			saves: func() []Save {
				return []Save{&sharingSave{canLink: true}, &sharingSave{canLink: true}, &sharingSave{canLink: true}}
			},
			wantLinked: 2,
			wantReads:  1,
			wantClosed: 1,
		},
		{
			name: "a save that cannot link gets a copy",
			saves: func() []Save {
				return []Save{&sharingSave{canLink: true}, &sharingSave{canLink: false}, &sharingSave{canLink: true}}
			},
			wantLinked: 1,
			wantReads:  2,
			wantClosed: 1,
		},
		{
			// The next recipient's copy is shared instead.
			name: "share failure: the second recipient writes too",
			saves: func() []Save {
				return []Save{&sharingSave{shareErr: errors.New("no")}, &sharingSave{canLink: true}}
			},
			wantLinked: 0,
			wantReads:  2,
			wantClosed: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			closedCount = 0
			d := NewDelivery(func() io.Reader { return strings.NewReader(body) })
			reads := 0
			for _, sv := range tc.saves() {
				if err := d.Append(sv, AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				var got []string
				switch s := sv.(type) {
				case *fakeSave:
					got = s.appended
				case *sharingSave:
					got = s.appended
				}
				for _, g := range got {
					if g != body {
						t.Errorf("appended %q", g)
					}
					reads++
				}
			}
			if d.Linked() != tc.wantLinked || reads != tc.wantReads {
				t.Errorf("linked %d reads %d, want %d %d", d.Linked(), reads, tc.wantLinked, tc.wantReads)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if closedCount != tc.wantClosed {
				t.Errorf("shared copies closed %d, want %d", closedCount, tc.wantClosed)
			}
		})
	}
}
