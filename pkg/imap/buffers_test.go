package imap

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReaderReleasesLongLineBuffer: the buffer a long command line was
// assembled in is not kept while the session waits for the next one.
func TestReaderReleasesLongLineBuffer(t *testing.T) {
	long := "a1 UID FETCH " + strings.Repeat("1,", 20000) + "1 FLAGS\r\n"
	r := NewReader(strings.NewReader(long+"a2 NOOP\r\n"), Limits{})
	for _, tc := range []struct {
		name    string
		tag     string
		maxHeld int
	}{
		{"long line assembled", "a1", DefaultMaxLine},
		{"short line after it", "a2", readChunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := r.ReadCommand()
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Tag != tc.tag {
				t.Fatalf("tag %q, want %q", cmd.Tag, tc.tag)
			}
			if c := cap(r.buf); c > tc.maxHeld {
				t.Fatalf("assembly buffer of %d bytes held, at most %d", c, tc.maxHeld)
			}
		})
	}
}

// TestInBufMatchesBufio: inBuf reads the same stream as a bufio.Reader
// of readChunk bytes, whatever the sizes the source returns.
func TestInBufMatchesBufio(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in bytes.Buffer
	for in.Len() < 200000 {
		n := rng.IntN(3) // short lines, lines past smallRead, lines past readChunk
		size := []int{rng.IntN(40), smallRead + rng.IntN(300), readChunk + rng.IntN(5000)}[n]
		in.WriteString(strings.Repeat("x", size))
		in.WriteString("\r\n")
	}
	data := in.Bytes()
	for _, tc := range []struct {
		name string
		src  func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(data) }},
		{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }},
		{"data with error", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours := newInBuf(tc.src())
			ref := bufio.NewReaderSize(tc.src(), readChunk)
			ops := rand.New(rand.NewPCG(3, 4))
			for step := 0; ; step++ {
				switch op := ops.IntN(3); op {
				case 0:
					a, errA := ours.ReadSlice('\n')
					b, errB := ref.ReadSlice('\n')
					if !bytes.Equal(a, b) || errA != errB {
						t.Fatalf("step %d ReadSlice: %d bytes %v, bufio %d bytes %v", step, len(a), errA, len(b), errB)
					}
					if errA == io.EOF {
						return
					}
				case 1:
					n := ops.IntN(6000)
					a, b := make([]byte, n), make([]byte, n)
					na, errA := io.ReadFull(ours, a)
					nb, errB := io.ReadFull(ref, b)
					if na != nb || !bytes.Equal(a[:na], b[:nb]) || errA != errB {
						t.Fatalf("step %d ReadFull(%d): %d %v, bufio %d %v", step, n, na, errA, nb, errB)
					}
				case 2:
					n := ops.IntN(6000)
					na, errA := ours.Discard(n)
					nb, errB := ref.Discard(n)
					if na != nb || errA != errB {
						t.Fatalf("step %d Discard(%d): %d %v, bufio %d %v", step, n, na, errA, nb, errB)
					}
				}
				if ours.Buffered() > readChunk {
					t.Fatalf("step %d: %d bytes buffered", step, ours.Buffered())
				}
			}
		})
	}
}

// TestIdleReaderHoldsLittle: a session that read a burst of pipelined
// commands and waits for the next holds a small buffer, not a chunk.
func TestIdleReaderHoldsLittle(t *testing.T) {
	var burst strings.Builder
	for i := 0; i < 100; i++ {
		burst.WriteString("a" + strconv.Itoa(i) + " NOOP\r\n")
	}
	pr, pw := io.Pipe()
	defer pr.Close()
	r := NewReader(pr, Limits{})
	go pw.Write([]byte(burst.String()))
	for i := 0; i < 100; i++ {
		if _, err := r.ReadCommand(); err != nil {
			t.Fatal(err)
		}
	}
	go pw.Write([]byte("b DONE\r\n"))
	// The burst came in at least one readChunk buffer; "b DONE" comes
	// in a read of its own once that buffer is drained and dropped.
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if c := cap(r.br.buf); c > smallRead {
		t.Fatalf("waiting reader holds a %d-byte buffer", c)
	}
}
