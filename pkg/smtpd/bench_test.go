package smtpd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// discardSink counts what it is given and keeps nothing: the benchmark
// measures smtpd's own path (session, DATA copy), not the spool.
type discardSink struct{ n atomic.Int64 }

type discardWriter struct{ s *discardSink }

func (s *discardSink) Create(Envelope) (MessageWriter, error) { return discardWriter{s}, nil }
func (w discardWriter) Write(p []byte) (int, error)           { w.s.n.Add(int64(len(p))); return len(p), nil }
func (w discardWriter) ID() string                            { return "ID" }
func (w discardWriter) Commit() (string, error)               { return "ID", nil }
func (w discardWriter) Abort() error                          { return nil }

// BenchmarkMessage: one pipelined transaction of a 4096-byte message (as
// smtp-source -l 4096 sends) per iteration on one session over loopback.
// Profile with -cpuprofile/-memprofile.
func BenchmarkMessage(b *testing.B) {
	e := baseConfig(b)
	sink := &discardSink{}
	e.cfg.Sink, e.cfg.MaxSize = sink, 0
	addr := startB(b, e.cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	readReply := func() string {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	readReply()
	fmt.Fprintf(c, "EHLO bench.example\r\n")
	readReply()
	var body strings.Builder
	body.WriteString("From: <sender@remote.example>\r\nTo: <alice@example.org>\r\nSubject: bench\r\n\r\n")
	for body.Len() < 4096 {
		body.WriteString("La la la la la la la la la la la la la la la la la la la la la la la la la la.\r\n")
	}
	msg := "MAIL FROM:<sender@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
	data := body.String() + ".\r\n"
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Write([]byte(msg))
		for k := 0; k < 3; k++ {
			readReply()
		}
		c.Write([]byte(data))
		if l := readReply(); !strings.HasPrefix(l, "250 ") {
			b.Fatalf("DATA: %q", l)
		}
	}
}

func startB(b *testing.B, cfg Config) string {
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				srv.Serve(b.Context(), c, mx)
			}()
		}
	}()
	return ln.Addr().String()
}

// copyBody against a byte-wise reference, for every mode and for reads
// that split CRLF pairs.
func TestCopyBody(t *testing.T) {
	inputs := []string{"", "a\r\nb\r\n", "a\nb\r\n", "\nx", "a\r\n\n\r\n", "\r\n\r\n", "x\r", "abc\n\n\nd\r\n", "\r\r\n\n"}
	for _, in := range inputs {
		for _, mode := range []string{BareLFAllow, BareLFNormalize, BareLFReject} {
			var want strings.Builder
			prevCR, bare := false, false
			for i := 0; i < len(in); i++ {
				c := in[i]
				if c == '\n' && !prevCR {
					bare = true
					if mode == BareLFNormalize {
						want.WriteByte('\r')
					}
				}
				if !(bare && mode == BareLFReject) {
					want.WriteByte(c)
				}
				prevCR = c == '\r'
			}
			for name, r := range map[string]func() io.Reader{
				"whole":   func() io.Reader { return strings.NewReader(in) },
				"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
				"half":    func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
			} {
				var got strings.Builder
				n, gotBare, err := copyBody(&got, r(), mode)
				if err != nil || got.String() != want.String() || gotBare != bare || n != int64(got.Len()) {
					t.Errorf("%q %s %s: %q bare=%v n=%d err=%v; want %q bare=%v", in, mode, name, got.String(), gotBare, n, err, want.String(), bare)
				}
			}
		}
	}
}
