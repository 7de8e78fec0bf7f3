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

// BenchmarkDeliverAll is one durable 4 KiB message to ten users, written
// once and linked, the commits overlapping; BenchmarkDeliverEach is the
// same ten deliveries one after the other (the path before DeliverAll).
func BenchmarkDeliverAll(b *testing.B) {
	d := newDeliverer(Options{Hostname: "mx.test", AddReceived: true})
	m := msg("Subject: bench\r\n\r\n" + strings.Repeat("x", 4096-20) + "\r\n")
	rcpts := make([]Recipient, 10)
	for i := range rcpts {
		rcpts[i] = Recipient{User: userCfg(b.TempDir()), Env: Envelope{From: "s@r", Rcpt: "u@d", Received: &Received{Helo: "c"}, MultiRcpt: true}}
	}
	for b.Loop() {
		d.DeliverAll(rcpts, m, func(_ int, _ string, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
}

func BenchmarkDeliverEach(b *testing.B) {
	d := newDeliverer(Options{Hostname: "mx.test", AddReceived: true})
	m := msg("Subject: bench\r\n\r\n" + strings.Repeat("x", 4096-20) + "\r\n")
	homes := make([]string, 10)
	for i := range homes {
		homes[i] = b.TempDir()
	}
	env := Envelope{From: "s@r", Rcpt: "u@d", Received: &Received{Helo: "c"}, MultiRcpt: true}
	for b.Loop() {
		for _, h := range homes {
			if _, err := d.Deliver(userCfg(h), env, m); err != nil {
				b.Fatal(err)
			}
		}
	}
}
