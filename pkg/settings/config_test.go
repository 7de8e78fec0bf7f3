package settings

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConf writes files (name -> content) into a temp dir and loads
// cote.conf from it.
func writeConf(t *testing.T, files map[string]string) *Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(filepath.Join(dir, "cote.conf"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestProtocolOverride(t *testing.T) {
	c := writeConf(t, map[string]string{"cote.conf": `
login_greeting = root
ssl = required
protocol imap {
  login_greeting = imap
}
protocol !imap {
  ssl = no
}
protocol "pop3 lmtp" {
  login_greeting = pop3 or lmtp
}
`})
	for _, tc := range []struct{ name, proto, greeting, ssl string }{
		{"imap", "imap", "imap", "required"},
		{"pop3", "pop3", "pop3 or lmtp", "no"},
		{"lmtp", "lmtp", "pop3 or lmtp", "no"},
		{"smtp", "smtp", "root", "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.Protocol(tc.proto)
			if p.Kind != "" {
				t.Errorf("Kind = %q", p.Kind)
			}
			if got := p.Get("login_greeting"); got != tc.greeting {
				t.Errorf("login_greeting = %q, want %q", got, tc.greeting)
			}
			if got := p.Get("ssl"); got != tc.ssl {
				t.Errorf("ssl = %q, want %q", got, tc.ssl)
			}
			if got := p.Get("base_dir"); got != "/run/cote" {
				t.Errorf("default base_dir = %q", got)
			}
		})
	}
	if got := c.Root.Get("login_greeting"); got != "root" {
		t.Errorf("root changed: %q", got)
	}
}

// TestMergeSections: same-kind same-name sections merge, later values win,
// as a dev config overriding the shipped tree relies on.
func TestMergeSections(t *testing.T) {
	c := writeConf(t, map[string]string{
		"cote.conf": "protocols = imap\n!include conf.d/*.conf\nservice imap-login {\n  inet_listener imap {\n    port = 10143\n    address = 127.0.0.1\n  }\n}\n",
		"conf.d/10-master.conf": `service imap-login {
  inet_listener imap {
    port = 143
    reuse_port = yes
  }
  inet_listener imaps {
    port = 993
  }
  client_limit = 50
}
namespace inbox {
  mailbox Sent {
    special_use = \Sent
  }
}
`,
		"conf.d/15-mailboxes.conf": "namespace inbox {\n  inbox = yes\n  mailbox Sent {\n    auto = subscribe\n  }\n}\npassdb {\n  driver = pam\n}\npassdb {\n  driver = passwd\n}\n",
	})
	if n := len(c.Root.Children(KindService)); n != 1 {
		t.Fatalf("%d service sections, want 1 merged", n)
	}
	s := serviceNamed(t, c, "imap-login")
	if s.ClientLimit != 50 {
		t.Errorf("ClientLimit = %d", s.ClientLimit)
	}
	imap := s.Inet[0]
	if imap.Name != "imap" || imap.Port != 10143 || !imap.ReusePort || !reflect.DeepEqual(imap.Addresses, []string{"127.0.0.1"}) {
		t.Errorf("imap listener = %+v", imap)
	}
	ns := c.Root.Children(KindNamespace)
	if len(ns) != 1 || len(ns[0].Children(KindMailbox)) != 1 {
		t.Fatalf("namespaces not merged: %+v", ns)
	}
	mb := ns[0].Children(KindMailbox)[0]
	if mb.Get("special_use") != `\Sent` || mb.Get("auto") != "subscribe" || !ns[0].Bool("inbox") {
		t.Errorf("mailbox = %+v", mb.Values)
	}
	// Unnamed passdbs are separate databases, as in Dovecot.
	if n := len(c.Root.Children(KindPassdb)); n != 2 {
		t.Errorf("%d passdbs, want 2", n)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %q", c.Warnings)
	}
}

// serviceNamed returns the resolved service name of c.
func serviceNamed(t *testing.T, c *Config, name string) Service {
	t.Helper()
	for _, s := range c.Services() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s in %+v", name, c.Services())
	return Service{}
}

func TestServicesDefaults(t *testing.T) {
	c := writeConf(t, map[string]string{"cote.conf": "protocols = imap pop3 lmtp smtp\nbase_dir = /srv/cote\ndefault_login_user = nobody\nservice imap-login {\n  executable = /opt/test/imap-login -D\n  vsz_limit = unlimited\n  unix_listener login/x {\n    mode = 0666\n  }\n}\n"})
	s := serviceNamed(t, c, "imap-login")
	want := Service{Name: "imap-login", Protocol: "imap", Type: "login", Executable: "/opt/test/imap-login", Args: []string{"-D"},
		User: "nobody", Chroot: "/srv/cote/login", ProcessLimit: 100, ClientLimit: 1000, ProcessMinAvail: s.ProcessMinAvail,
		ServiceCount: 0, IdleKill: time.Minute, VszLimit: 0, Pos: s.Pos,
		Inet: []InetListener{{Name: "imap", Addresses: []string{"*", "::"}, Port: 143}, {Name: "imaps", Addresses: []string{"*", "::"}, Port: 993, SSL: true}},
		Unix: []UnixListener{{Name: "login/x", Path: "/srv/cote/login/x", Mode: 0o666, Pos: s.Unix[0].Pos}},
	}
	if s.ProcessMinAvail < 1 {
		t.Errorf("ProcessMinAvail = %d, want NumCPU", s.ProcessMinAvail)
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("service:\n got %+v\nwant %+v", s, want)
	}
	if got := c.MissingProtocols(); len(got) != 0 {
		t.Errorf("MissingProtocols = %q", got)
	}
	none := writeConf(t, map[string]string{"cote.conf": "protocols = none\n"})
	if s := none.Services(); len(s) != 0 {
		t.Errorf("protocols = none: services %+v", s)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	c, err := Load("testdata/dump/cote.conf")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, c)
	}
	if !reflect.DeepEqual(got.Services(), c.Services()) {
		t.Errorf("services differ after round trip")
	}

	snap := c.ForService("imap-login")
	for _, s := range snap.Root.Sections {
		if s.Kind == KindPassdb || s.Kind == KindUserdb || (s.Kind == KindService && s.Name != "imap-login") {
			t.Errorf("snapshot holds %s %s", s.Kind, s.Name)
		}
	}
	if snap.Protocol("imap").Get("login_greeting") != "IMAP ready." {
		t.Errorf("snapshot lost the protocol filter")
	}
	if !strings.Contains(snap.Root.Get("ssl_key"), "not a real key") {
		t.Errorf("snapshot lost ssl_key")
	}
	// The snapshot resolves its own service as the full configuration
	// does; other services' sections are cut from it.
	find := func(ss []Service) Service {
		for _, s := range ss {
			if s.Name == "imap-login" {
				return s
			}
		}
		return Service{}
	}
	if !reflect.DeepEqual(find(snap.Services()), find(c.Services())) {
		t.Errorf("snapshot service differs")
	}
	if _, err := Unmarshal([]byte("{")); err == nil {
		t.Errorf("Unmarshal accepted broken JSON")
	}
}

// TestDump compares `cote config` output with golden files; -update
// rewrites them.
func TestDump(t *testing.T) {
	c, err := Load("testdata/dump/cote.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mode DumpMode
	}{
		{"plain", DumpMode{}},
		{"n", DumpMode{NonDefault: true}},
		{"a", DumpMode{All: true}},
		{"nP", DumpMode{NonDefault: true, Secrets: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.Dump(&buf, tc.mode); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(buf.String(), mustAbs(t, "testdata/dump"), "TESTDATA")
			golden := filepath.Join("testdata", "dump", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("-want\n%s\n+got\n%s", want, got)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
