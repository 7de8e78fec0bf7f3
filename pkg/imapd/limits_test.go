package imapd

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
)

// TestReaderLimits checks the answers to the reader's limit errors: a
// synchronizing literal past MaxLiterals is NO [LIMIT] and the session
// goes on; a non-synchronizing one (its data is already on the way) and
// a LITERAL- violation are "tag BAD [code]" and the connection closes.
func TestReaderLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits imap.Limits
		// steps alternate: what the client sends, then the lines it
		// must read (prefix match); "EOF" means the server closed.
		steps [][2]string
		capIs string
	}{
		{"too many sync literals", imap.Limits{MaxLiterals: 1}, [][2]string{
			{"a1 LIST {0}\r\n", "+ OK"},
			{" {1}\r\n", "a1 NO [LIMIT] Too many literals."},
			{"a2 NOOP\r\n", "a2 OK"},
		}, "LITERAL+"},
		{"too many non-sync literals", imap.Limits{MaxLiterals: 1}, [][2]string{
			{"b1 LIST {0+}\r\n {1+}\r\nx\r\n", "b1 BAD [LIMIT] Too many literals"},
			{"", "EOF"},
		}, "LITERAL+"},
		{"LITERAL- over 4096", imap.Limits{MaxNonSync: imap.LiteralMinusMax}, [][2]string{
			{"c1 APPEND INBOX {5000+}\r\n", "c1 BAD [TOOBIG] Non-synchronizing literal too large"},
			{"", "EOF"},
		}, "LITERAL-"},
		{"LITERAL- within 4096", imap.Limits{MaxNonSync: imap.LiteralMinusMax}, [][2]string{
			{"d1 APPEND INBOX {2+}\r\nhi\r\n", "d1 OK [APPENDUID"},
		}, "LITERAL-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Limits: tc.limits})
			c := ts.dial(t)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "* PREAUTH") {
				t.Fatalf("greeting %q, %v", line, err)
			}
			if !strings.Contains(line, " "+tc.capIs+" ") {
				t.Errorf("greeting %q lacks %s", line, tc.capIs)
			}
			for _, st := range tc.steps {
				if st[0] != "" {
					if _, err := io.WriteString(c, st[0]); err != nil {
						t.Fatal(err)
					}
				}
				for {
					line, err := br.ReadString('\n')
					if st[1] == "EOF" {
						if err == nil {
							t.Errorf("after %q: got %q, want the connection closed", st[0], line)
							continue
						}
						break
					}
					if err != nil {
						t.Fatalf("after %q: %v, want %q", st[0], err, st[1])
					}
					if strings.HasPrefix(line, "* ") {
						continue
					}
					if !strings.HasPrefix(line, st[1]) {
						t.Fatalf("after %q: got %q, want %q", st[0], line, st[1])
					}
					break
				}
			}
		})
	}
}
