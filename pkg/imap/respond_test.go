package imap

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestResponses(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"number", func(w *Writer) error { w.Number(4294967296); return nil }, "4294967296"},
		{"untagged num", func(w *Writer) error { w.UntaggedNum(5, "EXISTS"); return nil }, "* 5 EXISTS\r\n"},
		{"flags", func(w *Writer) error { w.Flags([]string{`\Seen`, "$Junk"}); return nil }, `(\Seen $Junk)`},
		{"no flags", func(w *Writer) error { w.Flags(nil); return nil }, `()`},
		{"date-time", func(w *Writer) error {
			w.DateTime(time.Date(1996, 7, 7, 2, 44, 25, 0, time.FixedZone("", -7*3600)))
			return nil
		}, `" 7-Jul-1996 02:44:25 -0700"`},
		{"literal", func(w *Writer) error { return w.Literal(5, strings.NewReader("hello world")) }, "{5}\r\nhello"},
		{"literal8", func(w *Writer) error { return w.Literal8(3, strings.NewReader("a\x00b")) }, "~{3}\r\na\x00b"},
		{"literal bytes", func(w *Writer) error { w.LiteralBytes([]byte("ab")); return nil }, "{2}\r\nab"},
		{"mailbox", func(w *Writer) error { w.Mailbox("\u00e9t\u00e9"); return nil }, "&AOk-t&AOk-"},
		{"mailbox quoted", func(w *Writer) error { w.Mailbox("a b"); return nil }, `"a b"`},
		{"fetch", func(w *Writer) error {
			w.FetchStart(3)
			w.FetchItem("UID")
			w.Number(17)
			w.FetchItem("BODY[]")
			if err := w.Literal(2, strings.NewReader("hi")); err != nil {
				return err
			}
			w.FetchItem("INTERNALDATE")
			w.DateTime(time.Date(2020, 12, 31, 23, 59, 59, 0, time.UTC))
			w.FetchEnd()
			return nil
		}, "* 3 FETCH (UID 17 BODY[] {2}\r\nhi INTERNALDATE \"31-Dec-2020 23:59:59 +0000\")\r\n"},
		{"fetch flags", func(w *Writer) error { w.FetchFlags(2, 9, []string{`\Seen`}); return nil }, "* 2 FETCH (UID 9 FLAGS (\\Seen))\r\n"},
		{"fetch flags no uid", func(w *Writer) error { w.FetchFlags(2, 0, nil); return nil }, "* 2 FETCH (FLAGS ())\r\n"},
		{"esearch all", func(w *Writer) error {
			w.ESearch("a1", true, SearchReturn{Min: true, Max: true, All: true, Count: true}, []uint32{2, 3, 4, 9})
			return nil
		}, "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 ALL 2:4,9 COUNT 4\r\n"},
		{"esearch none", func(w *Writer) error {
			w.ESearch("a1", false, SearchReturn{Min: true, All: true, Count: true}, nil)
			return nil
		}, "* ESEARCH (TAG \"a1\") COUNT 0\r\n"},
		{"esearch none without count", func(w *Writer) error {
			w.ESearch("a1", false, SearchReturn{All: true}, nil)
			return nil
		}, "* ESEARCH (TAG \"a1\")\r\n"},
		{"esearch save only", func(w *Writer) error {
			w.ESearch("a1", false, SearchReturn{Save: true}, []uint32{1})
			return nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := NewWriter(&b)
			if err := tc.do(w); err != nil {
				t.Fatal(err)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before Flush", b.Len())
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

func TestLiteralShortSource(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.Literal(10, strings.NewReader("short")); !errors.Is(err, ErrShortLiteral) {
		t.Errorf("got %v, want ErrShortLiteral", err)
	}
	boom := errors.New("boom")
	if err := w.Literal(10, io.MultiReader(strings.NewReader("ab"), errReader{boom})); !errors.Is(err, boom) {
		t.Errorf("got %v, want the source's error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("connection reset")
}

// TestCorkedLargeLiteral checks that a literal far larger than the buffer
// is streamed in buffer-sized writes, and that write errors are sticky.
func TestCorkedLargeLiteral(t *testing.T) {
	var cw countWriter
	w := NewWriterSize(&cw, DefaultWriteBuffer)
	for i := uint32(1); i <= 1000; i++ {
		w.FetchFlags(i, i, []string{`\Seen`})
	}
	if cw.writes != 0 {
		t.Fatalf("%d writes before flush", cw.writes)
	}
	const size = 1 << 20
	if err := w.Literal(size, bytes.NewReader(make([]byte, size))); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if cw.writes > size/DefaultWriteBuffer+3 {
		t.Errorf("%d writes for %d bytes", cw.writes, cw.n)
	}

	fw := &failWriter{}
	w = NewWriterSize(fw, 16)
	w.WriteString(strings.Repeat("x", 100))
	if w.Err() == nil || w.Flush() == nil {
		t.Fatal("write error not reported")
	}
	w.WriteString("more")
	if fw.n != 1 {
		t.Errorf("%d writes after a failure, want 1", fw.n)
	}
}

type countWriter struct{ writes, n int }

func (c *countWriter) Write(p []byte) (int, error) {
	c.writes++
	c.n += len(p)
	return len(p), nil
}
