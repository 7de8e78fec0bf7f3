package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testEnv() Envelope {
	return Envelope{
		From:       "a b@example.org",
		Rcpts:      []Recipient{{Addr: "u1@example.com", ORcpt: "rfc822;U1@example.com", Notify: []string{"SUCCESS", "FAILURE"}}, {Addr: "u2@example.com"}},
		Received:   time.Unix(1700000000, 5),
		ClientAddr: "192.0.2.1",
		ClientHelo: "client.example",
		AuthUser:   "",
		RET:        "HDRS",
		EnvID:      "x%y",
		SMTPUTF8:   true,
	}
}

func TestSpoolCommitAndParse(t *testing.T) {
	s, err := OpenSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Subject: hi\r\n\r\nhello\r\n")
	w, err := s.Create(testEnv())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body[:5])
	w.Write(body[5:])
	id, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !ValidID(id) {
		t.Fatalf("bad id %q", id)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), DirIncoming)); len(ents) != 0 {
		t.Fatalf("incoming not empty: %v", ents)
	}
	data, err := os.ReadFile(s.path(DirActive, id))
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseFile(data)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	env.Received = q.Env.Received
	if q.Env.From != env.From || q.Env.EnvID != env.EnvID || q.Env.RET != "HDRS" || !q.Env.SMTPUTF8 ||
		len(q.Env.Rcpts) != 2 || q.Env.Rcpts[0].ORcpt != env.Rcpts[0].ORcpt || len(q.Env.Rcpts[0].Notify) != 2 ||
		q.Env.Rcpts[1].ORcpt != "" || !q.Env.Received.Equal(time.Unix(1700000000, 5)) {
		t.Fatalf("envelope mismatch: %+v", q.Env)
	}
	if got := data[q.BodyOffset : q.BodyOffset+q.BodySize]; !bytes.Equal(got, body) {
		t.Fatalf("body %q", got)
	}
}

// TestSpoolAbortAndRecover runs on the incoming/ fallback, the only writer that leaves files
// for Recover.
func TestSpoolAbortAndRecover(t *testing.T) {
	s, _ := OpenSpool(t.TempDir())
	s.tmpfile.Store(false)
	w, _ := s.Create(testEnv())
	w.Write([]byte("x"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	// A live writer's file survives Recover; a leftover without a lock (crash) is removed.
	live, _ := s.Create(testEnv())
	os.WriteFile(s.path(DirIncoming, "0000000000001000001"), []byte("COTEQ 1\n"), 0o600)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(s.path(DirIncoming, "0000000000001000001"), old, old)
	os.Chtimes(s.path(DirIncoming, live.ID()), old, old) // old but locked: kept
	n, err := s.Recover()
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	live.Write([]byte("body\r\n"))
	if _, err := live.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolConcurrentIDs(t *testing.T) {
	s, _ := OpenSpool(t.TempDir())
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(testEnv())
			if err != nil {
				t.Error(err)
				return
			}
			w.Write([]byte("b\r\n"))
			id, err := w.Commit()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}()
	}
	wg.Wait()
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), DirActive))
	if len(ents) != 20 || len(ids) != 20 {
		t.Fatalf("%d files, %d ids", len(ents), len(ids))
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("duplicate id %s", ids[i])
		}
	}
}

func TestParseCorrupt(t *testing.T) {
	good := string(encodeHeader(testEnv(), 3)) + "abc"
	cases := []struct {
		name string
		data string
		ok   bool
	}{
		{"good", good, true},
		{"good with records", good + "done 1 5 2.0.0 - ok\nnext 7 2\nwarned\n", true},
		{"partial record ignored", good + "done 1 5 2.0.0 - ok\ndef", true},
		{"bad magic", "COTEQ 9\n" + good[8:], false},
		{"body short", good[:len(good)-1], false},
		{"bad record", good + "done 9 5 2.0.0 - ok\n", false},
		{"unknown field", string(fileMagic) + "size 00000000000000000000\nfoo x\n\n", false},
		{"no rcpt", string(fileMagic) + "size 00000000000000000000\nfrom -\n\n", false},
		{"bad escape", good[:0] + string(fileMagic) + "size 00000000000000000000\nfrom %4\nrcpt a - -\n\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFile([]byte(c.data))
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(string(encodeHeader(testEnv(), 3)) + "abcdone 1 5 2.0.0 - ok\nnext 7 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseFile(data)
		if err != nil {
			return
		}
		// What parses must re-encode to a file that parses to the same envelope.
		body := data[q.BodyOffset : q.BodyOffset+q.BodySize]
		again, err := ParseFile(append(encodeHeader(q.Env, q.BodySize), body...))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if again.Env.From != q.Env.From || len(again.Env.Rcpts) != len(q.Env.Rcpts) {
			t.Fatalf("round trip mismatch")
		}
	})
}

// BenchmarkCommitSerial measures Create+Write+Commit one after another, as one SMTP session
// does (a tmpfile: fsync of the file with its active/ link, then of active/).
// The "incoming" case is the fallback (write in incoming/, fsync, link, fsync active/).
func BenchmarkCommitSerial(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 64)
	for _, tmp := range []bool{true, false} {
		name := map[bool]string{true: "tmpfile", false: "incoming"}[tmp]
		b.Run(name, func(b *testing.B) {
			s, _ := OpenSpool(b.TempDir())
			if !tmp {
				s.tmpfile.Store(false)
			}
			for i := 0; i < b.N; i++ {
				w, err := s.Create(testEnv())
				if err != nil {
					b.Fatal(err)
				}
				w.Write(body)
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommit measures concurrent Create+Write+Commit (concurrent callers share the
// fsyncs of active/).
func BenchmarkCommit(b *testing.B) {
	s, _ := OpenSpool(b.TempDir())
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 32)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w, err := s.Create(testEnv())
			if err != nil {
				b.Fatal(err)
			}
			w.Write(body)
			if _, err := w.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// spoolModes runs f on a spool writing tmpfiles (the default) and on one using incoming/
// (the fallback where O_TMPFILE or /proc is missing).
func spoolModes(t *testing.T, f func(t *testing.T, open func() *Spool)) {
	for _, tmp := range []bool{true, false} {
		t.Run(map[bool]string{true: "tmpfile", false: "incoming"}[tmp], func(t *testing.T) {
			f(t, func() *Spool {
				s, err := OpenSpool(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				if !tmp {
					s.tmpfile.Store(false)
				} else if !s.tmpfile.Load() {
					t.Skip("no /proc/self/fd: tmpfiles unavailable")
				}
				return s
			})
		})
	}
}

// TestSpoolUncommittedInvisible: a message being written has no name in active/ (nor, for a
// tmpfile, anywhere), Abort leaves nothing, and during Commit's fsyncs the active/ name is
// locked so the daemon (lockQueueFile) cannot deliver it before Commit returns.
func TestSpoolUncommittedInvisible(t *testing.T) {
	spoolModes(t, func(t *testing.T, open func() *Spool) {
		s := open()
		names := func(sub string) []string {
			ents, _ := os.ReadDir(filepath.Join(s.Dir(), sub))
			var n []string
			for _, e := range ents {
				n = append(n, e.Name())
			}
			return n
		}
		w, err := s.Create(testEnv())
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("aborted\r\n"))
		if a := names(DirActive); len(a) != 0 {
			t.Fatalf("uncommitted message visible in active/: %v", a)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if a, i := names(DirActive), names(DirIncoming); len(a)+len(i) != 0 {
			t.Fatalf("after Abort: active/ %v incoming/ %v", a, i)
		}
		w, _ = s.Create(testEnv())
		w.Write([]byte("committed\r\n"))
		var sawBusy bool
		s.SetFault(func(op string) error {
			if op == "link" && len(names(DirActive)) != 0 {
				t.Errorf("active/ name before the link: %v", names(DirActive))
			}
			if _, err := lockQueueFile(s.path(DirActive, w.ID())); errors.Is(err, ErrBusy) {
				sawBusy = true
			} else if err == nil && s.tmpfile.Load() {
				t.Errorf("%s: daemon could lock %s before Commit returned", op, w.ID())
			}
			return nil
		})
		id, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if s.tmpfile.Load() && !sawBusy {
			t.Fatal("the active/ name was never seen locked during Commit")
		}
		l, err := lockQueueFile(s.path(DirActive, id))
		if err != nil {
			t.Fatalf("after Commit: %v", err)
		}
		l.Close()
		if i := names(DirIncoming); len(i) != 0 {
			t.Fatalf("incoming/ after Commit: %v", i)
		}
	})
}

func TestSpoolFaultENOSPC(t *testing.T) {
	spoolModes(t, testSpoolFaultENOSPC)
}

func testSpoolFaultENOSPC(t *testing.T, open func() *Spool) {
	for _, op := range []string{"write", "sync", "link"} {
		t.Run(op, func(t *testing.T) {
			s := open()
			// A message committed before the disk fills stays.
			w, _ := s.Create(testEnv())
			w.Write([]byte("first\r\n"))
			first, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			s.SetFault(func(o string) error {
				if o == op {
					return syscall.ENOSPC
				}
				return nil
			})
			w, err = s.Create(testEnv())
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("second\r\n"))
			if _, err := w.Commit(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Commit = %v, want ENOSPC", err)
			}
			ents, _ := os.ReadDir(filepath.Join(s.Dir(), DirActive))
			if len(ents) != 1 || ents[0].Name() != first {
				t.Fatalf("active/ = %v", ents)
			}
			if ents, _ := os.ReadDir(filepath.Join(s.Dir(), DirIncoming)); len(ents) != 0 {
				t.Fatalf("incoming/ = %v", ents)
			}
		})
	}
}

// TestDaemonDeliversCommitSeenBusy: the watcher reports a tmpfile at its link, while the
// writer still holds the lock for its fsyncs; the daemon must find it busy, not deliver it,
// and deliver it through retryBusy once Commit returned (the rescan is an hour away).
func TestDaemonDeliversCommitSeenBusy(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Now = nil; c.ScanInterval = time.Hour })
	if !h.s.tmpfile.Load() {
		t.Skip("no /proc/self/fd: tmpfiles unavailable")
	}
	h.lmtp.arrived = make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.d.Run(ctx) }()
	var id string
	h.s.SetFault(func(op string) error {
		if op != "sync" {
			return nil
		}
		// Linked and locked: wait until the daemon has tried it and found it busy.
		for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(time.Millisecond) {
			h.d.mu.Lock()
			n := h.d.busy[id]
			h.d.mu.Unlock()
			if n > 0 {
				if len(h.lmtp.deliveries()) != 0 {
					t.Error("delivered before Commit returned")
				}
				return nil
			}
		}
		t.Error("the daemon never tried the linked file")
		return nil
	})
	w, err := h.s.Create(Envelope{From: "s@example.org", Rcpts: []Recipient{{Addr: "a@local.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	id = w.ID()
	io.WriteString(w, "Subject: x\r\n\r\nbody\r\n")
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.lmtp.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery after Commit")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
