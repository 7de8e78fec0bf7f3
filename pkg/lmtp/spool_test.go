package lmtp

import (
	"bytes"
	"io"
	"testing"
)

// TestSpool checks the transaction spool: small messages stay in memory,
// larger ones (or any message a helper needs as a file) move to a file,
// and every way of reading gives back exactly what was written.
func TestSpool(t *testing.T) {
	tests := []struct {
		name   string
		chunks []int // sizes written one after the other
		file   bool  // ask for File() before reading
		inMem  bool  // expected to stay in memory
	}{
		{name: "empty", chunks: nil, inMem: true},
		{name: "small", chunks: []int{4096, 100}, inMem: true},
		{name: "exactly the bound", chunks: []int{memSpoolMax}, inMem: true},
		{name: "spills in one write", chunks: []int{memSpoolMax + 1}},
		{name: "spills across writes", chunks: []int{memSpoolMax - 10, 20, 5000}},
		{name: "file for a helper", chunks: []int{300}, file: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := newSpool()
			defer sp.Close()
			var want []byte
			for i, n := range tt.chunks {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				if k, err := sp.Write(p); err != nil || k != n {
					t.Fatalf("Write: %d, %v", k, err)
				}
				want = append(want, p...)
			}
			if tt.file {
				f, err := sp.File()
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(want))
				if _, err := f.ReadAt(got, 0); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("File: content differs")
				}
			}
			if mem := sp.f == nil; mem != tt.inMem {
				t.Fatalf("in memory %v, want %v", mem, tt.inMem)
			}
			got, err := io.ReadAll(io.NewSectionReader(sp.ReaderAt(), 0, int64(len(want))))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReaderAt: %d bytes, %v; want %d", len(got), err, len(want))
			}
		})
	}
}
