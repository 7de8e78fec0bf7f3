package auth

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/passwd"
)

// testChain builds an Auth over a users file written from lines.
func testChain(t *testing.T, users string, extra string) (*Auth, string) {
	t.Helper()
	dir := t.TempDir()
	path := writeFile(t, dir, "users", users)
	conf := "protocols = imap\nbase_dir = " + dir + "\npassdb {\n  driver = passwd-file\n  args = scheme=PLAIN " + path + "\n}\n" +
		"userdb {\n  driver = static\n  args = uid=vmail gid=vmail home=/var/vmail/%d/%n\n}\n" + extra
	a, err := NewAuth(loadConfText(t, dir, conf), nopLog(), filepath.Join(dir, "auth-worker"))
	if err != nil {
		t.Fatal(err)
	}
	return a, dir
}

func loadConfText(t testing.TB, dir, conf string) *settingsConfig {
	t.Helper()
	writeFile(t, dir, "cote.conf", conf)
	return mustLoad(t, filepath.Join(dir, "cote.conf"))
}

func TestVerifyPlainChain(t *testing.T) {
	h, err := passwd.Hash("SHA512-CRYPT", "", "right", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	users := "alice:" + h + "::::::userdb_quota_rule=*:storage=1G\n" +
		"nol:{PLAIN}right::::::nologin reason=moved\n" +
		"nets:{PLAIN}right::::::allow_nets=192.0.2.0/24\n" +
		"ren:{PLAIN}right::::::user=renamed@example.org\n" +
		"prox:{PLAIN}right::::::proxy host=10.0.0.1\n" +
		"nopw:::::::nopassword\n" +
		"empty:\n"
	a, _ := testChain(t, users, "")
	ctx := context.Background()
	rip := netip.MustParseAddrPort("198.51.100.1:4000")
	tests := []struct {
		name, user, pw string
		res            Result
		wantUser       string
		noLogin        bool
		dummy          bool
	}{
		{"right", "alice", "right", ResultOK, "alice", false, false},
		{"wrong", "alice", "wrong", ResultMismatch, "alice", false, false},
		{"unknown", "nobody", "right", ResultUnknown, "nobody", false, true},
		{"nologin", "nol", "right", ResultOK, "nol", true, false},
		{"allow_nets refuses", "nets", "right", ResultMismatch, "nets", false, false},
		{"rename", "ren", "right", ResultOK, "renamed@example.org", false, false},
		{"proxy refused", "prox", "right", ResultInternal, "prox", false, false},
		{"nopassword", "nopw", "anything", ResultOK, "nopw", false, false},
		{"empty password", "empty", "", ResultMismatch, "empty", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.DummyVerifications()
			out := a.verifyPlain(ctx, &Request{User: tc.user, Service: "imap", Remote: rip}, tc.pw)
			if out.res != tc.res || out.user != tc.wantUser || out.noLogin != tc.noLogin {
				t.Errorf("got %v user=%q nologin=%v, want %v %q %v", out.res, out.user, out.noLogin, tc.res, tc.wantUser, tc.noLogin)
			}
			if got := a.DummyVerifications() - before; (got > 0) != tc.dummy {
				t.Errorf("dummy verifications %d, want any: %v", got, tc.dummy)
			}
		})
	}
	out := a.verifyPlain(ctx, &Request{User: "alice", Service: "imap"}, "right")
	if v, _ := fieldGet(out.ufields, "quota_rule"); v != "*:storage=1G" {
		t.Errorf("userdb_ fields %+v", out.ufields)
	}
	user, f, res := a.UserLookup(ctx, &Request{User: "alice@example.org", afterAuth: true}, out.ufields)
	if res != ResultOK || user != "alice@example.org" {
		t.Fatalf("UserLookup: %v %q", res, user)
	}
	want := "quota_rule=*:storage=1G uid=vmail gid=vmail home=/var/vmail/example.org/alice"
	if got := strings.Join(f.Args(), " "); got != want {
		t.Errorf("userdb fields = %q, want %q", got, want)
	}
}

func TestPassdbResultRules(t *testing.T) {
	dir := t.TempDir()
	first := writeFile(t, dir, "first", "alice:{PLAIN}one\n")
	second := writeFile(t, dir, "second", "alice:{PLAIN}two\nbob:{PLAIN}b\n")
	tests := []struct {
		name, rules string
		user, pw    string
		res         Result
	}{
		{"default: failure continues", "", "alice", "two", ResultOK},
		{"default: success returns", "", "alice", "one", ResultOK},
		{"return-fail stops", "result_failure = return-fail\n", "alice", "two", ResultMismatch},
		{"unknown continues", "", "bob", "b", ResultOK},
		{"skip unauthenticated", "", "bob", "x", ResultMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := "protocols = imap\npassdb {\n  driver = passwd-file\n  args = scheme=PLAIN " + first + "\n" + tc.rules + "}\n" +
				"passdb {\n  driver = passwd-file\n  args = scheme=PLAIN " + second + "\n}\nuserdb {\n  driver = static\n  args = uid=1 gid=1 home=/h\n}\n"
			sub := t.TempDir()
			a, err := NewAuth(loadConfText(t, sub, conf), nopLog(), "")
			if err != nil {
				t.Fatal(err)
			}
			out := a.verifyPlain(context.Background(), &Request{User: tc.user}, tc.pw)
			if out.res != tc.res {
				t.Errorf("res = %v, want %v", out.res, tc.res)
			}
		})
	}
}

func TestNewAuthConfigErrors(t *testing.T) {
	tests := []struct{ name, dbs, want string }{
		{"no passdb", "userdb {\n driver = static\n args = uid=1\n}\n", "no passdb is configured"},
		{"ldap", "passdb {\n driver = ldap\n}\nuserdb {\n driver = static\n args = uid=1\n}\n", "driver ldap is not supported by cote"},
		{"master", "passdb {\n driver = static\n args = nopassword\n master = yes\n}\nuserdb {\n driver = static\n args = uid=1\n}\n", "master users are not supported"},
		{"pam max_requests", "passdb {\n driver = pam\n args = max_requests=10\n}\nuserdb {\n driver = static\n args = uid=1\n}\n", "max_requests is not supported"},
		{"prefetch", "passdb {\n driver = static\n args = nopassword\n}\nuserdb {\n driver = prefetch\n}\n", "driver prefetch is not supported"},
		{"userdb skip on passdb", "passdb {\n driver = static\n args = nopassword\n skip = found\n}\nuserdb {\n driver = static\n args = uid=1\n}\n", "skip = found applies to userdbs"},
		{"auth_verbose", "passdb {\n driver = static\n args = nopassword\n auth_verbose = yes\n}\nuserdb {\n driver = static\n args = uid=1\n}\n", "per-database logging levels are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := NewAuth(loadConfText(t, dir, "protocols = imap\n"+tc.dbs), nopLog(), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeUser(t *testing.T) {
	dir := t.TempDir()
	a, err := NewAuth(loadConfText(t, dir, "protocols = imap\nauth_default_realm = example.org\npassdb {\n driver = static\n args = nopassword\n}\nuserdb {\n driver = static\n args = uid=1\n}\n"), nopLog(), "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"Alice", "alice@example.org"},
		{"Bob@Example.NET", "bob@example.net"},
		{"bad name", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := a.NormalizeUser(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NormalizeUser(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestListAndUserLookupPasswdFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "users", "zed:{PLAIN}z:1001:1001::/home/zed::mail=maildir:~/Z userdb_quota_rule=*:storage=5M\nann:{PLAIN}a:1002:1002::/home/ann\n")
	conf := "protocols = imap\npassdb {\n driver = passwd-file\n args = " + path + "\n}\nuserdb {\n driver = passwd-file\n args = " + path + "\n}\n"
	a, err := NewAuth(loadConfText(t, dir, conf), nopLog(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := a.List(context.Background(), "", func(u string) error { got = append(got, u); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "ann,zed" {
		t.Errorf("List = %v", got)
	}
	got = nil
	_ = a.List(context.Background(), "z*", func(u string) error { got = append(got, u); return nil })
	if strings.Join(got, ",") != "zed" {
		t.Errorf("List z* = %v", got)
	}
	user, f, res := a.UserLookup(context.Background(), &Request{User: "zed"}, nil)
	want := authproto.Fields{{Key: "uid", Value: "1001", HasValue: true}, {Key: "gid", Value: "1001", HasValue: true}, {Key: "home", Value: "/home/zed", HasValue: true},
		{Key: "mail", Value: "maildir:~/Z", HasValue: true}, {Key: "quota_rule", Value: "*:storage=5M", HasValue: true}}
	if res != ResultOK || user != "zed" || !sameFields(f, want) {
		t.Errorf("UserLookup = %v %q %+v", res, user, f)
	}
	if _, _, res := a.UserLookup(context.Background(), &Request{User: "nobody"}, nil); res != ResultUnknown {
		t.Errorf("unknown = %v", res)
	}
}
