package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func TestPickup(t *testing.T) {
	s, _ := OpenSpool(t.TempDir())
	sock, _ := os.MkdirTemp("", "qpick")
	t.Cleanup(func() { os.RemoveAll(sock) })
	l, err := net.Listen("unix", filepath.Join(sock, "pickup"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var gotUID uint32
	p := NewPickup(PickupConfig{Spool: s, MyHostname: "host.test", LookupUID: func(uid uint32) (string, error) {
		gotUID = uid
		return "alice", nil
	}})
	defer p.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.Handle(context.Background(), c)
		}
	}()
	cases := []struct {
		name, from string
		rcpts      []string
		wantFrom   string
		wantRcpts  string
	}{
		{"default sender", "", []string{"bob", "carol@example.org"}, "alice@host.test", "bob@host.test,carol@example.org"},
		{"explicit sender", "list-owner", []string{"Bob@Example.ORG"}, "list-owner@host.test", "Bob@example.org"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, err := gosmtp.Dial(filepath.Join(sock, "pickup"))
			if err == nil {
				cl.Close()
			}
			conn, err := net.Dial("unix", filepath.Join(sock, "pickup"))
			if err != nil {
				t.Fatal(err)
			}
			cl = gosmtp.NewClient(conn)
			if err := cl.SendMail(c.from, c.rcpts, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
				t.Fatal(err)
			}
			cl.Quit()
			ents, _ := List(s.Dir())
			var found *Entry
			for i := range ents {
				if ents[i].From == c.wantFrom {
					found = &ents[i]
				}
			}
			if found == nil {
				t.Fatalf("no message from %s in %+v", c.wantFrom, ents)
			}
			var rs []string
			for _, r := range found.Rcpts {
				rs = append(rs, r.Addr)
			}
			if strings.Join(rs, ",") != c.wantRcpts || gotUID != uint32(os.Getuid()) {
				t.Fatalf("rcpts %v uid %d", rs, gotUID)
			}
			data, _ := os.ReadFile(filepath.Join(s.Dir(), found.Queue, found.ID))
			if !strings.Contains(string(data), fmt.Sprintf("from userid %d", os.Getuid())) {
				t.Fatalf("no Received: with the uid")
			}
		})
	}
}

func TestAdminHoldReleaseDeleteFlush(t *testing.T) {
	h := newHarness(t, false, nil)
	id := h.submit("s@example.org", "a@local.test")
	if err := Hold(h.s.Dir(), id); err != nil {
		t.Fatal(err)
	}
	h.d.process(id) // a held message is not delivered
	if h.where(id) != DirHold || len(h.lmtp.deliveries()) != 0 {
		t.Fatalf("held message in %q, %d deliveries", h.where(id), len(h.lmtp.deliveries()))
	}
	ents, err := List(h.s.Dir())
	if err != nil || len(ents) != 1 || ents[0].Queue != DirHold || ents[0].From != "s@example.org" {
		t.Fatalf("List = %+v, %v", ents, err)
	}
	if err := Release(h.s.Dir(), id); err != nil {
		t.Fatal(err)
	}
	// While a delivery holds the lock, admin moves fail with ErrBusy.
	l, err := lockQueueFile(h.s.path(DirActive, id))
	if err != nil {
		t.Fatal(err)
	}
	if err := Hold(h.s.Dir(), id); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hold during delivery: %v", err)
	}
	l.Close()
	// Deferred, then flushed back to active/.
	h.lmtp.setErr(h.lmtp.rcptErr, "a@local.test", &gosmtp.SMTPError{Code: 451, Message: "later"})
	h.d.process(id)
	if h.where(id) != DirDeferred {
		t.Fatalf("in %q", h.where(id))
	}
	if n, err := Flush(h.s.Dir()); err != nil || n != 1 || h.where(id) != DirActive {
		t.Fatalf("Flush = %d, %v; in %q", n, err, h.where(id))
	}
	if err := Delete(h.s.Dir(), id); err != nil || h.where(id) != "" {
		t.Fatalf("Delete: %v, in %q", err, h.where(id))
	}
	if err := Delete(h.s.Dir(), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if err := Hold(h.s.Dir(), "../../etc"); err == nil {
		t.Fatal("Hold accepted a path")
	}
}

func FuzzQualifyReader(f *testing.F) {
	f.Add([]byte("EHLO x\r\nMAIL FROM:<alice>\r\nRCPT TO:<bob> NOTIFY=NEVER\r\nDATA\r\nRCPT TO:<inbody>\r\n.\r\nQUIT\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		q := &qualifyReader{br: bufio.NewReaderSize(bytes.NewReader(in), 4096), host: "h.test"}
		out, err := io.ReadAll(q)
		if err != nil {
			t.Fatal(err)
		}
		// Only "@h.test" is ever inserted (and a rewritten line's ending becomes CRLF).
		if strings.Contains(string(in), "@h.test") {
			return
		}
		norm := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "@h.test", ""), "\r", "") }
		if norm(string(out)) != norm(string(in)) {
			t.Fatalf("in %q out %q", in, out)
		}
	})
}

// A message whose lock is held when the watcher reports it (an admin move
// still holding it) is queued again by itself, not left to the rescan.
func TestBusyMessageRequeued(t *testing.T) {
	h := newHarness(t, false, nil)
	id := h.submit("s@example.org", "a@local.test")
	l, err := lockQueueFile(h.s.path(DirActive, id))
	if err != nil {
		t.Fatal(err)
	}
	h.d.process(id) // busy: schedules a retry
	l.Close()
	select {
	case got := <-h.d.work:
		if got != id {
			t.Fatalf("requeued %q, want %q", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("busy message was not queued again")
	}
}
