package imaplogin

import (
	"bufio"
	"bytes"
	"crypto/tls"
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

// fakePost is a stand-in for the imap service on the handoff socket: it
// takes each record and client, answers the tag with OK, and then
// answers every command line "tag OK NAME" until LOGOUT.
type fakePost = logintest.FakePost

func startFakePost(t *testing.T) *fakePost {
	return logintest.StartFakePost(t, "imap", func(h *ipc.Handoff, nc net.Conn) {
		fmt.Fprintf(nc, "%s OK Logged in\r\n", h.Tag)
		br := bufio.NewReader(io.MultiReader(bytes.NewReader(h.Preamble), nc))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			tag, name, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			if strings.EqualFold(name, "LOGOUT") {
				fmt.Fprintf(nc, "* BYE Logging out\r\n%s OK LOGOUT\r\n", tag)
				return
			}
			fmt.Fprintf(nc, "%s OK %s\r\n", tag, name)
		}
	})
}

// TestHandoff: a successful login hands the client to the imap service
// with the record contract 4 describes; the commands pipelined after
// LOGIN reach it, and over TLS the login process proxies both ways and
// passes on the end of the session.
func TestHandoff(t *testing.T) {
	fp := startFakePost(t)
	ts := start(t, "", Options{HandoffPath: fp.Path})
	insecure := &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.org"}
	tests := []struct {
		name string
		tls  bool
		conn func() net.Conn
	}{
		{"plain", false, func() net.Conn { return dial(t, ts.imap) }},
		{"imaps", true, func() net.Conn { return tls.Client(dial(t, ts.imaps), insecure) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := newLineConn(t, tc.conn())
			// One write: LOGIN and two pipelined commands.
			lc.send("a LOGIN demo secret\r\nb NOOP\r\nc LOGOUT")
			for _, want := range []string{"a OK Logged in", "b OK NOOP", "* BYE Logging out", "c OK LOGOUT"} {
				if got := lc.read(); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			if _, err := lc.br.ReadString('\n'); !errors.Is(err, io.EOF) {
				t.Errorf("after LOGOUT: %v, want EOF", err)
			}
			var h *ipc.Handoff
			select {
			case h = <-fp.Records:
			case <-time.After(10 * time.Second):
				t.Fatal("no handoff record")
			}
			if h.Tag != "a" || h.TLS != tc.tls || h.AuthPID != 4242 || h.ClientPID != os.Getpid() ||
				h.Cookie != "0123456789abcdef0123456789abcdef" || h.AuthID == 0 || h.SessionID == "" ||
				!h.Remote.IsValid() || !h.Local.IsValid() {
				t.Errorf("record %+v", h)
			}
			if got := string(h.Preamble); got != "b NOOP\r\nc LOGOUT\r\n" {
				t.Errorf("preamble %q", got)
			}
		})
	}
}
