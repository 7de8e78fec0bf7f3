package delivery

import (
	"strings"
	"testing"
)

// BenchmarkDeliver is one durable 4 KiB delivery to one user's INBOX
// (OpenUser, save transaction, Commit with its fsyncs).
func BenchmarkDeliver(b *testing.B) {
	home := b.TempDir()
	d := newDeliverer(Options{Hostname: "mx.test", AddReceived: true})
	m := msg("Subject: bench\r\n\r\n" + strings.Repeat("x", 4096-20) + "\r\n")
	env := Envelope{From: "s@r", Rcpt: "u@d", Received: &Received{Helo: "c"}}
	for b.Loop() {
		if _, err := d.Deliver(userCfg(home), env, m); err != nil {
			b.Fatal(err)
		}
	}
}
