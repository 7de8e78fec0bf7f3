package pop3d

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// benchMessages is the mailbox size of BenchmarkRetrAll (the issue's
// 10,000-message download); the store is built once, outside the timer.
const benchMessages = 10000

// BenchmarkRetrAll downloads every message of a 10,000-message INBOX in
// one pipelined batch of RETRs (what fetchmail and most clients do) over
// a socketpair, and reports MB/s of message data, next to Dovecot's pop3
// on the same Maildir. Run with
//
//	go test -run '^$' -bench RetrAll -benchtime 5x ./pkg/pop3d/
func BenchmarkRetrAll(b *testing.B) {
	h := newHarness(b)
	var body strings.Builder
	for i := 0; body.Len() < 4000; i++ {
		fmt.Fprintf(&body, "line %d of a typical message body, about seventy octets long....\r\n", i)
	}
	msgs := make([]string, 0, 500)
	for i := 0; i < benchMessages; i++ {
		msgs = append(msgs, fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\n%s", i, i, body.String()))
		if len(msgs) == cap(msgs) {
			h.deliver(b, msgs...)
			msgs = msgs[:0]
		}
	}
	if len(msgs) > 0 {
		h.deliver(b, msgs...)
	}
	var batch strings.Builder
	for i := 1; i <= benchMessages; i++ {
		fmt.Fprintf(&batch, "RETR %d\r\n", i)
	}
	batch.WriteString("QUIT\r\n")
	b.Run("cote", func(b *testing.B) {
		var total int64
		for b.Loop() {
			u := h.openUser(b)
			srv, cli := socketpair(b)
			done := make(chan error, 1)
			go func() {
				done <- NewSession(Config{NoFlagUpdates: true, Timeout: time.Minute}, u, srv, nil).Serve(context.Background(), nil)
				srv.Close()
			}()
			go io.WriteString(cli, batch.String())
			n, err := io.Copy(io.Discard, bufio.NewReaderSize(cli, 64<<10))
			if err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			cli.Close()
			u.Close()
			total += n
		}
		b.SetBytes(total / int64(b.N))
	})
	// The same download from Dovecot 2.3's pop3 on the same Maildir
	// (stdin/stdout pipes instead of a socketpair), where installed.
	b.Run("dovecot", func(b *testing.B) {
		if _, err := os.Stat(dovecotPOP3); err != nil {
			b.Skip("dovecot-pop3d is not installed")
		}
		if err := chownNobody(h.home); err != nil {
			b.Skip(err)
		}
		var total int64
		for b.Loop() {
			cmd := dovecotCommand(h.home)
			cmd.Stdin = strings.NewReader(batch.String())
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, bufio.NewReaderSize(out, 64<<10))
			if err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
			total += n
		}
		b.SetBytes(total / int64(b.N))
	})
}
