package imapd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSearchHeader10k: SEARCH SUBJECT, FROM and HEADER over 10,000
// messages, beside Dovecot when it is installed. "saved" builds the
// mailbox through the storage API (its messages are parsed at save);
// "written" puts the files in cur/ as another program would (as
// `cote-bench bigmailbox --write` does), so the first search reads every
// header (its time is logged) and the loops measure what it left cached.
// read-B/op is what cote's process read (rchar of /proc/self/io) per
// search.
func BenchmarkSearchHeader10k(b *testing.B) {
	benchSearchHeader(b, searchMailbox, "saved", "written")
}

// BenchmarkSearchHeader100k: the same on 100,000 messages written as
// files (the bigmailbox case).
func BenchmarkSearchHeader100k(b *testing.B) {
	benchSearchHeader(b, largeMailbox, "written")
}

func benchSearchHeader(b *testing.B, n int, modes ...string) {
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			ts := newTestServer(b, Config{})
			if mode == "saved" {
				fillMailbox(b, ts, "INBOX", n)
			} else {
				writeMaildirFiles(b, filepath.Join(ts.home, "Maildir"), n)
			}
			for _, srv := range benchServers(b, ts) {
				rc := srv.session(b)
				rc.do(b, "SELECT INBOX")
				cold := time.Now()
				r0 := readChars()
				rc.do(b, "SEARCH SUBJECT topic")
				b.Logf("%s %s: first SEARCH SUBJECT %v", mode, srv.name, time.Since(cold).Round(time.Millisecond))
				if srv.name == "cote" {
					b.Logf("%s cote: first SEARCH SUBJECT read %d bytes", mode, readChars()-r0)
				}
				for _, bc := range []struct{ name, cmd string }{
					{"SUBJECT", "SEARCH SUBJECT \"topic 7\""},
					{"FROM", "SEARCH FROM sender42"},
					{"HEADER_MESSAGE-ID", "SEARCH HEADER Message-ID bench.4242@"},
				} {
					b.Run(srv.name+"/"+bc.name, func(b *testing.B) {
						r := readChars()
						for b.Loop() {
							rc.do(b, bc.cmd)
						}
						if srv.name == "cote" {
							b.ReportMetric(float64(readChars()-r)/float64(b.N), "read-B/op")
						}
					})
				}
			}
		})
	}
}

// writeMaildirFiles writes n corpus messages into dir/cur as plain files
// named "<time>.M<i>P1.bench,S=<size>:2,S", without W= (cote has to count
// their line ends), each with its internal date as mtime.
func writeMaildirFiles(b *testing.B, dir string, n int) {
	b.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		msg := benchMessage(i)
		when := base.Add(time.Duration(i) * time.Minute)
		p := filepath.Join(dir, "cur", fmt.Sprintf("%d.M%dP1.bench,S=%d:2,S", when.Unix(), i, len(msg)))
		if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			b.Fatal(err)
		}
	}
}

// readChars is the rchar counter of this process: bytes returned by read
// system calls, page cache or not.
func readChars() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("rchar: ")); ok {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			return n
		}
	}
	return 0
}
