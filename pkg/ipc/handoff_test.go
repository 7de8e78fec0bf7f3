package ipc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func sampleHandoff() *Handoff {
	return &Handoff{
		SessionID: "AbCdEfGhIjKlMnOp",
		AuthPID:   4242,
		ClientPID: 777,
		AuthID:    19,
		Cookie:    strings.Repeat("0f", 16),
		Local:     netip.MustParseAddrPort("127.0.0.1:143"),
		Remote:    netip.MustParseAddrPort("[2001:db8::1]:50000"),
		TLS:       true,
		Tag:       "a1",
		Preamble:  []byte("b SELECT INBOX\r\nc LOGOUT\r\n"),
	}
}

func TestHandoffRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    *Handoff
	}{
		{"full", sampleHandoff()},
		{"empty", &Handoff{}},
		{"no preamble, no TLS", &Handoff{SessionID: "s", AuthPID: 1, ClientPID: 2, AuthID: 3, Cookie: "c", Tag: "t"}},
		{"largest", &Handoff{Tag: strings.Repeat("t", MaxHandoffField), Preamble: bytes.Repeat([]byte("x"), MaxHandoffPreamble),
			AuthPID: 1<<32 - 1, ClientPID: 1<<32 - 1, AuthID: 1<<32 - 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.h.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseHandoff(b[4:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.h) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.h)
			}
		})
	}
}

func TestHandoffMarshalLimits(t *testing.T) {
	tests := []struct {
		name string
		h    *Handoff
	}{
		{"tag too long", &Handoff{Tag: strings.Repeat("t", MaxHandoffField+1)}},
		{"cookie too long", &Handoff{Cookie: strings.Repeat("c", MaxHandoffField+1)}},
		{"preamble too long", &Handoff{Preamble: make([]byte, MaxHandoffPreamble+1)}},
		{"negative pid", &Handoff{AuthPID: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.h.MarshalBinary(); err == nil {
				t.Error("MarshalBinary accepted the record")
			}
		})
	}
}

func TestParseHandoffMalformed(t *testing.T) {
	good, err := sampleHandoff().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	body := good[4:]
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), body...)) }
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"short", body[:10]},
		{"version", mod(func(b []byte) []byte { b[0] = 2; return b })},
		{"flags", mod(func(b []byte) []byte { b[1] = 0x80; return b })},
		{"truncated", body[:len(body)-1]},
		{"trailing", append(append([]byte(nil), body...), 'x')},
		{"field length beyond", mod(func(b []byte) []byte { b[14], b[15] = 0xff, 0xff; return b })},
		{"bad address", badAddrBody("local")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseHandoff(tc.body); !errors.Is(err, ErrHandoff) {
				t.Errorf("ParseHandoff = %v, want ErrHandoff", err)
			}
		})
	}
}

// badAddrBody builds a body whose named address field holds text that is
// not an address (MarshalBinary only writes valid ones).
func badAddrBody(field string) []byte {
	b := []byte{HandoffVersion, 0}
	b = append(b, make([]byte, 12)...)
	for _, name := range []string{"session", "cookie", "local", "remote", "tag"} {
		v := ""
		if name == field {
			v = "not-an-address"
		}
		b = append(b, byte(len(v)>>8), byte(len(v)))
		b = append(b, v...)
	}
	return append(b, 0, 0, 0, 0)
}

// unixPair returns the two ends of a unix stream socketpair.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conv(fds[0]), conv(fds[1])
}

func TestHandoffSendReceive(t *testing.T) {
	long := sampleHandoff()
	long.Preamble = bytes.Repeat([]byte("y"), MaxHandoffPreamble)
	tests := []struct {
		name string
		h    *Handoff
	}{
		{"small", sampleHandoff()},
		{"largest preamble", long},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			login, post := unixPair(t)
			deadline := time.Now().Add(10 * time.Second)
			login.SetDeadline(deadline)
			post.SetDeadline(deadline)
			// The descriptor handed over: one end of a pipe, so the test
			// can prove it arrived by writing through it.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			type result struct {
				h   *Handoff
				f   *os.File
				err error
			}
			done := make(chan result, 1)
			go func() {
				h, f, err := ReceiveHandoff(post)
				done <- result{h, f, err}
			}()
			if err := SendHandoff(login, tc.h, int(w.Fd())); err != nil {
				t.Fatal(err)
			}
			w.Close()
			res := <-done
			if res.err != nil {
				t.Fatal(res.err)
			}
			defer res.f.Close()
			if !reflect.DeepEqual(res.h, tc.h) {
				t.Errorf("received %+v, want %+v", res.h, tc.h)
			}
			if _, err := res.f.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			res.f.Close()
			got, err := io.ReadAll(r)
			if err != nil || string(got) != "hello" {
				t.Errorf("through the passed descriptor: %q, %v", got, err)
			}
		})
	}
}

func TestReceiveHandoffRefuses(t *testing.T) {
	good, err := sampleHandoff().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		data  []byte
		nfds  int
		close bool
	}{
		{"no descriptor", good, 0, true},
		{"two descriptors", good, 2, true},
		{"oversized length", []byte{0xff, 0xff, 0xff, 0xff}, 1, true},
		{"garbage record", append([]byte{0, 0, 0, 3}, 9, 9, 9), 1, true},
		{"eof mid-record", good[:20], 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			login, post := unixPair(t)
			post.SetDeadline(time.Now().Add(10 * time.Second))
			var fds []int
			for i := 0; i < tc.nfds; i++ {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				defer w.Close()
				fds = append(fds, int(w.Fd()))
			}
			var oob []byte
			if len(fds) > 0 {
				oob = unix.UnixRights(fds...)
			}
			if _, _, err := login.WriteMsgUnix(tc.data, oob, nil); err != nil {
				t.Fatal(err)
			}
			if tc.close {
				login.CloseWrite()
			}
			if _, f, err := ReceiveHandoff(post); err == nil {
				f.Close()
				t.Fatal("ReceiveHandoff accepted the record")
			}
		})
	}
}

func TestPeerPID(t *testing.T) {
	a, _ := unixPair(t)
	pid, err := PeerPID(a)
	if err != nil {
		t.Fatal(err)
	}
	if pid != os.Getpid() {
		t.Errorf("PeerPID = %d, want %d", pid, os.Getpid())
	}
}

func FuzzParseHandoff(f *testing.F) {
	good, _ := sampleHandoff().MarshalBinary()
	f.Add(good[4:])
	f.Add([]byte{HandoffVersion, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := ParseHandoff(body)
		if err != nil {
			return
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed record does not marshal: %v", err)
		}
		h2, err := ParseHandoff(b[4:])
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip: %+v %v", h2, err)
		}
	})
}
