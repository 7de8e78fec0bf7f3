package imap

import (
	"bufio"
	"bytes"
	"io"
)

// inBuf is the connection input buffer: what bufio.Reader does for
// Reader, with a buffer that exists only while it holds unread input. A
// session waiting for its next command (most of them, and all of those
// in IDLE) waits in a read into a small array; only a read that fills
// it grows to readChunk, and the buffer is dropped once everything in
// it is consumed (at the next read). It is left to the garbage
// collector, not pooled: a slice handed out stays valid (never reused
// by another session) for as long as anyone holds it.
type inBuf struct {
	src  io.Reader
	buf  []byte // buffered input is buf[r:w]; nil when released
	r, w int
	err  error // the source's error, returned once the buffer is drained
	big  bool  // buf is readChunk long
}

// smallRead is the first read of a drained buffer: a short command
// ("DONE", "a NOOP") fits, and a waiting session holds no more.
const smallRead = 128

func newInBuf(src io.Reader) *inBuf { return &inBuf{src: src} }

// release drops a drained buffer; the caller is about to read again, so
// slices handed out before are no longer in use.
func (b *inBuf) release() {
	if b.r < b.w || b.buf == nil {
		return
	}
	b.buf, b.r, b.w, b.big = nil, 0, 0, false
}

// grow moves the buffered input into a readChunk buffer.
func (b *inBuf) grow() {
	if b.big {
		return
	}
	nb := make([]byte, readChunk)
	n := copy(nb, b.buf[b.r:b.w])
	b.buf, b.r, b.w, b.big = nb, 0, n, true
}

// fill reads once from the source into free space at the end of the
// buffer (which the caller made sure exists, or there is no buffer).
func (b *inBuf) fill() {
	if b.buf == nil {
		b.buf = make([]byte, smallRead)
	} else if b.r > 0 {
		n := copy(b.buf, b.buf[b.r:b.w])
		b.r, b.w = 0, n
	}
	for i := 0; i < 100; i++ {
		n, err := b.src.Read(b.buf[b.w:])
		b.w += n
		if err != nil {
			b.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	b.err = io.ErrNoProgress
}

func (b *inBuf) readErr() error {
	err := b.err
	b.err = nil
	return err
}

// Buffered is the number of bytes that can be read without a read of
// the source.
func (b *inBuf) Buffered() int { return b.w - b.r }

// Peek returns the next n buffered bytes (n <= Buffered()).
func (b *inBuf) Peek(n int) ([]byte, error) {
	if n > b.w-b.r {
		return b.buf[b.r:b.w], bufio.ErrBufferFull
	}
	return b.buf[b.r : b.r+n], nil
}

// Reset drops buffered input and reads from src from now on.
func (b *inBuf) Reset(src io.Reader) {
	b.r = b.w
	b.release()
	b.src, b.err = src, nil
}

// ReadSlice is bufio.Reader.ReadSlice with readChunk as the buffer size:
// the slice ends with delim, or is the whole full buffer with
// bufio.ErrBufferFull, or what was left with the source's error.
func (b *inBuf) ReadSlice(delim byte) ([]byte, error) {
	b.release()
	scanned := 0
	for {
		if i := bytes.IndexByte(b.buf[b.r+scanned:b.w], delim); i >= 0 {
			line := b.buf[b.r : b.r+scanned+i+1]
			b.r += scanned + i + 1
			return line, nil
		}
		scanned = b.w - b.r
		if b.err != nil {
			line := b.buf[b.r:b.w]
			b.r = b.w
			return line, b.readErr()
		}
		if b.buf != nil && b.w-b.r == len(b.buf) {
			if b.big {
				line := b.buf[b.r:b.w]
				b.r = b.w
				return line, bufio.ErrBufferFull
			}
			b.grow()
		} else if b.buf != nil && b.w == len(b.buf) && !b.big {
			b.grow()
		}
		b.fill()
	}
}

// Read reads into p: buffered input first, then (when nothing is
// buffered) straight from the source unless p is smaller than the
// first read of a drained buffer would be.
func (b *inBuf) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.release()
	if b.r == b.w {
		if b.err != nil {
			return 0, b.readErr()
		}
		if len(p) >= smallRead {
			return b.src.Read(p)
		}
		b.fill()
		if b.r == b.w {
			return 0, b.readErr()
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// Discard skips the next n bytes.
func (b *inBuf) Discard(n int) (int, error) {
	done := 0
	for done < n {
		b.release()
		if b.r == b.w {
			if b.err != nil {
				return done, b.readErr()
			}
			if b.buf != nil || n-done > smallRead {
				b.grow()
			}
			b.fill()
			continue
		}
		k := min(n-done, b.w-b.r)
		b.r += k
		done += k
	}
	return done, nil
}
