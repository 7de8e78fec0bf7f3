package lmtp

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// memSpoolMax is the largest message LMTPData keeps in memory; a larger
// one goes to an unlinked temporary file. Dovecot's lmtp does the same
// (its DATA stays in memory up to 128 KiB before it spills to
// mail_temp_dir). Small messages, the common case, then cost no file
// creation at all: on a busy disk the inode allocation of a temporary
// file was a tenth of a delivery's CPU time.
const memSpoolMax = 128 << 10

// memSpools recycles the in-memory buffers (capacity up to memSpoolMax).
var memSpools = sync.Pool{New: func() any { return new([]byte) }}

// spool holds one transaction's message: in memory up to memSpoolMax,
// else in an unlinked temporary file. It is written once, then read
// through ReaderAt by every recipient's save; it is not fsynced: it
// lives for the transaction only, and each recipient's store makes its
// own copy durable.
type spool struct {
	buf *[]byte
	f   *os.File
}

func newSpool() *spool {
	b := memSpools.Get().(*[]byte)
	*b = (*b)[:0]
	return &spool{buf: b}
}

// Write appends p, moving the message to a file once it outgrows memory.
func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil {
		if len(*s.buf)+len(p) <= memSpoolMax {
			*s.buf = append(*s.buf, p...)
			return len(p), nil
		}
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	return s.f.Write(p)
}

// spill moves the message written so far into an unlinked temporary
// file, where the rest of it goes.
func (s *spool) spill() error {
	f, err := os.CreateTemp("", "cote-lmtp-*")
	if err != nil {
		return err
	}
	// Unlinked at once: the spool is only ever reached through this fd
	// (and the helpers' stdin, which is this fd).
	os.Remove(f.Name())
	if _, err := f.Write(*s.buf); err != nil {
		f.Close()
		return err
	}
	s.f = f
	*s.buf = (*s.buf)[:0]
	return nil
}

// ReaderAt returns the message for reading at offsets.
func (s *spool) ReaderAt() io.ReaderAt {
	if s.f != nil {
		return s.f
	}
	return bytes.NewReader(*s.buf)
}

// File returns the message as a file (a helper's stdin), spilling it
// from memory first when needed.
func (s *spool) File() (*os.File, error) {
	if s.f == nil {
		if err := s.spill(); err != nil {
			return nil, err
		}
	}
	return s.f, nil
}

// Close releases the file or the buffer; nothing read through the spool
// may be used afterwards.
func (s *spool) Close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.buf != nil {
		if cap(*s.buf) <= memSpoolMax {
			memSpools.Put(s.buf)
		}
		s.buf = nil
	}
}
