package imapd

import (
	"compress/flate"
	"io"
	"strings"
)

// COMPRESS=DEFLATE (RFC 4978): after the tagged OK both directions are a
// raw deflate stream (RFC 1951, no zlib header). The writer is flushed
// with a sync flush (Z_SYNC_FLUSH) every time the session flushes its
// corked output, so every response the client waits for reaches it
// whole; nothing is flushed between, so a burst of responses is
// compressed together.

// deflateWriter compresses the session's output and remembers whether
// anything was written since its last flush, so an idle flush sends no
// empty sync blocks.
type deflateWriter struct {
	zw    *flate.Writer
	dirty bool
}

func (d *deflateWriter) Write(p []byte) (int, error) {
	d.dirty = true
	return d.zw.Write(p)
}

// Flush ends the pending data with a sync flush, written through to the
// connection.
func (d *deflateWriter) Flush() error {
	if !d.dirty {
		return nil
	}
	d.dirty = false
	return d.zw.Flush()
}

// compressLevel trades CPU for bytes: level 6 is zlib's default and
// Dovecot's imap_zlib_compress_level default.
const compressLevel = 6

// cmdCompress: RFC 4978 §3.
func cmdCompress(s *Session, c *cmdCtx) error {
	if !s.cfg.Compress {
		return bad("Unknown command.")
	}
	if len(c.args) != 1 {
		return bad("Invalid arguments.")
	}
	mech, ok := c.args[0].AString()
	if !ok {
		return bad("Invalid arguments.")
	}
	if s.z != nil {
		return no("COMPRESSIONACTIVE", "Compression already enabled.")
	}
	if !strings.EqualFold(mech, "DEFLATE") {
		return no("", "Unknown compression mechanism.")
	}
	if s.r.Buffered() > 0 {
		// RFC 4978 §3: the client waits for the OK before it sends
		// compressed data; uncompressed bytes already here would be
		// read as compressed ones.
		return bad("Data pipelined after COMPRESS.")
	}
	s.w.Tagged(c.tag, "OK", "", "Begin compression.")
	if err := s.flush(); err != nil {
		return err
	}
	zw, err := flate.NewWriter(s.conn, compressLevel)
	if err != nil {
		return err
	}
	s.z = &deflateWriter{zw: zw}
	s.w.Reset(s.z)
	s.in.r = flate.NewReader(s.in.r)
	return nil
}

// closeCompress ends the deflate streams when the session ends.
func (s *Session) closeCompress() {
	if s.z == nil {
		return
	}
	if rc, ok := s.in.r.(io.Closer); ok {
		_ = rc.Close()
	}
}
