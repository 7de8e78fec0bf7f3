package delivery

import (
	"testing"
	"time"
)

func TestDelivered(t *testing.T) {
	const body = "Received: by mx.test (cote) with ESMTP id 00061234567890ABCDEF0; x\r\nSubject: a\r\n\r\nbody\r\n"
	tests := []struct {
		name   string
		stored []string // messages delivered first (to the recipient's default mailbox)
		env    Envelope
		msg    string
		since  time.Duration // bound relative to now
		want   bool
	}{
		{"stored copy found", []string{body}, Envelope{From: "s@x", Rcpt: "u@x"}, body, -time.Minute, true},
		{"different bytes", []string{body}, Envelope{From: "s@x", Rcpt: "u@x"}, body + "x\r\n", -time.Minute, false},
		{"saved before the bound", []string{body}, Envelope{From: "s@x", Rcpt: "u@x"}, body, time.Hour, false},
		{"empty mailbox", nil, Envelope{From: "s@x", Rcpt: "u@x"}, body, -time.Minute, false},
		{"among others", []string{body, "Subject: b\r\n\r\nother\r\n"}, Envelope{From: "s@x", Rcpt: "u@x"}, body, -time.Minute, true},
		{"detail mailbox missing: INBOX checked", []string{body}, Envelope{From: "s@x", Rcpt: "u+box@x"}, body, -time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			d := newDeliverer(Options{Delimiters: "+", SaveToDetail: true, AddReceived: true, Hostname: "h"})
			for _, s := range tc.stored {
				if _, err := d.Deliver(userCfg(home), Envelope{From: "s@x", Rcpt: "u@x", Received: &Received{Helo: "q", SessionID: "1", Time: time.Now()}}, msg(s)); err != nil {
					t.Fatal(err)
				}
			}
			_, got, err := d.Delivered(userCfg(home), tc.env, msg(tc.msg), time.Now().Add(tc.since))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Delivered = %v, want %v", got, tc.want)
			}
		})
	}
}
