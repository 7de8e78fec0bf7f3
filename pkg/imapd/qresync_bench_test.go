package imapd

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkQResync100k: a client that knew a 100,000-message INBOX comes
// back after 100 changes by another session (60 flag changes, 20
// expunges, 20 new messages) and resynchronises with one SELECT (QRESYNC)
// plus a UID FETCH of the new messages, against the full resync a client
// without QRESYNC needs (SELECT and UID FETCH 1:* (FLAGS)), and a bare
// SELECT for reference. wire-B/op is what the server sent, cpu-ms/op the
// CPU time of this process (cote's server and the client; Dovecot's own
// CPU is not in it). The changes are made over IMAP, so Dovecot, when
// installed, gets the same workload on a copy of the same Maildir.
//
//	go test -run '^$' -bench QResync100k -benchtime 10x ./pkg/imapd/
func BenchmarkQResync100k(b *testing.B) {
	ts := newTestServer(b, Config{})
	fillMailbox(b, ts, "INBOX", largeMailbox)
	for _, srv := range benchServers(b, ts) {
		rc := srv.session(b)
		counter := &countReader{r: rc.conn}
		rc.br = bufio.NewReaderSize(counter, 64<<10)
		rc.do(b, "ENABLE QRESYNC")
		warm := time.Now()
		sel := rc.lines(b, "SELECT INBOX")
		b.Logf("%s: first SELECT %v", srv.name, time.Since(warm).Round(time.Millisecond))
		uv, modseq, next := codeNum(b, sel, "UIDVALIDITY"), codeNum(b, sel, "HIGHESTMODSEQ"), codeNum(b, sel, "UIDNEXT")
		last := next - 1

		// The changes, by another session.
		other := srv.session(b)
		other.do(b, "SELECT INBOX")
		for i := range 60 {
			other.do(b, fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Seen \Flagged)`, 1+i*1500))
		}
		var gone []string
		for i := range 20 {
			gone = append(gone, strconv.Itoa(700+i*4000))
		}
		other.do(b, `UID STORE `+strings.Join(gone, ",")+` +FLAGS.SILENT (\Deleted)`)
		other.do(b, "UID EXPUNGE "+strings.Join(gone, ","))
		for i := range 20 {
			m := benchMessage(largeMailbox + i)
			other.do(b, fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m))
		}
		other.do(b, "LOGOUT")

		run := func(name string, cmds ...string) {
			// Once untimed: the first SELECT after the changes folds
			// the index log into a snapshot, no part of a resync.
			for _, c := range cmds {
				rc.do(b, c)
			}
			b.Run(srv.name+"/"+name, func(b *testing.B) {
				start, cpu := counter.n, cpuTime()
				ops := 0
				for b.Loop() {
					for _, c := range cmds {
						rc.do(b, c)
					}
					ops++
				}
				b.ReportMetric(float64(counter.n-start)/float64(ops), "wire-B/op")
				b.ReportMetric(float64(cpuTime()-cpu)/float64(ops)/1e6, "cpu-ms/op")
			})
		}
		run("SELECT_only", "SELECT INBOX")
		run("QRESYNC", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:%d))", uv, modseq, last), fmt.Sprintf("UID FETCH %d:* (FLAGS)", last+1))
		run("full", "SELECT INBOX", "UID FETCH 1:* (FLAGS)")
	}
}

// lines runs one command and returns its untagged response lines (no
// literals expected).
func (rc *rawClient) lines(b *testing.B, cmd string) []string {
	b.Helper()
	rc.n++
	tag := "b" + strconv.Itoa(rc.n)
	if _, err := io.WriteString(rc.conn, tag+" "+cmd+"\r\n"); err != nil {
		b.Fatal(err)
	}
	var out []string
	for {
		l, err := rc.br.ReadString('\n')
		if err != nil {
			b.Fatalf("%s: %v", cmd, err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l[len(tag)+1:], "OK") {
				b.Fatalf("%s: %s", cmd, l)
			}
			return out
		}
		out = append(out, l)
	}
}

// codeNum finds "[NAME n]" in response lines.
func codeNum(b *testing.B, lines []string, name string) uint64 {
	b.Helper()
	re := regexp.MustCompile(`\[` + name + ` (\d+)\]`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in %q", name, lines)
	return 0
}

// cpuTime is the user and system CPU time of the process, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
