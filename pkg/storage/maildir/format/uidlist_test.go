package format

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestParseUidlist(t *testing.T) {
	guid := "e0f6721fbdb6096b9e65000083ecc375"
	tests := []struct {
		name      string
		in        string
		wantErr   bool
		version   int
		validity  uint32
		next      uint32
		hasGUID   bool
		hdrExt    []string
		recs      []UidlistRecord
		nProblems int
	}{
		{
			name:    "dovecot v3 as written",
			in:      "3 V1795798717 N3 G" + guid + "\n1 :1795798717.M527628P26014.vm,S=17,W=20\n2 :1795798717.M531891P26014.vm,S=19,W=21\n",
			version: 3, validity: 1795798717, next: 3, hasGUID: true,
			recs: []UidlistRecord{
				{UID: 1, Base: "1795798717.M527628P26014.vm,S=17,W=20"},
				{UID: 2, Base: "1795798717.M531891P26014.vm,S=19,W=21"},
			},
		},
		{
			name:    "extensions and unknown header fields kept",
			in:      "3 V5 N10 G" + guid + " Xfoo Ybar\n4 S100 W103 Zzz :a.b.c\n",
			version: 3, validity: 5, next: 10, hasGUID: true, hdrExt: []string{"Xfoo", "Ybar"},
			recs: []UidlistRecord{{UID: 4, Ext: []string{"S100", "W103", "Zzz"}, Base: "a.b.c"}},
		},
		{
			name:    "invalid extension key dropped",
			in:      "3 V5 N10\n4 s100 W3 :a\n",
			version: 3, validity: 5, next: 10,
			recs: []UidlistRecord{{UID: 4, Ext: []string{"W3"}, Base: "a"}},
		},
		{
			name:    "next uid raised above appended records",
			in:      "3 V5 N2\n1 :a\n7 :b\n",
			version: 3, validity: 5, next: 8,
			recs: []UidlistRecord{{UID: 1, Base: "a"}, {UID: 7, Base: "b"}},
		},
		{
			name:    "truncated last line ignored",
			in:      "3 V5 N3\n1 :a\n2 :b",
			version: 3, validity: 5, next: 3,
			recs:      []UidlistRecord{{UID: 1, Base: "a"}},
			nProblems: 1,
		},
		{
			name:    "info part cut from base",
			in:      "3 V5 N3\n1 :a:2,S\n",
			version: 3, validity: 5, next: 3,
			recs: []UidlistRecord{{UID: 1, Base: "a"}},
		},
		{
			name:    "bad lines skipped",
			in:      "3 V5 N20\n1 :a\nx :b\n1 :c\n0 :d\n3 :e/f\n4\n5 :\n6 :g\n",
			version: 3, validity: 5, next: 20,
			recs:      []UidlistRecord{{UID: 1, Base: "a"}, {UID: 6, Base: "g"}},
			nProblems: 6,
		},
		{
			name:    "duplicate base keeps later uid",
			in:      "3 V5 N20\n1 :a\n2 :b\n3 :a\n",
			version: 3, validity: 5, next: 20,
			recs:      []UidlistRecord{{UID: 2, Base: "b"}, {UID: 3, Base: "a"}},
			nProblems: 1,
		},
		{
			name:    "version 1",
			in:      "1 1234 5\n1 a:2,S\n4 b\n",
			version: 1, validity: 1234, next: 5,
			recs: []UidlistRecord{{UID: 1, Base: "a"}, {UID: 4, Base: "b"}},
		},
		{
			name:    "version 1 uid above next uid",
			in:      "1 1234 3\n1 a\n4 b\n",
			version: 1, validity: 1234, next: 3,
			recs:      []UidlistRecord{{UID: 1, Base: "a"}},
			nProblems: 1,
		},
		{name: "uid too high", in: "3 V1 N2\n4294967295 :a\n", version: 3, validity: 1, next: 2, nProblems: 1},
		{name: "empty", in: "", wantErr: true},
		{name: "truncated header", in: "3 V1 N", wantErr: true},
		{name: "version 2 unsupported", in: "2 1 2\n", wantErr: true},
		{name: "no uidvalidity", in: "3 N2\n", wantErr: true},
		{name: "bad guid", in: "3 V1 N2 Gxyz\n", wantErr: true},
		{name: "bad version", in: "x V1\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUidlist([]byte(tc.in))
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Version != tc.version || u.UIDValidity != tc.validity || u.NextUID != tc.next || u.HasGUID != tc.hasGUID {
				t.Errorf("header = v%d V%d N%d guid=%v, want v%d V%d N%d guid=%v",
					u.Version, u.UIDValidity, u.NextUID, u.HasGUID, tc.version, tc.validity, tc.next, tc.hasGUID)
			}
			if !reflect.DeepEqual(u.HeaderExt, tc.hdrExt) {
				t.Errorf("HeaderExt = %q, want %q", u.HeaderExt, tc.hdrExt)
			}
			if len(u.Records) != 0 || len(tc.recs) != 0 {
				if !reflect.DeepEqual(u.Records, tc.recs) {
					t.Errorf("records:\n-want %+v\n+got  %+v", tc.recs, u.Records)
				}
			}
			if len(u.Problems) != tc.nProblems {
				t.Errorf("problems = %+v, want %d", u.Problems, tc.nProblems)
			}
		})
	}
}

func TestUidlistRoundTrip(t *testing.T) {
	in := "3 V1795798717 N9 Ge0f6721fbdb6096b9e65000083ecc375 Xkeep\n" +
		"1 :1795798717.M527628P26014.vm,S=17,W=20\n" +
		"5 S10 W12 Gabc :1795798718.M1P2.host\n"
	u, err := ParseUidlist([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip:\n-want %q\n+got  %q", in, out)
	}
}

func TestUidlistMarshalGeneratesGUID(t *testing.T) {
	u := &Uidlist{UIDValidity: 7, NextUID: 1}
	out, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !u.HasGUID || u.GUID == ([16]byte{}) {
		t.Fatal("no GUID generated")
	}
	want := fmt.Sprintf("3 V7 N1 G%x\n", u.GUID)
	if string(out) != want {
		t.Errorf("got %q want %q", out, want)
	}
}

func TestUidlistMarshalRefuses(t *testing.T) {
	tests := []struct {
		name string
		u    Uidlist
	}{
		{"no uidvalidity", Uidlist{NextUID: 1}},
		{"uid not below next", Uidlist{UIDValidity: 1, NextUID: 2, Records: []UidlistRecord{{UID: 2, Base: "a"}}}},
		{"unordered", Uidlist{UIDValidity: 1, NextUID: 9, Records: []UidlistRecord{{UID: 3, Base: "a"}, {UID: 2, Base: "b"}}}},
		{"newline in base", Uidlist{UIDValidity: 1, NextUID: 9, Records: []UidlistRecord{{UID: 3, Base: "a\nb"}}}},
		{"space in ext", Uidlist{UIDValidity: 1, NextUID: 9, Records: []UidlistRecord{{UID: 3, Base: "a", Ext: []string{"S1 2"}}}}},
		{"lower-case ext", Uidlist{UIDValidity: 1, NextUID: 9, Records: []UidlistRecord{{UID: 3, Base: "a", Ext: []string{"s1"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.u.Marshal(); err == nil {
				t.Fatal("Marshal accepted invalid uidlist")
			}
		})
	}
}

func TestRecordExt(t *testing.T) {
	var r UidlistRecord
	r.SetExt(ExtVSize, "10")
	r.SetExt(ExtPSize, "8")
	r.SetExt(ExtVSize, "11")
	if v, ok := r.GetExt(ExtVSize); !ok || v != "11" {
		t.Errorf("W = %q %v", v, ok)
	}
	r.DelExt(ExtPSize)
	if _, ok := r.GetExt(ExtPSize); ok {
		t.Error("S still set")
	}
	if !reflect.DeepEqual(r.Ext, []string{"W11"}) {
		t.Errorf("Ext = %q", r.Ext)
	}
}

func TestUidlistWriteAppendRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadUidlist(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
	l, err := LockUidlist(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to a file that does not exist fails; the caller writes.
	if err := AppendUidlist(l, []UidlistRecord{{UID: 1, Base: "x"}}); err == nil {
		t.Fatal("append to missing file succeeded")
	}
	u := &Uidlist{UIDValidity: 42, NextUID: 2, Records: []UidlistRecord{{UID: 1, Base: "a"}}}
	if err := WriteUidlist(l, u); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, UidlistName+LockSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lock file left after write: %v", err)
	}
	l, err = LockUidlist(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := AppendUidlist(l, []UidlistRecord{{UID: 2, Base: "b", Ext: []string{"W5"}}, {UID: 3, Base: "c"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadUidlist(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []UidlistRecord{{UID: 1, Base: "a"}, {UID: 2, Base: "b", Ext: []string{"W5"}}, {UID: 3, Base: "c"}}
	if !reflect.DeepEqual(got.Records, want) || got.NextUID != 4 || got.UIDValidity != 42 || got.GUID != u.GUID {
		t.Errorf("read back %+v", got)
	}
}

func TestAppendUidlistNeedsRewrite(t *testing.T) {
	tests := []struct{ name, content string }{
		{"version 1", "1 5 2\n1 a\n"},
		{"torn last line", "3 V5 N2\n1 :a\n2 :b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, UidlistName), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := LockUidlist(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			if err := AppendUidlist(l, []UidlistRecord{{UID: 9, Base: "z"}}); !errors.Is(err, ErrNeedRewrite) {
				t.Fatalf("err = %v, want ErrNeedRewrite", err)
			}
		})
	}
}

// TestUidlistConcurrentWriters has several goroutines each add records under
// the lock, alternating append and full rewrite; no record may be lost or
// duplicated.
func TestUidlistConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	l, err := LockUidlist(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteUidlist(l, &Uidlist{UIDValidity: 1, NextUID: 1}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := addRecord(dir, fmt.Sprintf("w%d-%d", w, i), i%2 == 0); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	u, err := ReadUidlist(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Records) != writers*each || len(u.Problems) != 0 {
		t.Fatalf("%d records, problems %v", len(u.Records), u.Problems)
	}
	for i, r := range u.Records {
		if r.UID != uint32(i+1) {
			t.Fatalf("record %d has uid %d", i, r.UID)
		}
	}
}

func addRecord(dir, base string, rewrite bool) error {
	l, err := LockUidlist(dir, UidlistLockTimeout)
	if err != nil {
		return err
	}
	u, err := ReadUidlist(dir)
	if err != nil {
		l.Unlock()
		return err
	}
	rec := UidlistRecord{UID: u.NextUID, Base: base}
	if rewrite {
		u.Records = append(u.Records, rec)
		u.NextUID++
		return WriteUidlist(l, u)
	}
	if err := AppendUidlist(l, []UidlistRecord{rec}); err != nil {
		l.Unlock()
		return err
	}
	return l.Unlock()
}

func TestUidlistProblemsDoNotHideGoodLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("3 V1 N1\n")
	for i := 1; i <= 100; i++ {
		if i%10 == 0 {
			b.WriteString("garbage line\n")
		}
		fmt.Fprintf(&b, "%d :m%d\n", i, i)
	}
	u, err := ParseUidlist([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Records) != 100 || len(u.Problems) != 10 || u.NextUID != 101 {
		t.Errorf("records %d problems %d next %d", len(u.Records), len(u.Problems), u.NextUID)
	}
}
