package postlogin

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

const (
	fakeSPID   = 4242
	goodCookie = "0123456789abcdef0123456789abcdef"
	goodAuthID = 7
)

// startFakeMaster serves auth-master REQUESTs: the one login it knows
// (this process's pid, goodAuthID, goodCookie) gets user alice with
// fields; anything else FAIL.
func startFakeMaster(t *testing.T, path string, fields authproto.Fields) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				pc := authproto.NewConn(c)
				if pc.Write(authproto.MasterHandshake(fakeSPID)) != nil {
					return
				}
				for {
					args, err := pc.ReadLine()
					if err != nil {
						return
					}
					cmd, err := authproto.ParseMasterCommand(args)
					if err != nil || cmd.Kind != authproto.CmdRequest {
						continue
					}
					if cmd.ClientPID == os.Getpid() && cmd.AuthID == goodAuthID && cmd.Cookie == goodCookie {
						pc.Write(authproto.UserLine(cmd.ID, "alice", fields))
					} else {
						pc.Write(authproto.FailLine(cmd.ID, ""))
					}
				}
			}()
		}
	}()
}

// handoff runs one handoff of rec into srv and returns the first line the
// client reads.
func handoff(t *testing.T, srv *Server, rec *ipc.Handoff) string {
	t.Helper()
	pair := func() (*os.File, *os.File) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	}
	loginEnd, postEnd := pair()
	clientEnd, passed := pair()
	toConn := func(f *os.File) net.Conn {
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	lc, pc, cc := toConn(loginEnd).(*net.UnixConn), toConn(postEnd), toConn(clientEnd)
	defer lc.Close()
	defer cc.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Handle(context.Background(), pc, nil)
	}()
	lc.SetDeadline(time.Now().Add(10 * time.Second))
	err := ipc.SendHandoff(lc, rec, int(passed.Fd()))
	passed.Close()
	if err != nil {
		t.Fatal(err)
	}
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(cc).ReadString('\n')
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	<-done
	return strings.TrimRight(line, "\r\n")
}

func TestHandle(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "cote.conf")
	if err := os.WriteFile(conf, []byte("protocols = imap\nbase_dir = "+dir+"\nmail_location = maildir:~/Maildir\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	blocked := filepath.Join(dir, "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid := strconv.Itoa(os.Geteuid()), strconv.Itoa(os.Getegid())
	good := func() *ipc.Handoff {
		return &ipc.Handoff{SessionID: "s1", AuthPID: fakeSPID, ClientPID: os.Getpid(), AuthID: goodAuthID,
			Cookie: goodCookie, Tag: "a", Preamble: []byte("b NOOP\r\n"),
			Local: netip.MustParseAddrPort("127.0.0.1:143"), Remote: netip.MustParseAddrPort("127.0.0.1:5000")}
	}
	const refused = " Internal error occurred. Refer to server log for more information."
	tests := []struct {
		name   string
		fields authproto.Fields
		rec    func(*ipc.Handoff)
		want   string
	}{
		{"logged in", nil, nil, "a OK alice b NOOP"},
		{"uid by name", authproto.Fields{{Key: "uid", Value: userName(t), HasValue: true}}, nil, "a OK alice b NOOP"},
		{"wrong cookie", nil, func(h *ipc.Handoff) { h.Cookie = strings.Repeat("ab", 16) }, "a NO [UNAVAILABLE]" + refused},
		{"wrong auth id", nil, func(h *ipc.Handoff) { h.AuthID = 8 }, "a NO [UNAVAILABLE]" + refused},
		{"another auth server", nil, func(h *ipc.Handoff) { h.AuthPID = 1 }, "a NO [UNAVAILABLE]" + refused},
		{"record names another pid", nil, func(h *ipc.Handoff) { h.ClientPID = 1 }, "a NO [UNAVAILABLE]" + refused},
		{"userdb uid differs", authproto.Fields{{Key: "uid", Value: strconv.Itoa(os.Geteuid() + 1), HasValue: true}}, nil,
			"a NO [UNAVAILABLE]" + refused},
		{"unknown uid name", authproto.Fields{{Key: "uid", Value: "no-such-user-here", HasValue: true}}, nil,
			"a NO [UNAVAILABLE]" + refused},
		{"store cannot open", authproto.Fields{{Key: "home", Value: blocked, HasValue: true}}, nil, "a NO [SERVERBUG]" + refused},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(dir, "home", strconv.Itoa(i), "alice")
			fields := authproto.Fields{{Key: "home", Value: home, HasValue: true},
				{Key: "uid", Value: uid, HasValue: true}, {Key: "gid", Value: gid, HasValue: true}}
			for _, f := range tc.fields {
				fields = append(fieldsWithout(fields, f.Key), f)
			}
			master := filepath.Join(t.TempDir(), "auth-master")
			startFakeMaster(t, master, fields)
			srv := New(cfg, Protocol{
				Name: "imap",
				Refuse: func(c net.Conn, tag, code, text string) error {
					_, err := fmt.Fprintf(c, "%s NO [%s] %s\r\n", tag, code, text)
					return err
				},
				Serve: func(ctx context.Context, l *Login) error {
					_, err := fmt.Fprintf(l.Conn, "%s OK %s %s", l.Record.Tag, l.User.Name(), l.Record.Preamble)
					return err
				},
			}, Config{AuthMaster: master, Drivers: map[string]storage.Driver{"maildir": maildir.New(nil).Open},
				Log: zaptest.NewLogger(t)})
			t.Cleanup(srv.Close)
			rec := good()
			if tc.rec != nil {
				tc.rec(rec)
			}
			if got := handoff(t, srv, rec); got != tc.want {
				t.Errorf("client got %q, want %q", got, tc.want)
			}
		})
	}
}

func fieldsWithout(f authproto.Fields, key string) authproto.Fields {
	var out authproto.Fields
	for _, x := range f {
		if x.Key != key {
			out = append(out, x)
		}
	}
	return out
}

// userName returns the name of this process's user, for a userdb uid
// given by name.
func userName(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skip("no /etc/passwd")
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.Split(l, ":")
		if len(parts) > 2 && parts[2] == strconv.Itoa(os.Geteuid()) {
			return parts[0]
		}
	}
	t.Skip("this process's uid has no /etc/passwd entry")
	return ""
}
