package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/xdg-go/scram"
)

// serveAuthClient is a minimal auth-client server: the handshake, then AUTH
// and CONT driven through the registry. It exists to prove the two packages
// fit over a real socket (channel binding in cote_cbind*, success data in
// OK resp=); pkg/auth holds the real server.
func serveAuthClient(t *testing.T, b Backend) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth-client")
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
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		c := authproto.NewConn(conn)
		var mechs []authproto.Mech
		for _, n := range Names() {
			mechs = append(mechs, Lookup(n).Flags)
		}
		if err := authproto.WriteClientHandshake(conn, authproto.Handshake{Mechs: mechs, SPID: os.Getpid(), CUID: 1, Cookie: "0123456789abcdef0123456789abcdef"}); err != nil {
			return
		}
		sessions := map[uint32]*Session{}
		for {
			args, err := c.ReadLine()
			if err != nil {
				return
			}
			cmd, err := authproto.ParseClientCommand(args)
			if err != nil {
				t.Errorf("server: %v", err)
				return
			}
			var s *Session
			var resp []byte
			switch cmd.Kind {
			case authproto.CmdAuth:
				m := Lookup(cmd.Auth.Mech)
				if m == nil {
					c.Write(authproto.Reply{Kind: authproto.KindFail}.Line(cmd.ID))
					continue
				}
				s = m.New(context.Background(), b, RequestFrom(cmd.Auth))
				sessions[cmd.ID] = s
				resp = cmd.Auth.InitialResponse
			case authproto.CmdCont:
				s = sessions[cmd.ID]
				resp = cmd.Data
			default:
				continue
			}
			ch, done, err := s.Next(resp)
			switch {
			case err != nil:
				delete(sessions, cmd.ID)
				c.Write(authproto.Reply{Kind: authproto.KindFail, Temp: errors.Is(err, ErrTempFail)}.Line(cmd.ID))
			case done:
				delete(sessions, cmd.ID)
				c.Write(authproto.Reply{Kind: authproto.KindOK, User: s.Result().User, Data: ch}.Line(cmd.ID))
			default:
				c.Write(authproto.Reply{Kind: authproto.KindCont, Data: ch}.Line(cmd.ID))
			}
		}
	}()
	return path
}

func TestOverTheWire(t *testing.T) {
	path := serveAuthClient(t, newBackend())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := authproto.DialClient(ctx, path, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Mechanisms()) != len(Names()) {
		t.Fatalf("offered %d mechanisms", len(c.Mechanisms()))
	}
	clientState, serverState := tlsPair(t)
	exporter, _ := scram.NewTLSExporterBinding(&clientState)
	serverCB, err := serverState.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}

	run := func(t *testing.T, r authproto.Request, answer func([]byte) ([]byte, error)) authproto.Reply {
		t.Helper()
		e, err := c.Start(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rep, err := e.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != authproto.KindCont {
				return rep
			}
			out, err := answer(rep.Data)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Continue(out); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("PLAIN", func(t *testing.T) {
		rep := run(t, authproto.Request{Mech: "PLAIN", Service: "imap", InitialResponse: []byte("\x00bob\x00secret")}, fixed())
		if rep.Kind != authproto.KindOK || rep.User != "bob" {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("LOGIN wrong password", func(t *testing.T) {
		rep := run(t, authproto.Request{Mech: "LOGIN", Service: "smtp"}, fixed("bob", "wrong"))
		if rep.Kind != authproto.KindFail {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("CRAM-MD5", func(t *testing.T) {
		rep := run(t, authproto.Request{Mech: "CRAM-MD5", Service: "imap"}, func(ch []byte) ([]byte, error) {
			m := hmac.New(md5.New, []byte("secret"))
			m.Write(ch)
			return []byte("bob " + hex.EncodeToString(m.Sum(nil))), nil
		})
		if rep.Kind != authproto.KindOK || rep.User != "bob" {
			t.Fatalf("%+v", rep)
		}
	})
	for _, tt := range []struct {
		name string
		cb   []byte
		ok   bool
	}{{"SCRAM-SHA-256-PLUS", serverCB, true}, {"SCRAM-SHA-256-PLUS mismatched", []byte("another connection's binding data"), false}} {
		t.Run(tt.name, func(t *testing.T) {
			first, next, conv := scramClient(t, "SCRAM-SHA-256-PLUS", "bob", "secret", "", &exporter)
			rep := run(t, authproto.Request{Mech: "SCRAM-SHA-256-PLUS", Service: "imap", Secured: true,
				CBindType: "tls-exporter", CBind: tt.cb, InitialResponse: first}, next)
			if (rep.Kind == authproto.KindOK) != tt.ok {
				t.Fatalf("%+v", rep)
			}
			if tt.ok {
				// The server-final message arrived as OK resp=.
				if _, err := conv.Step(string(rep.Data)); err != nil || !conv.Valid() {
					t.Fatalf("server-final %q: %v", rep.Data, err)
				}
			}
		})
	}
}
