package imapd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/membudget"
)

// largeMultipart is a multipart message of about 2.6 MiB: a 700 KiB text part
// that ends with a needle, and a base64 attachment of 1.5 MiB.
func largeMultipart() (msg string, attachment []byte) {
	attachment = bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 3<<16)
	enc := base64.StdEncoding.EncodeToString(attachment)
	var b64 strings.Builder
	for len(enc) > 76 {
		b64.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b64.WriteString(enc + "\r\n")
	text := strings.Repeat("filler line of the text part\r\n", 700<<10/30) + "the Zebra needle\r\n"
	msg = "Subject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\n" + text +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64.String() +
		"--b--\r\n"
	return msg, attachment
}

// TestLargeMessages: a message over storage.MapThreshold (read through a
// mapping, not the heap) fetches byte for byte with BODY[] and BINARY[],
// and SEARCH BODY finds text at its end; with a memory budget smaller
// than the attachment, BINARY of it is refused with [LIMIT] (the session
// goes on) and SEARCH BODY still finds the text, scanning it as stored.
func TestLargeMessages(t *testing.T) {
	msg, att := largeMultipart()
	cases := []struct {
		name   string
		budget *membudget.Budget
		limit  bool
	}{
		{"process budget", nil, false},
		{"small budget", membudget.New(membudget.Small + 1), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Budget: c.budget})
			ts.deliver(t, "INBOX", time.Now(), msg)
			conn := ts.dial(t)
			br := bufio.NewReader(conn)
			l := &lineConn{t: t, br: br, w: conn}
			l.until("* PREAUTH")
			l.send("s SELECT INBOX")
			l.until("s OK")

			l.send("f1 FETCH 1 (BODY.PEEK[])")
			if got := readLiteral(t, l); got != msg {
				t.Errorf("BODY[]: %d bytes differ from the %d stored", len(got), len(msg))
			}
			l.until("f1 OK")

			l.send("f2 FETCH 1 (BINARY.PEEK[2])")
			if c.limit {
				if got := l.until("f2 "); !strings.HasPrefix(got[len(got)-1], "f2 NO [LIMIT]") {
					t.Errorf("BINARY over the budget: %q", got)
				}
			} else {
				if got := readLiteral(t, l); got != string(att) {
					t.Errorf("BINARY[2]: %d bytes differ from the %d of the attachment", len(got), len(att))
				}
				l.until("f2 OK")
			}

			l.send("f3 SEARCH BODY zebra")
			got := l.until("f3 ")
			if len(got) != 2 || got[0] != "* SEARCH 1" || !strings.HasPrefix(got[1], "f3 OK") {
				t.Errorf("SEARCH BODY: %q", got)
			}
			l.send("f4 SEARCH BODY absent-word")
			if got := l.until("f4 "); len(got) != 2 || got[0] != "* SEARCH" {
				t.Errorf("SEARCH BODY absent: %q", got)
			}
		})
	}
}

// readLiteral reads "* n FETCH (ITEM {size}" or "~{size}", the literal and
// the line's rest, and returns the literal.
func readLiteral(t *testing.T, l *lineConn) string {
	t.Helper()
	head := l.until("* ")
	line := head[len(head)-1]
	i := strings.LastIndexByte(line, '{')
	if i < 0 || !strings.HasSuffix(line, "}") {
		t.Fatalf("no literal in %q", line)
	}
	n, err := strconv.Atoi(line[i+1 : len(line)-1])
	if err != nil {
		t.Fatalf("literal size in %q: %v", line, err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(l.br, buf); err != nil {
		t.Fatal(fmt.Errorf("reading the %d-byte literal: %w", n, err))
	}
	if rest, err := l.br.ReadString('\n'); err != nil || rest != ")\r\n" {
		t.Fatalf("after the literal: %q %v", rest, err)
	}
	return string(buf)
}
