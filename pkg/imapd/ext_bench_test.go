package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkSortThread10k: SORT (DATE), SORT (SUBJECT) and THREAD
// REFERENCES over 10,000 messages, beside Dovecot when it is installed.
// The first SORT reads every header (cote caches the fields it needs);
// its time is logged, and the loops measure the cached state.
func BenchmarkSortThread10k(b *testing.B) {
	ts := newTestServer(b, Config{})
	fillMailbox(b, ts, "INBOX", searchMailbox)
	for _, srv := range benchServers(b, ts) {
		rc := srv.session(b)
		rc.do(b, "SELECT INBOX")
		cold := time.Now()
		rc.do(b, "SORT (DATE) UTF-8 ALL")
		b.Logf("%s: first SORT (DATE) %v", srv.name, time.Since(cold).Round(time.Millisecond))
		for _, bc := range []struct{ name, cmd string }{
			{"SORT_DATE", "SORT (DATE) UTF-8 ALL"},
			{"SORT_SUBJECT", "SORT (SUBJECT) UTF-8 ALL"},
			{"THREAD_REFERENCES", "THREAD REFERENCES UTF-8 ALL"},
		} {
			b.Run(srv.name+"/"+bc.name, func(b *testing.B) {
				for b.Loop() {
					rc.do(b, bc.cmd)
				}
			})
		}
	}
}

// BenchmarkCompressFetch: FETCH of 1,000 whole messages over
// COMPRESS=DEFLATE; bytes/s are of the uncompressed response, and the
// compressed size is logged.
func BenchmarkCompressFetch(b *testing.B) {
	ts := newTestServer(b, Config{Compress: true})
	fillMailbox(b, ts, "INBOX", 1000)
	var size int64
	for i := 0; i < 1000; i++ {
		size += int64(len(benchMessage(i)))
	}
	plain := dialRaw(b, ts.ln.Addr().String())
	plain.do(b, "SELECT INBOX")
	b.Run("FETCH_1000_BODY_plain", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			plain.do(b, "FETCH 1:1000 BODY.PEEK[]")
		}
	})
	rc := dialRaw(b, ts.ln.Addr().String())
	rc.do(b, "COMPRESS DEFLATE")
	if rc.br.Buffered() != 0 {
		b.Fatal("uncompressed data after the OK")
	}
	counter := &countReader{r: rc.conn}
	zr := flate.NewReader(counter)
	zw, _ := flate.NewWriter(rc.conn, flate.BestSpeed)
	rc.br = bufio.NewReaderSize(zr, 64<<10)
	rc.conn = &zconn{Conn: rc.conn, zw: zw}
	rc.do(b, "SELECT INBOX")
	b.Run("FETCH_1000_BODY_deflate", func(b *testing.B) {
		b.SetBytes(size)
		start, ops := counter.n, 0
		for b.Loop() {
			rc.do(b, "FETCH 1:1000 BODY.PEEK[]")
			ops++
		}
		b.ReportMetric(float64(counter.n-start)/float64(ops), "wire-B/op")
	})
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// zconn compresses what rawClient writes.
type zconn struct {
	net.Conn
	zw *flate.Writer
}

func (z *zconn) Write(p []byte) (int, error) {
	n, err := z.zw.Write(p)
	if err == nil {
		err = z.zw.Flush()
	}
	return n, err
}
