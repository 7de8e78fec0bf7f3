package storage

import (
	"io"

	"golang.org/x/sys/unix"
)

// MapThreshold is the size from which ReadBody maps a message file rather
// than reading it into the heap.
const MapThreshold = 256 << 10

// fder is a Body backed by an open file (*os.File is one).
type fder interface{ Fd() uintptr }

// ReadBody returns the bytes of b and the function that releases them;
// b may be closed at once, data stays valid until release.
//
// A body of MapThreshold bytes or more that is backed by a file is mapped
// read-only instead of read: the process serves many sessions, and a few
// of them fetching a large message each must not add their sizes to the Go
// heap (vsz_limit is RLIMIT_DATA and GOMEMLIMIT for the whole process; a
// read-only file mapping counts in neither) nor copy what the page cache
// already holds once for all of them. Message files are never rewritten in
// place (a flag change renames, an expunge unlinks, and a mapping outlives
// both); a file truncated behind the store's back raises SIGBUS on access,
// which the sessions turn into a panic of their own goroutine
// (debug.SetPanicOnFault) rather than a crash of every session.
//
// release must be called exactly once, after the last use of data or any
// slice of it: bytes copied out (strings, a bufio.Writer's buffer) may
// outlive it, slices may not.
func ReadBody(b Body) (data []byte, release func(), err error) {
	size := b.Size()
	if f, ok := b.(fder); ok && size >= MapThreshold && int64(int(size)) == size {
		if data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED); err == nil {
			return data, func() { _ = unix.Munmap(data) }, nil
		}
		// A file system that cannot map: read it as any other body.
	}
	data = make([]byte, size)
	if n, err := b.ReadAt(data, 0); int64(n) != size {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	return data, func() {}, nil
}
