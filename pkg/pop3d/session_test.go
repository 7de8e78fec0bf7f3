package pop3d

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/testkit"
)

// pipelined returns tr with every client line sent before any response
// is read (RFC 2449 PIPELINING): the responses must be the same, in order.
// The greeting line stays first.
func pipelined(tr *testkit.Transcript) *testkit.Transcript {
	out := &testkit.Transcript{Name: tr.Name + " (pipelined)"}
	var rest []testkit.Step
	for _, st := range tr.Steps {
		if st.Kind == testkit.StepSend {
			out.Steps = append(out.Steps, st)
		} else {
			rest = append(rest, st)
		}
	}
	out.Steps = append(out.Steps, rest...)
	return out
}

// TestTranscripts plays each testdata/*.tr in lockstep and pipelined
// against a fresh mailbox holding msg1..msg3, then checks what QUIT left
// in the store.
func TestTranscripts(t *testing.T) {
	after := map[string]func(t *testing.T, h *harness, uids []uint32){
		"basic.tr": func(t *testing.T, h *harness, uids []uint32) {
			// RETR 1 and RETR 3 set \Seen at QUIT; TOP does not.
			_, msgs := h.inbox(t)
			want := []bool{true, false, true}
			for i, m := range msgs {
				if got := m.Flags&storage.FlagSeen != 0; got != want[i] {
					t.Errorf("message %d \\Seen = %v, want %v", i+1, got, want[i])
				}
			}
		},
		"errors.tr": func(t *testing.T, h *harness, uids []uint32) {
			if _, msgs := h.inbox(t); len(msgs) != 3 {
				t.Errorf("%d messages left, want 3", len(msgs))
			}
		},
		"dele.tr": func(t *testing.T, h *harness, uids []uint32) {
			_, msgs := h.inbox(t)
			if len(msgs) != 2 || msgs[0].UID != uids[0] || msgs[1].UID != uids[2] {
				t.Fatalf("left %+v, want UIDs %d and %d", msgs, uids[0], uids[2])
			}
			if msgs[1].Flags&storage.FlagSeen == 0 || msgs[0].Flags&storage.FlagSeen != 0 {
				t.Errorf("flags %v %v, want only message 3 \\Seen", msgs[0].Flags, msgs[1].Flags)
			}
		},
	}
	files, err := filepath.Glob("testdata/*.tr")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		tr, err := testkit.LoadTranscript(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"lockstep", "pipelined"} {
			t.Run(filepath.Base(file)+"/"+mode, func(t *testing.T) {
				h := newHarness(t)
				uids := h.deliver(t, msg1, msg2, msg3)
				vars := h.vars(t)
				s2, _ := strconv.Atoi(vars["size2"])
				s3, _ := strconv.Atoi(vars["size3"])
				vars["total23"] = strconv.Itoa(s2 + s3)
				cli, done := h.serve(t, Config{}, nil)
				run := tr
				if mode == "pipelined" {
					run = pipelined(tr)
				}
				if err := run.Run(cli, testkit.TranscriptOptions{Vars: vars}); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatalf("Serve: %v", err)
				}
				if f := after[filepath.Base(file)]; f != nil {
					f(t, h, uids)
				}
			})
		}
	}
}

// client is a minimal POP3 client for the Go-level tests.
type client struct {
	t  testing.TB
	br *bufio.Reader
	w  io.Writer
}

func newClient(t testing.TB, rw io.ReadWriter) *client {
	c := &client{t: t, br: bufio.NewReader(rw), w: rw}
	if l := c.line(); l != "+OK Logged in." {
		t.Fatalf("greeting %q", l)
	}
	return c
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends a command and returns the status line.
func (c *client) cmd(format string, a ...any) string {
	c.t.Helper()
	fmt.Fprintf(c.w, format+"\r\n", a...)
	return c.line()
}

// multi reads the data of a multi-line response, undoing dot-stuffing,
// and returns it with its CRLFs and the raw octet count on the wire.
func (c *client) multi() (data string, wire int) {
	c.t.Helper()
	var b strings.Builder
	for {
		l := c.line()
		if l == "." {
			return b.String(), wire
		}
		wire += len(l) + 2
		l = strings.TrimPrefix(l, ".")
		b.WriteString(l + "\r\n")
	}
}

// TestRetrSizes: the octets RETR sends (before dot-stuffing) are what
// LIST and STAT announce, for LF and CRLF messages alike (RFC 1939 §11:
// the size is exact, clients compare it).
func TestRetrSizes(t *testing.T) {
	h := newHarness(t)
	msgs := []string{msg1, msg2, "a: b\n\n" + strings.Repeat("line\n", 3000), "x: y\r\n\r\n..\r\n.\r\n"}
	h.deliver(t, msgs...)
	cli, _ := h.serve(t, Config{}, nil)
	c := newClient(t, cli)
	for i, m := range msgs {
		st := c.cmd("LIST %d", i+1)
		var n, size int
		if _, err := fmt.Sscanf(st, "+OK %d %d", &n, &size); err != nil {
			t.Fatalf("LIST: %q", st)
		}
		if st := c.cmd("RETR %d", i+1); st != fmt.Sprintf("+OK %d octets", size) {
			t.Fatalf("RETR: %q", st)
		}
		data, _ := c.multi()
		if len(data) != size {
			t.Errorf("message %d: RETR sent %d octets, LIST said %d", i+1, len(data), size)
		}
		if want := strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n"); data != want {
			t.Errorf("message %d: got %q, want %q", i+1, data, want)
		}
	}
	c.cmd("QUIT")
}

// TestDisconnectDeletesNothing: without QUIT there is no UPDATE state
// (RFC 1939 §6); \Seen of a retrieved message is still recorded, as
// Dovecot does.
func TestDisconnectDeletesNothing(t *testing.T) {
	h := newHarness(t)
	h.deliver(t, msg1, msg2)
	cli, done := h.serve(t, Config{}, nil)
	c := newClient(t, cli)
	c.cmd("DELE 1")
	c.cmd("RETR 2")
	c.multi()
	cli.Close()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	_, msgs := h.inbox(t)
	if len(msgs) != 2 {
		t.Fatalf("%d messages left, want 2", len(msgs))
	}
	if msgs[0].Flags != 0 || msgs[1].Flags != storage.FlagSeen {
		t.Errorf("flags %v %v, want none and \\Seen", msgs[0].Flags, msgs[1].Flags)
	}
}

// TestConfigVariants: pop3_no_flag_updates, pop3_delete_type = flag (and
// the hiding of flagged messages), pop3_reuse_xuidl, pop3_uidl_format.
func TestConfigVariants(t *testing.T) {
	t.Run("no flag updates", func(t *testing.T) {
		h := newHarness(t)
		h.deliver(t, msg1)
		cli, _ := h.serve(t, Config{NoFlagUpdates: true}, nil)
		c := newClient(t, cli)
		c.cmd("RETR 1")
		c.multi()
		c.cmd("QUIT")
		if _, msgs := h.inbox(t); msgs[0].Flags != 0 {
			t.Errorf("flags %v, want none", msgs[0].Flags)
		}
	})
	t.Run("delete type flag", func(t *testing.T) {
		h := newHarness(t)
		uids := h.deliver(t, msg1, msg2)
		cfg, err := NewConfig(Settings{DeletedFlag: "$POP3Deleted"})
		if err != nil || cfg.DeleteType != DeleteFlag {
			t.Fatalf("NewConfig: %+v %v", cfg, err)
		}
		cli, done := h.serve(t, cfg, nil)
		c := newClient(t, cli)
		if st := c.cmd("DELE 1"); st != "+OK Marked to be deleted." {
			t.Fatal(st)
		}
		c.cmd("QUIT")
		<-done
		_, msgs := h.inbox(t)
		if len(msgs) != 2 || !hasKeyword(msgs[0].Keywords, "$POP3Deleted") {
			t.Fatalf("store: %+v", msgs)
		}
		// The next session no longer lists it.
		cli2, _ := h.serve(t, cfg, nil)
		c2 := newClient(t, cli2)
		uv, _ := h.inbox(t)
		if st := c2.cmd("UIDL"); st != "+OK" {
			t.Fatal(st)
		}
		data, _ := c2.multi()
		if want := "1 " + hex8(uids[1]) + hex8(uv) + "\r\n"; data != want {
			t.Errorf("UIDL %q, want %q", data, want)
		}
		c2.cmd("QUIT")
	})
	t.Run("reuse xuidl and format", func(t *testing.T) {
		h := newHarness(t)
		uids := h.deliver(t, msg1, msg2, "X-UIDL: has space\r\n\r\nx\r\n")
		cfg, err := NewConfig(Settings{ReuseXUIDL: true, UIDLFormat: "%v.%u"})
		if err != nil {
			t.Fatal(err)
		}
		cli, _ := h.serve(t, cfg, nil)
		c := newClient(t, cli)
		uv, _ := h.inbox(t)
		c.cmd("UIDL")
		data, _ := c.multi()
		want := fmt.Sprintf("1 legacy-1\r\n2 %d.%d\r\n3 %d.%d\r\n", uv, uids[1], uv, uids[2])
		if data != want {
			t.Errorf("UIDL %q, want %q", data, want)
		}
		c.cmd("QUIT")
	})
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		s       Settings
		wantErr string
		uidl    string // expansion for uidvalidity 0x5f00aa01, uid 26
	}{
		{"defaults", Settings{}, "", "0000001a5f00aa01"},
		{"dovecot default written out", Settings{UIDLFormat: "%08Xu%08Xv", DeleteType: "default"}, "", "0000001a5f00aa01"},
		{"decimal", Settings{UIDLFormat: "%u-%v"}, "", "26-1593879041"},
		{"literal percent", Settings{UIDLFormat: "%%%u"}, "", "%26"},
		{"expunge", Settings{DeleteType: "expunge", DeletedFlag: "$X"}, "", "0000001a5f00aa01"},
		{"no uid", Settings{UIDLFormat: "%v"}, "must contain %u, %f or %g", ""},
		{"md5", Settings{UIDLFormat: "%u%m"}, "%m", ""},
		{"filename", Settings{UIDLFormat: "%f"}, "", "1700000001.M1P1.host,S=5"},
		{"guid", Settings{UIDLFormat: "%g"}, "", "guid-26"},
		{"mixed", Settings{UIDLFormat: "%Lf-%u-%08Xv-%g"}, "", "1700000001.m1p1.host,s=5-26-5f00aa01-guid-26"},
		{"unknown", Settings{UIDLFormat: "%u%z"}, "unknown variable %z", ""},
		{"trailing", Settings{UIDLFormat: "%u%08X"}, "ends inside", ""},
		{"flag without keyword", Settings{DeleteType: "flag"}, "pop3_deleted_flag", ""},
		{"bad delete type", Settings{DeleteType: "move"}, "pop3_delete_type", ""},
		{"system flag refused", Settings{DeletedFlag: `\Deleted`}, "keyword", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := NewConfig(tc.s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.uidl.expand(0x5f00aa01, 26, storage.POP3Info{FileName: "1700000001.M1P1.host,S=5", GUID: "guid-26"})
			if err != nil || got != tc.uidl {
				t.Errorf("UIDL %q %v, want %q", got, err, tc.uidl)
			}
		})
	}
}

// TestPreamble: commands pipelined after the login command arrive in the
// handoff record and are answered after the greeting, before the socket.
func TestPreamble(t *testing.T) {
	h := newHarness(t)
	h.deliver(t, msg1)
	cli, done := h.serve(t, Config{}, []byte("STAT\r\nNOOP\r\n"))
	c := newClient(t, cli)
	if l := c.line(); !strings.HasPrefix(l, "+OK 1 ") {
		t.Fatalf("STAT: %q", l)
	}
	if l := c.line(); l != "+OK" {
		t.Fatalf("NOOP: %q", l)
	}
	if st := c.cmd("QUIT"); st != "+OK Logging out." {
		t.Fatal(st)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLockSession: a second session on a locked mailbox gets [IN-USE]
// and the lock goes with the first session.
func TestLockSession(t *testing.T) {
	h := newHarness(t)
	h.deliver(t, msg1)
	cfg := Config{SessionLock: func() (func(), error) { return LockSession(h.home) }}
	cli1, done1 := h.serve(t, cfg, nil)
	c1 := newClient(t, cli1)
	cli2, done2 := h.serve(t, cfg, nil)
	l, _ := bufio.NewReader(cli2).ReadString('\n')
	if l != "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n" {
		t.Fatalf("second session: %q", l)
	}
	if err := <-done2; !errors.Is(err, ErrLocked) {
		t.Fatalf("second Serve: %v", err)
	}
	c1.cmd("QUIT")
	<-done1
	cli3, _ := h.serve(t, cfg, nil)
	c3 := newClient(t, cli3)
	c3.cmd("QUIT")
}

// TestTooManyBadCommands: the 20th failure in a row closes the session.
func TestTooManyBadCommands(t *testing.T) {
	h := newHarness(t)
	cli, done := h.serve(t, Config{}, nil)
	c := newClient(t, cli)
	for i := 0; i < maxBadCommands-1; i++ {
		c.cmd("BAD")
	}
	if st := c.cmd("NOOP"); st != "+OK" {
		t.Fatal(st)
	}
	for i := 0; i < maxBadCommands-1; i++ {
		c.cmd("RETR 1")
	}
	if st := c.cmd("RETR 1"); st != "-ERR There's no message 1." {
		t.Fatal(st)
	}
	if l := c.line(); l != "-ERR Too many bad commands." {
		t.Fatal(l)
	}
	if err := <-done; !errors.Is(err, errTooBad) {
		t.Fatalf("Serve: %v", err)
	}
}

// TestAutologout: an idle client is told and disconnected.
func TestAutologout(t *testing.T) {
	h := newHarness(t)
	cli, done := h.serve(t, Config{Timeout: 50 * time.Millisecond}, nil)
	c := newClient(t, cli)
	if l := c.line(); l != "-ERR Disconnected for inactivity." {
		t.Fatal(l)
	}
	if err := <-done; !errors.Is(err, errTimeout) {
		t.Fatalf("Serve: %v", err)
	}
}

// TestNewMailNotListed: mail delivered during the session appears in the
// next one only.
func TestNewMailNotListed(t *testing.T) {
	h := newHarness(t)
	h.deliver(t, msg1)
	cli, _ := h.serve(t, Config{}, nil)
	c := newClient(t, cli)
	h.deliver(t, msg2)
	if st := c.cmd("STAT"); !strings.HasPrefix(st, "+OK 1 ") {
		t.Fatal(st)
	}
	if st := c.cmd("QUIT"); st != "+OK Logging out." {
		t.Fatal(st)
	}
	cli2, _ := h.serve(t, Config{}, nil)
	c2 := newClient(t, cli2)
	if st := c2.cmd("STAT"); !strings.HasPrefix(st, "+OK 2 ") {
		t.Fatal(st)
	}
	c2.cmd("QUIT")
}

// TestConcurrentExpunge: a message another session expunged after login
// answers -ERR on RETR; QUIT still deletes the others.
func TestConcurrentExpunge(t *testing.T) {
	h := newHarness(t)
	uids := h.deliver(t, msg1, msg2, msg3)
	cli, done := h.serve(t, Config{}, nil)
	c := newClient(t, cli)
	u := h.openUser(t)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Store(uids[:1], storage.StoreAdd, storage.FlagDeleted, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Expunge(uids[:1]); err != nil {
		t.Fatal(err)
	}
	mb.Close()
	u.Close()
	if st := c.cmd("RETR 1"); st != "-ERR Message 1 was expunged by another session." {
		t.Fatal(st)
	}
	c.cmd("DELE 1")
	c.cmd("DELE 2")
	if st := c.cmd("QUIT"); st != "+OK Logging out, messages deleted." {
		t.Fatal(st)
	}
	<-done
	if _, msgs := h.inbox(t); len(msgs) != 1 || msgs[0].UID != uids[2] {
		t.Fatalf("left %+v, want only UID %d", msgs, uids[2])
	}
}
