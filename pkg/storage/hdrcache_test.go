package storage

import (
	"bytes"
	"slices"
	"testing"

	"github.com/cote-mail/cote/pkg/message"
)

const hdrCacheMsg = "Message-ID: <1@x>\r\nFrom: A <a@x>\r\nSUBJECT: one\r\nX-Tag: t1\r\nSubject: =?utf-8?q?two?=\r\n folded\r\nTo: b@x\r\nX-Other: o\r\n\r\nbody Subject: no\r\n"

// TestHeaderCache: a record keeps every occurrence of the covered fields,
// values as written, in header order, and covers names with no field.
func TestHeaderCache(t *testing.T) {
	fields := message.Header([]byte(hdrCacheMsg), 0)
	for _, tc := range []struct {
		name    string
		names   []string
		covers  []string
		missing []string
		want    []message.Field
	}{
		{
			name:    "defaults",
			names:   CachedHeaderNames,
			covers:  []string{"Subject", "FROM", "cc", "References"},
			missing: []string{"X-Tag", "", "subjec", "subjects"},
			want: []message.Field{
				{Name: "message-id", Value: "<1@x>"}, {Name: "from", Value: "A <a@x>"},
				{Name: "subject", Value: "one"}, {Name: "subject", Value: "=?utf-8?q?two?=\r\n folded"}, {Name: "to", Value: "b@x"},
			},
		},
		{
			name:    "others",
			names:   []string{"X-TAG", "x-other", "x-tag", "x-absent"},
			covers:  []string{"x-tag", "X-Other", "X-Absent"},
			missing: []string{"subject"},
			want:    []message.Field{{Name: "x-tag", Value: "t1"}, {Name: "x-other", Value: "o"}},
		},
		{
			name:  "none",
			names: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc, ok := NewHeaderCache(fields, tc.names)
			if !ok {
				t.Fatal("not cacheable")
			}
			data, err := hc.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got HeaderCache
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.covers {
				if !got.Covers(n) {
					t.Errorf("does not cover %q", n)
				}
			}
			for _, n := range tc.missing {
				if got.Covers(n) {
					t.Errorf("covers %q", n)
				}
			}
			if !slices.Equal(got.Fields(), tc.want) && !(len(got.Fields()) == 0 && len(tc.want) == 0) {
				t.Errorf("fields %+v, want %+v", got.Fields(), tc.want)
			}
			again, _ := got.MarshalBinary()
			if !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs")
			}
			if n := got.Names(); len(n) != len(hc.Names()) {
				t.Errorf("names %q, want %q", n, hc.Names())
			}
		})
	}
}

// TestHeaderCacheLimits: a header too large for the index is not cached;
// a record changed anywhere is refused.
func TestHeaderCacheLimits(t *testing.T) {
	big := "Subject: " + string(bytes.Repeat([]byte("x"), maxHeaderCache+1)) + "\r\n\r\n"
	if HeaderCacheOf([]byte(big)) != nil {
		t.Error("an oversized header was cached")
	}
	if _, ok := NewHeaderCache(nil, []string{string(bytes.Repeat([]byte("x"), maxHeaderCache+1))}); ok {
		t.Error("an oversized field name was cached")
	}
	data := HeaderCacheOf([]byte(hdrCacheMsg))
	if data == nil {
		t.Fatal("not cached")
	}
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := slices.Clone(data)
			bad[i] ^= x
			var hc HeaderCache
			if hc.UnmarshalBinary(bad) == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, x)
			}
		}
	}
	for n := range len(data) {
		var hc HeaderCache
		if hc.UnmarshalBinary(data[:n]) == nil {
			t.Fatalf("%d-byte prefix accepted", n)
		}
	}
}

// FuzzHeaderCache: any input either is refused or decodes to a record
// that encodes back to the same bytes (the encoding is canonical), so a
// record the reader accepts is exactly one the writer made.
func FuzzHeaderCache(f *testing.F) {
	f.Add(HeaderCacheOf([]byte(hdrCacheMsg)))
	hc, _ := NewHeaderCache(message.Header([]byte(hdrCacheMsg), 0), []string{"x-tag", "subject"})
	data, _ := hc.MarshalBinary()
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		var hc HeaderCache
		if hc.UnmarshalBinary(data) != nil {
			return
		}
		again, err := hc.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded %q re-encodes as %q", data, again)
		}
		for _, f := range hc.Fields() {
			if !hc.Covers(f.Name) {
				t.Fatalf("field %q not covered", f.Name)
			}
		}
	})
}
