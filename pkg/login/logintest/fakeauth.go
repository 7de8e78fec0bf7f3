// Package logintest is the fake auth service the login protocols' tests
// (imaplogin, pop3login) share: an auth-client server written from the
// protocol description with a fixed user table. Only tests import it.
package logintest

import (
	"bytes"
	"crypto/md5"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
)

// FakeAuth is an auth-client server written from the protocol
// description, with a fixed user table: demo/secret authenticates;
// "tempfail" fails with temp; "disabled" fails with nologin and a reason.
// It implements PLAIN, LOGIN and APOP (password "secret" for demo, and the
// challenge must be the one in the cote_apop_challenge field) itself and fails every other mechanism
// after recording the request, so tests can check the fields sent.
type FakeAuth struct {
	Path  string
	mechs []authproto.Mech

	mu       sync.Mutex // guards requests, ln, conns
	requests []authproto.Request
	ln       net.Listener
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

var DefaultFakeMechs = []authproto.Mech{{Name: "PLAIN", Plaintext: true}, {Name: "LOGIN", Plaintext: true}, {Name: "APOP", Private: true}}

// StartFakeAuth listens on path (created in a temp dir when "").
func StartFakeAuth(t testing.TB, path string, mechs []authproto.Mech) *FakeAuth {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "auth-client")
	}
	if mechs == nil {
		mechs = DefaultFakeMechs
	}
	fa := &FakeAuth{Path: path, mechs: mechs, conns: map[net.Conn]bool{}}
	fa.Listen(t)
	t.Cleanup(fa.Stop)
	return fa
}

// Listen (again) accepts on Path, as a restarted auth service does.
func (fa *FakeAuth) Listen(t testing.TB) {
	t.Helper()
	os.Remove(fa.Path)
	ln, err := net.Listen("unix", fa.Path)
	if err != nil {
		t.Fatal(err)
	}
	fa.mu.Lock()
	fa.ln = ln
	fa.mu.Unlock()
	fa.wg.Add(1)
	go func() {
		defer fa.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fa.mu.Lock()
			fa.conns[c] = true
			fa.mu.Unlock()
			fa.wg.Add(1)
			go func() {
				defer fa.wg.Done()
				fa.serve(c)
				fa.mu.Lock()
				delete(fa.conns, c)
				fa.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

// Stop closes the listener and every connection, as an auth exit does.
func (fa *FakeAuth) Stop() {
	fa.mu.Lock()
	if fa.ln != nil {
		fa.ln.Close()
		fa.ln = nil
	}
	for c := range fa.conns {
		c.Close()
	}
	fa.mu.Unlock()
	fa.wg.Wait()
}

// Last returns the most recent authentication request received.
func (fa *FakeAuth) Last() authproto.Request {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if len(fa.requests) == 0 {
		return authproto.Request{}
	}
	return fa.requests[len(fa.requests)-1]
}

type fakeExchange struct {
	mech  string
	apop  string // the cote_apop_challenge field
	step  int
	login string // LOGIN: the user name of step 1
}

func (fa *FakeAuth) serve(c net.Conn) {
	pc := authproto.NewConn(c)
	for i := 0; i < 2; i++ { // VERSION, CPID
		args, err := pc.ReadLine()
		if err != nil {
			return
		}
		if _, err := authproto.ParseClientCommand(args); err != nil {
			return
		}
	}
	hs := authproto.Handshake{Mechs: fa.mechs, SPID: 4242, CUID: 1, Cookie: "0123456789abcdef0123456789abcdef"}
	if err := authproto.WriteClientHandshake(c, hs); err != nil {
		return
	}
	pending := map[uint32]*fakeExchange{}
	for {
		args, err := pc.ReadLine()
		if err != nil {
			return
		}
		cmd, err := authproto.ParseClientCommand(args)
		if err != nil {
			return
		}
		var r authproto.Reply
		switch cmd.Kind {
		case authproto.CmdAuth:
			fa.mu.Lock()
			fa.requests = append(fa.requests, *cmd.Auth)
			fa.mu.Unlock()
			ex := &fakeExchange{mech: cmd.Auth.Mech}
			ex.apop, _ = cmd.Auth.Extra.Get("cote_apop_challenge")
			pending[cmd.ID] = ex
			r = ex.next(cmd.Auth.InitialResponse, cmd.Auth.InitialResponse != nil)
		case authproto.CmdCont:
			ex := pending[cmd.ID]
			if ex == nil {
				return
			}
			r = ex.next(cmd.Data, true)
		case authproto.CmdCancel:
			delete(pending, cmd.ID)
			continue
		default:
			return
		}
		if r.Kind != authproto.KindCont {
			delete(pending, cmd.ID)
		}
		if err := pc.Write(r.Line(cmd.ID)); err != nil {
			return
		}
	}
}

func (ex *fakeExchange) next(resp []byte, have bool) authproto.Reply {
	fail := authproto.Reply{Kind: authproto.KindFail}
	switch ex.mech {
	case "PLAIN":
		if !have {
			return authproto.Reply{Kind: authproto.KindCont, Data: []byte{}}
		}
		parts := bytes.Split(resp, []byte{0})
		if len(parts) != 3 {
			return fail
		}
		return check(string(parts[1]), string(parts[2]))
	case "LOGIN":
		ex.step++
		switch ex.step {
		case 1:
			if have && len(resp) > 0 { // LOGIN takes no initial response
				return fail
			}
			return authproto.Reply{Kind: authproto.KindCont, Data: []byte("Username:")}
		case 2:
			ex.login = string(resp)
			return authproto.Reply{Kind: authproto.KindCont, Data: []byte("Password:")}
		default:
			return check(ex.login, string(resp))
		}
	case "APOP":
		parts := bytes.SplitN(resp, []byte{0}, 3)
		if len(parts) != 3 || string(parts[0]) != ex.apop {
			return fail
		}
		want := md5.Sum([]byte(ex.apop + "secret"))
		if string(parts[1]) == "demo" && bytes.Equal(parts[2], want[:]) {
			return authproto.Reply{Kind: authproto.KindOK, User: "demo"}
		}
		return fail
	case "SCRAM-SHA-1":
		// Not SCRAM: "ok" succeeds with success data, as SCRAM's
		// server-final message arrives on OK.
		if string(resp) == "ok" {
			return authproto.Reply{Kind: authproto.KindOK, User: "demo", Data: []byte("v=final")}
		}
	}
	return fail
}

func check(user, pass string) authproto.Reply {
	switch {
	case user == "demo" && pass == "secret":
		return authproto.Reply{Kind: authproto.KindOK, User: "demo"}
	case user == "tempfail":
		return authproto.Reply{Kind: authproto.KindFail, Temp: true}
	case user == "disabled":
		return authproto.Reply{Kind: authproto.KindFail, NoLogin: true, Reason: "Account suspended."}
	}
	return authproto.Reply{Kind: authproto.KindFail}
}
