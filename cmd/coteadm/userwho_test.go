package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cote-mail/cote/pkg/anvil"
	"github.com/cote-mail/cote/pkg/authproto"
)

// testConfig writes a configuration whose base_dir is a temp dir.
func testConfig(t *testing.T) (cfgPath, baseDir string) {
	t.Helper()
	dir := t.TempDir()
	baseDir = filepath.Join(dir, "run")
	if err := os.MkdirAll(baseDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "cote.conf")
	if err := os.WriteFile(cfgPath, []byte("protocols = imap\nbase_dir = "+baseDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, baseDir
}

// serveUnix runs serve for every connection on a unix socket at p until
// the test ends, and waits for the goroutines.
func serveUnix(t *testing.T, p string, serve func(c net.Conn)) {
	t.Helper()
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
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
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// fakeUserdb answers auth-userdb requests from the protocol description.
func fakeUserdb(c net.Conn) {
	pc := authproto.NewConn(c)
	if _, err := pc.ReadLine(); err != nil { // VERSION
		return
	}
	if err := pc.Write(authproto.MasterHandshake(77)); err != nil {
		return
	}
	users := []string{"alice@example.com", "bob@example.com", "carol@example.org"}
	for {
		args, err := pc.ReadLine()
		if err != nil {
			return
		}
		cmd, err := authproto.ParseMasterCommand(args)
		if err != nil {
			return
		}
		switch cmd.Kind {
		case authproto.CmdUser:
			if cmd.User != "alice@example.com" {
				pc.Write(authproto.NotFoundLine(cmd.ID))
				continue
			}
			var f authproto.Fields
			f.Add("uid", "5000")
			f.Add("gid", "5000")
			f.Add("home", "/var/vmail/example.com/alice")
			pc.Write(authproto.UserLine(cmd.ID, "alice@example.com", f))
		case authproto.CmdList:
			var b []byte
			for _, u := range users {
				if ok, _ := path.Match(cmd.User, u); cmd.User == "" || ok {
					b = append(b, authproto.ListLine(cmd.ID, u)...)
				}
			}
			pc.Write(append(b, authproto.DoneLine(cmd.ID)...))
		}
	}
}

func TestUser(t *testing.T) {
	cfgPath, base := testConfig(t)
	serveUnix(t, filepath.Join(base, "auth-userdb"), fakeUserdb)
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr bool
		noUser  bool
	}{
		{"lookup", []string{"alice@example.com"}, "field\tvalue\nuser\talice@example.com\nuid\t5000\ngid\t5000\nhome\t/var/vmail/example.com/alice\n", false, false},
		{"field", []string{"-f", "home", "alice@example.com"}, "/var/vmail/example.com/alice\n", false, false},
		{"field user", []string{"-f", "user", "alice@example.com"}, "alice@example.com\n", false, false},
		{"missing field", []string{"-f", "quota_rule", "alice@example.com"}, "", true, false},
		{"unknown user", []string{"nobody@example.com"}, "", true, true},
		{"list", []string{"-l"}, "alice@example.com\nbob@example.com\ncarol@example.org\n", false, false},
		{"list mask", []string{"-l", "*@example.com"}, "alice@example.com\nbob@example.com\n", false, false},
		{"wildcard lists", []string{"*.org"}, "carol@example.org\n", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := userCmd(&cfgPath)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs(tc.args)
			cmd.SetContext(context.Background())
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.noUser && exitStatus(err) != exitNoUser {
				t.Errorf("exit status %d, want %d (%v)", exitStatus(err), exitNoUser, err)
			}
			if out.String() != tc.want {
				t.Errorf("output\n got %q\nwant %q", out.String(), tc.want)
			}
		})
	}
}

func TestWho(t *testing.T) {
	cfgPath, base := testConfig(t)
	srv := anvil.NewServer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	serveUnix(t, filepath.Join(base, "anvil"), func(c net.Conn) { srv.ServeConn(ctx, c) })
	c, err := anvil.Dial(ctx, filepath.Join(base, "anvil"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, cn := range []struct {
		pid       int
		svc, user string
		ip        string
	}{
		{101, "imap", "alice@example.com", "192.0.2.1"},
		{101, "imap", "alice@example.com", "192.0.2.1"},
		{102, "imap", "alice@example.com", "2001:db8::7"},
		{201, "pop3", "bob@example.com", "198.51.100.3"},
	} {
		if err := c.Connect(cn.pid, cn.svc, cn.user, netip.MustParseAddr(cn.ip)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Who(ctx); err != nil { // orders the CONNECTs before the commands below
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"grouped", nil, "" +
			"username          # proto (pids)    (ips)\n" +
			"alice@example.com 3 imap  (101 102) (192.0.2.1 2001:db8::7)\n" +
			"bob@example.com   1 pop3  (201)     (198.51.100.3)\n"},
		{"user mask", []string{"bob*"}, "" +
			"username        # proto (pids) (ips)\n" +
			"bob@example.com 1 pop3  (201)  (198.51.100.3)\n"},
		{"network mask", []string{"2001:db8::/32"}, "" +
			"username          # proto (pids) (ips)\n" +
			"alice@example.com 1 imap  (102)  (2001:db8::7)\n"},
		{"one per connection", []string{"-1", "alice@example.com"}, "" +
			"username          proto pid ip\n" +
			"alice@example.com imap  101 192.0.2.1\n" +
			"alice@example.com imap  101 192.0.2.1\n" +
			"alice@example.com imap  102 2001:db8::7\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := whoCmd(&cfgPath)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs(tc.args)
			cmd.SetContext(context.Background())
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("output\n got:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
	t.Run("anvil down", func(t *testing.T) {
		cfg2, _ := testConfig(t)
		cmd := whoCmd(&cfg2)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetArgs(nil)
		cmd.SetContext(context.Background())
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.Execute()
		if err == nil || !errors.Is(err, anvil.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach the anvil service") {
			t.Errorf("err = %v", err)
		}
	})
}
