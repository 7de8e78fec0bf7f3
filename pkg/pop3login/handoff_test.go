package pop3login

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/login/logintest"
)

// fakePost is a stand-in for the pop3 service on the handoff socket: it
// takes each record and client, answers "+OK Logged in." as the pop3
// process does, then answers every command line "+OK NAME" until QUIT,
// starting with the record's Preamble.
type fakePost = logintest.FakePost

func startFakePost(t *testing.T) *fakePost {
	return logintest.StartFakePost(t, "pop3", func(h *ipc.Handoff, nc net.Conn) {
		fmt.Fprintf(nc, "+OK Logged in.\r\n")
		br := bufio.NewReader(io.MultiReader(bytes.NewReader(h.Preamble), nc))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			name, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			if strings.EqualFold(name, "QUIT") {
				fmt.Fprintf(nc, "+OK Logging out.\r\n")
				return
			}
			fmt.Fprintf(nc, "+OK %s\r\n", name)
		}
	})
}

// TestHandoff: every login command hands the client to the pop3 service
// with the record contract 4 describes (Tag "", Preamble the commands
// pipelined after the login); over TLS the login process proxies.
func TestHandoff(t *testing.T) {
	fp := startFakePost(t)
	ts := start(t, testConf, Options{HandoffPath: fp.Path}, nil)
	tests := []struct {
		name  string
		tls   bool
		conn  func() net.Conn
		login func(t *testing.T, lc *lineConn, greeting string) string // the pipelined login lines
	}{
		{"user pass", false, func() net.Conn { return dial(t, ts.pop3) },
			func(t *testing.T, lc *lineConn, g string) string { return "USER demo\r\nPASS secret" }},
		{"pop3s user pass", true, func() net.Conn { return dialTLS(t, ts.pop3s) },
			func(t *testing.T, lc *lineConn, g string) string { return "USER demo\r\nPASS secret" }},
		{"apop", false, func() net.Conn { return dial(t, ts.pop3) },
			func(t *testing.T, lc *lineConn, g string) string {
				_, d := apopDigest(t, g, "secret")
				return "APOP demo " + d
			}},
		{"auth plain", false, func() net.Conn { return dial(t, ts.pop3) },
			func(t *testing.T, lc *lineConn, g string) string { return "AUTH PLAIN AGRlbW8Ac2VjcmV0" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := newLineConn(t, tc.conn())
			g := lc.read()
			// One write: the login and two pipelined commands.
			lines := tc.login(t, lc, g)
			lc.send(lines + "\r\nSTAT\r\nQUIT")
			want := []string{"+OK Logged in.", "+OK STAT", "+OK Logging out."}
			if strings.HasPrefix(lines, "USER") {
				want = append([]string{"+OK"}, want...)
			}
			for _, w := range want {
				if got := lc.read(); got != w {
					t.Fatalf("got %q, want %q", got, w)
				}
			}
			if _, err := lc.br.ReadString('\n'); !errors.Is(err, io.EOF) {
				t.Errorf("after QUIT: %v, want EOF", err)
			}
			var h *ipc.Handoff
			select {
			case h = <-fp.Records:
			case <-time.After(10 * time.Second):
				t.Fatal("no handoff record")
			}
			if h.Tag != "" || h.TLS != tc.tls || h.AuthPID != 4242 || h.ClientPID != os.Getpid() ||
				h.Cookie != "0123456789abcdef0123456789abcdef" || h.AuthID == 0 || h.SessionID == "" ||
				!h.Remote.IsValid() || !h.Local.IsValid() {
				t.Errorf("record %+v", h)
			}
			if got := string(h.Preamble); got != "STAT\r\nQUIT\r\n" {
				t.Errorf("preamble %q", got)
			}
		})
	}
}
