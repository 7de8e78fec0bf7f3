package pop3d

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// Test messages: bare LF line ends (RETR must send CRLF and LIST must
// count them), a line starting with "." (stuffed), an X-UIDL header.
const (
	msg1 = "Subject: one\nX-UIDL: legacy-1\n\nhello\n.dot line\n"
	msg2 = "Subject: two\r\nFrom: a@example.org\r\n\r\nbody 1\r\nbody 2\r\nbody 3\r\n"
	msg3 = "Subject: three\r\n\r\nno final line break"
)

var testDate = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// harness is one user's Maildir with a driver, as a pop3 process has.
type harness struct {
	home   string
	driver *maildir.Driver
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{home: t.TempDir(), driver: maildir.New(nil)}
	t.Cleanup(func() { h.driver.Close() })
	return h
}

func (h *harness) openUser(t testing.TB) *storage.User {
	t.Helper()
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: h.home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": h.driver.Open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// deliver saves msgs into INBOX and returns their UIDs.
func (h *harness) deliver(t testing.TB, msgs ...string) []uint32 {
	t.Helper()
	u := h.openUser(t)
	defer u.Close()
	mb, err := u.OpenSave("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := sv.Append(strings.NewReader(m), storage.AppendOptions{InternalDate: testDate}); err != nil {
			t.Fatal(err)
		}
	}
	_, uids, err := sv.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return uids
}

// inbox returns the INBOX messages as the store now has them.
func (h *harness) inbox(t testing.TB) (uint32, []storage.Message) {
	t.Helper()
	u := h.openUser(t)
	defer u.Close()
	mb, err := u.Open("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var out []storage.Message
	if err := mb.Messages(nil, func(m storage.Message) error { out = append(out, m); return nil }); err != nil {
		t.Fatal(err)
	}
	return mb.UIDValidity(), out
}

// vars are the transcript variables of the mailbox: ${uidlN}, ${sizeN}
// and ${total} (the sum of the sizes).
func (h *harness) vars(t testing.TB) map[string]string {
	uv, msgs := h.inbox(t)
	v := map[string]string{}
	var total int64
	for i, m := range msgs {
		n := strconv.Itoa(i + 1)
		v["uidl"+n] = hex8(m.UID) + hex8(uv)
		v["size"+n] = strconv.FormatInt(m.Size, 10)
		total += m.Size
	}
	v["total"] = strconv.FormatInt(total, 10)
	return v
}

func hex8(n uint32) string {
	s := strconv.FormatUint(uint64(n), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

// serve runs one session over a socketpair and returns the client end;
// the returned channel yields Serve's result. Cleanup waits for the
// session, so a leaked goroutine fails the test.
func (h *harness) serve(t testing.TB, cfg Config, preamble []byte) (*net.UnixConn, <-chan error) {
	t.Helper()
	srv, cli := socketpair(t)
	u := h.openUser(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		err := NewSession(cfg, u, srv, nil).Serve(ctx, preamble)
		srv.Close()
		u.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		cli.Close()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("session did not end")
		}
	})
	return cli, done
}

// socketpair returns two connected unix stream sockets.
func socketpair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}
