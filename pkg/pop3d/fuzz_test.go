package pop3d

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// FuzzSession feeds a whole TRANSACTION session's client stream to a
// session over a socketpair: no input may panic or hang it, every line it
// writes ends in CRLF, and the mailbox never loses a message unless the
// input held a QUIT.
func FuzzSession(f *testing.F) {
	h := newHarness(f)
	h.deliver(f, msg1, msg2, msg3)
	for _, seed := range []string{
		"CAPA\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 3\r\nRSET\r\nNOOP\r\n",
		"DELE 1\r\nDELE 1\r\nLIST 1\r\nRETR 2\r\n",
		"LIST 99999999999999999999\r\nTOP 1 x\r\nUSER a\r\n\r\nXYZ\r\n",
		"retr 1\nlist 2 3\r\ntop 3 -1\r",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// No QUIT, so nothing may be deleted and the fixture stays.
		if bytes.Contains(bytes.ToUpper(in), []byte("QUIT")) {
			return
		}
		u := h.openUser(t)
		defer u.Close()
		srv, cli := socketpair(t)
		defer cli.Close()
		done := make(chan error, 1)
		go func() {
			done <- NewSession(Config{NoFlagUpdates: true, Timeout: 10 * time.Second}, u, srv, nil).Serve(context.Background(), nil)
			srv.Close()
		}()
		go func() {
			cli.Write(in)
			cli.CloseWrite()
		}()
		out, _ := io.ReadAll(cli)
		<-done
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("output does not end a line: %q", out[max(0, len(out)-80):])
		}
		if _, msgs := h.inbox(t); len(msgs) != 3 {
			t.Fatalf("%d messages left after a session without QUIT", len(msgs))
		}
	})
}
