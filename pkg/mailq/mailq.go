package mailq

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/queue"
)

// idWidth is the width of cote's queue IDs (13 hex digits of time, 6 of the pid).
const idWidth = 19

// mark is the status character Postfix appends to the queue ID.
func mark(q string) byte {
	switch q {
	case queue.DirActive:
		return '*'
	case queue.DirHold:
		return '!'
	case queue.DirCorrupt:
		return '#'
	}
	return ' '
}

// Format writes the listing of ents as postqueue -p does, with arrival times in loc.
func Format(w io.Writer, ents []queue.Entry, loc *time.Location) error {
	if len(ents) == 0 {
		_, err := io.WriteString(w, "Mail queue is empty\n")
		return err
	}
	var b strings.Builder
	indent := strings.Repeat(" ", idWidth+1+1+8+1+20+1)
	fmt.Fprintf(&b, "%-*s %8s %-20s %s\n", idWidth+1, "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------")
	var total int64
	for _, e := range ents {
		total += e.Size
		sender := e.From
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		arrival := e.Arrival.In(loc).Format(time.ANSIC)
		if e.Err != "" {
			arrival, sender = "", "(corrupt queue file: "+oneLine(e.Err)+")"
		}
		fmt.Fprintf(&b, "%-*s %8d %-20.20s %s\n", idWidth+1, e.ID+string(mark(e.Queue)), e.Size, arrival, sender)
		last := ""
		for i, r := range e.Rcpts {
			var st queue.RcptStatus
			if i < len(e.Status) {
				st = e.Status[i]
			}
			if st.State != queue.Pending && st.State != queue.Failed {
				continue
			}
			if reason := reasonOf(st); reason != "" && reason != last {
				fmt.Fprintf(&b, "(%s)\n", reason)
				last = reason
			}
			fmt.Fprintf(&b, "%s%s\n", indent, r.Addr)
		}
		b.WriteString("\n")
	}
	n := len(ents)
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "-- %d Kbytes in %d Request%s.\n", (total+1023)/1024, n, plural)
	_, err := io.WriteString(w, b.String())
	return err
}

// reasonOf is the deferral or failure text shown above a recipient, as Postfix shows the
// remote reply or the local error.
func reasonOf(st queue.RcptStatus) string {
	d := oneLine(st.Diag)
	if d == "" && st.Status == "" {
		return ""
	}
	if d == "" {
		d = "status " + st.Status
	}
	if st.MTA != "" && !strings.Contains(d, st.MTA) {
		d = "host " + st.MTA + " said: " + d
	}
	return d
}

// oneLine keeps a reason on one line of the listing.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
