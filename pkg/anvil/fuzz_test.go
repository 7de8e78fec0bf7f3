package anvil

import (
	"strings"
	"testing"
)

// FuzzParseRequest: any line parses or fails without panicking, and an
// accepted request formats back to a line that parses to the same request.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"VERSION\tanvil\t1\t0", "CONNECT\t12\timap/192.0.2.1/alice", "DISCONNECT\t1\ta\x01tb",
		"KILL\t4194304", "LOOKUP\tpop3//u", "PENALTY-GET\t2001:db8::1", "PENALTY-INC\t192.0.2.1\t4294967295\t65535",
		"PENALTY-SET-EXPIRE-SECS\t3600", "CONNECT-DUMP", "PENALTY-DUMP", "LOOKUP\t\x01", "KILL\t01",
		"RATE\tsmtpd/192.0.2.1/\t60", "RATE\tx\t0", "RATE\tx\t86401",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := parseRequest(line)
		if err != nil {
			return
		}
		back := strings.TrimSuffix(formatLine(r.args()...), "\n")
		r2, err := parseRequest(back)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", back, line, err)
		}
		if r2 != r {
			t.Fatalf("round trip: %+v != %+v", r2, r)
		}
	})
}

// FuzzDumpLine: CONNECT-DUMP reply lines (what a client reads from the
// socket) never panic, and an accepted one re-formats to itself.
func FuzzDumpLine(f *testing.F) {
	for _, s := range []string{"imap/192.0.2.1/alice\t12\t2", "pop3//a/b\t1\t1", "imap/x/u\t1\t1", "a\t1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseDumpLine(line)
		if err != nil {
			return
		}
		back := strings.TrimSuffix(formatLine(Ident(c.Service, c.User, c.IP), itoa(int64(c.PID)), itoa(int64(c.Count))), "\n")
		c2, err := parseDumpLine(back)
		if err != nil || c2 != c {
			t.Fatalf("round trip of %q: %+v %v, want %+v", line, c2, err, c)
		}
	})
}
