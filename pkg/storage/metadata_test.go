package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

func TestMetadataFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "md")
	steps := []struct {
		name string
		set  map[string][]byte
		want map[string][]byte
	}{
		{"add", map[string][]byte{"/private/a": []byte("x"), "/shared/b": []byte("line\r\ntwo\x00\xff")}, map[string][]byte{"/private/a": []byte("x"), "/shared/b": []byte("line\r\ntwo\x00\xff")}},
		{"replace and delete", map[string][]byte{"/private/a": []byte(""), "/shared/b": nil}, map[string][]byte{"/private/a": {}}},
		{"delete missing", map[string][]byte{"/private/zz": nil}, map[string][]byte{"/private/a": {}}},
	}
	for _, st := range steps {
		if err := UpdateMetadataFile(path, st.set, nil); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := ReadMetadataFile(path)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(got) != len(st.want) {
			t.Errorf("%s: got %q, want %q", st.name, got, st.want)
		}
		for k, v := range st.want {
			if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
				t.Errorf("%s: %s = %q, want %q", st.name, k, g, v)
			}
		}
	}
	// A refusing check leaves the record as it was.
	refuse := errors.New("refused")
	err := UpdateMetadataFile(path, map[string][]byte{"/private/c": []byte("c")}, func(m map[string][]byte) error {
		if len(m) != 2 {
			t.Errorf("check saw %q", m)
		}
		return refuse
	})
	if err != refuse {
		t.Errorf("check error %v", err)
	}
	if got, _ := ReadMetadataFile(path); len(got) != 1 {
		t.Errorf("after refusal %q", got)
	}
}

// TestMetadataFileConcurrent: updates under the lock never lose one.
func TestMetadataFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "md")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := UpdateMetadataFile(path, map[string][]byte{"/private/k" + string(rune('a'+i)): []byte("v")}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got, err := ReadMetadataFile(path); err != nil || len(got) != 8 {
		t.Errorf("got %d entries, %v", len(got), err)
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte("\"/private/a\"\t\"x\"\n\"/shared/b\"\t\"\\x00\\r\\n\"\n"))
	f.Add([]byte("\"a\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data)
		if err != nil {
			return
		}
		m2, err := ParseMetadata(FormatMetadata(m))
		if err != nil || len(m2) != len(m) {
			t.Fatalf("round trip: %v %d/%d", err, len(m2), len(m))
		}
		for k, v := range m {
			if !bytes.Equal(m2[k], v) {
				t.Fatalf("%q: %q != %q", k, m2[k], v)
			}
		}
	})
}
