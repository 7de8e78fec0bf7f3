package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

type fileBody struct {
	*os.File
	size int64
}

func (b fileBody) Size() int64 { return b.size }

// TestReadBody: small bodies are read, large ones mapped; both give the
// file's bytes, a mapped body stays readable after the file is closed and
// unlinked (as an expunge does) until release, and mapping a large body
// does not grow the Go heap by its size.
func TestReadBody(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 10, MapThreshold - 1, MapThreshold, 32 << 20} {
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		path := filepath.Join(dir, "msg")
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		data, release, err := ReadBody(fileBody{f, int64(size)})
		runtime.ReadMemStats(&after)
		f.Close()
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		os.Remove(path)
		if !bytes.Equal(data, want) {
			t.Errorf("%d bytes: content differs", size)
		}
		if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); size >= MapThreshold && grown > int64(size)/4 {
			t.Errorf("%d bytes: the heap grew by %d; a large body must be mapped", size, grown)
		}
		release()
	}
}

// TestReadBodyShort: a body whose file is shorter than its Size is an
// error, not a slice of zeros.
func TestReadBodyShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := ReadBody(fileBody{f, 100}); err == nil {
		t.Fatal("a short body was read without error")
	}
}
