package mailq

import (
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/queue"
)

func TestFormat(t *testing.T) {
	at := time.Date(2026, 11, 7, 9, 5, 3, 0, time.UTC)
	rc := func(a ...string) []queue.Recipient {
		var out []queue.Recipient
		for _, x := range a {
			out = append(out, queue.Recipient{Addr: x})
		}
		return out
	}
	tests := []struct {
		name string
		ents []queue.Entry
		want string
	}{
		{"empty", nil, "Mail queue is empty\n"},
		{"active", []queue.Entry{{ID: "661470F5F6CBF000D19", Queue: queue.DirActive, Size: 523, Arrival: at, From: "ann@example.com",
			Rcpts: rc("bob@example.org")}},
			"-Queue ID-           --Size-- ----Arrival Time---- -Sender/Recipient-------\n" +
				"661470F5F6CBF000D19*      523 Sat Nov  7 09:05:03  ann@example.com\n" +
				"                                                   bob@example.org\n\n" +
				"-- 1 Kbytes in 1 Request.\n"},
		{"deferred, held, corrupt, null sender", []queue.Entry{
			{ID: "661470F5F6CBF000D19", Queue: queue.DirDeferred, Size: 2000, Arrival: at, From: "ann@example.com",
				Rcpts: rc("a@x.example", "b@x.example", "done@x.example", "c@y.example"),
				Status: []queue.RcptStatus{
					{State: queue.Pending, Status: "4.4.1", Diag: "connect to mx.x.example: connection\n refused"},
					{State: queue.Pending, Status: "4.4.1", Diag: "connect to mx.x.example: connection\n refused"},
					{State: queue.Delivered},
					{State: queue.Pending, Status: "4.2.0", Diag: "450 try later", MTA: "mx.y.example"},
				}},
			{ID: "661470F5F6CBF000D20", Queue: queue.DirHold, Size: 100, Arrival: at, From: "", Rcpts: rc("ann@example.com")},
			{ID: "661470F5F6CBF000D21", Queue: queue.DirCorrupt, Err: "queue: corrupt queue file: bad header"},
		},
			"-Queue ID-           --Size-- ----Arrival Time---- -Sender/Recipient-------\n" +
				"661470F5F6CBF000D19      2000 Sat Nov  7 09:05:03  ann@example.com\n" +
				"(connect to mx.x.example: connection refused)\n" +
				"                                                   a@x.example\n" +
				"                                                   b@x.example\n" +
				"(host mx.y.example said: 450 try later)\n" +
				"                                                   c@y.example\n\n" +
				"661470F5F6CBF000D20!      100 Sat Nov  7 09:05:03  MAILER-DAEMON\n" +
				"                                                   ann@example.com\n\n" +
				"661470F5F6CBF000D21#        0                      (corrupt queue file: queue: corrupt queue file: bad header)\n\n" +
				"-- 3 Kbytes in 3 Requests.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := Format(&b, tc.ents, time.UTC); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}
