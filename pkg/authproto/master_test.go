package authproto

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func dialMaster(t *testing.T, path string) *Master {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := DialMaster(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMasterClient(t *testing.T) {
	path := fakeServer(t, func(c *Conn) {
		if !expect(t, c, "VERSION\t1\t0") {
			return
		}
		c.Write(MasterHandshake(777))
		expect(t, c, "REQUEST\t1\t4321\t9\t"+testCookie)
		c.Write(UserLine(1, "bob", Fields{{Key: "uid", Value: "1000", HasValue: true}, {Key: "home", Value: "/home/b\tob", HasValue: true}}))
		expect(t, c, "USER\t2\tnobody\tservice=lmtp")
		c.Write(NotFoundLine(2))
		expect(t, c, "USER\t3\tbob\tservice=imap\trip=192.0.2.1")
		c.Write(FailLine(3, "userdb down"))
		expect(t, c, "PASS\t4\tbob\tservice=imap")
		c.Write(PassLine(4, Fields{{Key: "nologin"}, {Key: "reason", Value: "moved", HasValue: true}}))
		expect(t, c, "LIST\t5\tuser=b*")
		c.Write(append(append(append(ListLine(5, "bob"), ListLine(5, "bea")...), ListLine(5, "bert")...), DoneLine(5)...))
		expect(t, c, "LIST\t6")
		c.Write(FailLine(6, ""))
	})
	m := dialMaster(t, path)
	if m.ServerPID() != 777 {
		t.Fatalf("SPID = %d", m.ServerPID())
	}
	ctx := context.Background()
	user, f, err := m.Request(ctx, 4321, 9, testCookie)
	if err != nil || user != "bob" {
		t.Fatalf("Request = %q %v %v", user, f, err)
	}
	if home, _ := f.Get("home"); home != "/home/b\tob" {
		t.Fatalf("home = %q", home)
	}
	if _, _, err := m.User(ctx, "nobody", "lmtp", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("User(nobody) = %v", err)
	}
	_, _, err = m.User(ctx, "bob", "imap", Fields{{Key: "rip", Value: "192.0.2.1", HasValue: true}})
	var fe *FailError
	if !errors.As(err, &fe) || fe.Reason != "userdb down" {
		t.Fatalf("User(bob) = %v", err)
	}
	pf, err := m.Pass(ctx, "bob", "imap", nil)
	if err != nil || !pf.Has("nologin") {
		t.Fatalf("Pass = %v %v", pf, err)
	}
	var users []string
	if err := m.List(ctx, "b*", func(u string) error { users = append(users, u); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(users, []string{"bob", "bea", "bert"}) {
		t.Fatalf("List = %v", users)
	}
	if err := m.List(ctx, "", func(string) error { return nil }); !errors.As(err, &fe) {
		t.Fatalf("List failure = %v", err)
	}
	if _, _, err := m.Request(ctx, 1, 1, "not-a-cookie"); err == nil {
		t.Fatal("bad cookie accepted")
	}
}

func TestMasterListStop(t *testing.T) {
	path := fakeServer(t, func(c *Conn) {
		if !expect(t, c, "VERSION\t1\t0") {
			return
		}
		c.Write(MasterHandshake(1))
		expect(t, c, "LIST\t1")
		var b []byte
		for _, u := range []string{"a", "b", "c"} {
			b = append(b, ListLine(1, u)...)
		}
		c.Write(append(b, DoneLine(1)...))
		expect(t, c, "USER\t2\tz")
		c.Write(UserLine(2, "z", nil))
	})
	m := dialMaster(t, path)
	stop := errors.New("stop")
	n := 0
	err := m.List(context.Background(), "", func(string) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("List = %v after %d", err, n)
	}
	// The rest of the LIST answer is dropped; the connection still works.
	if u, _, err := m.User(context.Background(), "z", "", nil); err != nil || u != "z" {
		t.Fatalf("User after stopped LIST = %q %v", u, err)
	}
}

func TestMasterBroken(t *testing.T) {
	tests := []struct{ name, greeting, reply string }{
		{"version", "VERSION\t2\t0\nSPID\t1\n", ""},
		{"no spid", "VERSION\t1\t0\n" + strings.Repeat("X\n", masterHandshakeLines), ""},
		{"garbage reply", "VERSION\t1\t0\nSPID\t1\n", "HUH\t1\n"},
		{"user without name", "VERSION\t1\t0\nSPID\t1\n", "USER\t1\n"},
		{"wrong kind", "VERSION\t1\t0\nSPID\t1\n", "DONE\t1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fakeServer(t, func(c *Conn) {
				c.ReadLine()
				send(t, c, tt.greeting)
				if tt.reply != "" {
					c.ReadLine()
					send(t, c, tt.reply)
				}
			})
			ctx := context.Background()
			m, err := DialMaster(ctx, path)
			if tt.reply == "" {
				if err == nil {
					m.Close()
					t.Fatal("bad handshake accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, _, err := m.User(ctx, "x", "", nil); err == nil {
				t.Fatal("bad reply accepted")
			}
		})
	}
}

func TestParseMasterCommand(t *testing.T) {
	tests := []struct {
		name string
		line string
		want *MasterCommand
		err  error
	}{
		{"version", "VERSION\t1\t0", &MasterCommand{Kind: CmdVersion, Major: 1}, nil},
		{"version 2", "VERSION\t2\t0", nil, ErrVersion},
		{"cpid", "CPID\t12", &MasterCommand{Kind: CmdCPID, PID: 12}, nil},
		{"request", "REQUEST\t1\t4321\t9\t" + testCookie, &MasterCommand{Kind: CmdRequest, ID: 1, ClientPID: 4321, AuthID: 9, Cookie: testCookie}, nil},
		{"request fields", "REQUEST\t1\t4321\t9\t" + testCookie + "\tsession_pid=5", &MasterCommand{Kind: CmdRequest, ID: 1, ClientPID: 4321, AuthID: 9, Cookie: testCookie, Fields: Fields{{"session_pid", "5", true}}}, nil},
		{"request bad cookie", "REQUEST\t1\t4321\t9\tzz", nil, ErrMalformed},
		{"request short", "REQUEST\t1\t4321\t9", nil, ErrMalformed},
		{"request bad pid", "REQUEST\t1\tx\t9\t" + testCookie, nil, ErrMalformed},
		{"request auth id 0", "REQUEST\t1\t5\t0\t" + testCookie, nil, ErrMalformed},
		{"user", "USER\t3\tbob\tservice=imap", &MasterCommand{Kind: CmdUser, ID: 3, User: "bob", Fields: Fields{{"service", "imap", true}}}, nil},
		{"user empty", "USER\t3\t", nil, ErrMalformed},
		{"pass", "PASS\t3\tbob", &MasterCommand{Kind: CmdPass, ID: 3, User: "bob"}, nil},
		{"list", "LIST\t4", &MasterCommand{Kind: CmdList, ID: 4}, nil},
		{"list mask", "LIST\t4\tuser=*@example.com", &MasterCommand{Kind: CmdList, ID: 4, User: "*@example.com", Fields: Fields{{"user", "*@example.com", true}}}, nil},
		{"list no id", "LIST", nil, ErrMalformed},
		{"unknown", "AUTH\t1\tPLAIN", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := ParseLine([]byte(tt.line))
			var got *MasterCommand
			if err == nil {
				got, err = ParseMasterCommand(args)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if tt.err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
