package auth

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/authproto"
)

func TestParsePasswdFile(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    *passwdFileUser
		problem string
	}{
		{"full", "alice:{PLAIN}pw:1000:1000:Alice A:/home/alice:/bin/sh:quota_rule=*:storage=1G mail=maildir:~/M",
			&passwdFileUser{Name: "alice", Password: "{PLAIN}pw", UID: "1000", GID: "1000", Gecos: "Alice A", Home: "/home/alice", Shell: "/bin/sh",
				Extra: authproto.Fields{{Key: "quota_rule", Value: "*:storage=1G", HasValue: true}, {Key: "mail", Value: "maildir:~/M", HasValue: true}}}, ""},
		{"user and password only", "bob:{SHA}x", &passwdFileUser{Name: "bob", Password: "{SHA}x"}, ""},
		{"empty columns", "carol:pw::::::nopassword", &passwdFileUser{Name: "carol", Password: "pw",
			Extra: authproto.Fields{{Key: "nopassword"}}}, ""},
		{"named uid", "dave:pw:vmail:mail", &passwdFileUser{Name: "dave", Password: "pw", UID: "vmail", GID: "mail"}, ""},
		{"empty user", ":pw:1:1", nil, "empty user name"},
		{"space in user", "a b:pw", nil, "user name contains white space"},
		{"bad uid", "e:pw:1$:1", nil, "invalid uid (a number or a user/group name)"},
		{"bad gid", "e:pw:1:-x", nil, "invalid gid (a number or a user/group name)"},
		{"relative home", "e:pw:1:1::home/e", nil, "home is not an absolute path"},
		{"bad extra field", "e:pw:1:1::/h::=x", nil, `extra field "=x" has no name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problem := parsePasswdLine(tc.line)
			if problem != tc.problem {
				t.Fatalf("problem = %q, want %q", problem, tc.problem)
			}
			if tc.want == nil {
				return
			}
			if got.Name != tc.want.Name || got.Password != tc.want.Password || got.UID != tc.want.UID || got.GID != tc.want.GID ||
				got.Gecos != tc.want.Gecos || got.Home != tc.want.Home || got.Shell != tc.want.Shell || !sameFields(got.Extra, tc.want.Extra) {
				t.Errorf("-want +got\n-%+v\n+%+v", tc.want, got)
			}
		})
	}
}

func sameFields(a, b authproto.Fields) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPasswdFileMalformedLinesSkipOnlyThatUser(t *testing.T) {
	data := "# comment\n\nalice:{PLAIN}a:1:1\n:nouser\nbob:{PLAIN}b:x$:1\ncarol:{PLAIN}c\nalice:{PLAIN}dup\n"
	users, problems := parsePasswdFile([]byte(data))
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if got := strings.Join(names, ","); got != "alice,carol,alice" {
		t.Errorf("users = %s", got)
	}
	if len(problems) != 2 || problems[0].line != 4 || problems[1].line != 5 {
		t.Errorf("problems = %+v, want lines 4 and 5", problems)
	}

	// Through the driver: the problem is logged with file and line, never
	// the line's content; the duplicate keeps the first entry.
	dir := t.TempDir()
	path := writeFile(t, dir, "users", data)
	log, logs := observedLog()
	db, err := newPasswdFile("scheme=PLAIN "+path, log, true)
	if err != nil {
		t.Fatal(err)
	}
	e, res, err := db.lookup(context.Background(), &Request{User: "alice"})
	if res != ResultOK || err != nil || e.Password != "{PLAIN}a" {
		t.Fatalf("alice: %v %v %+v", res, err, e)
	}
	if _, res, _ := db.lookup(context.Background(), &Request{User: "bob"}); res != ResultUnknown {
		t.Errorf("bob (malformed) = %v, want unknown", res)
	}
	text := logText(logs)
	for _, want := range []string{"line=4", "line=5", "file=" + path, "user listed more than once"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "{PLAIN}") {
		t.Errorf("log holds a password:\n%s", text)
	}
}

func TestPasswdFileRereadAndPerDomain(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "users", "alice:{PLAIN}one\n")
	db, err := newPasswdFile(path, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	db.log = nopLog()
	ctx := context.Background()
	e, _, _ := db.lookup(ctx, &Request{User: "alice"})
	if e.Password != "{PLAIN}one" {
		t.Fatalf("first read: %+v", e)
	}
	// Same size, new content and mtime: the inode changes with a rename,
	// as editors save.
	tmp := writeFile(t, dir, "users.new", "alice:{PLAIN}two\nbob:{PLAIN}b\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	e, _, _ = db.lookup(ctx, &Request{User: "alice"})
	if e == nil || e.Password != "{PLAIN}two" {
		t.Fatalf("after rename: %+v", e)
	}
	// In-place rewrite with an mtime change only.
	if err := os.WriteFile(path, []byte("alice:{PLAIN}333\nbob:{PLAIN}b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	e, _, _ = db.lookup(ctx, &Request{User: "alice"})
	if e == nil || e.Password != "{PLAIN}333" {
		t.Fatalf("after rewrite: %+v", e)
	}

	// Per-domain files.
	writeFile(t, dir, "example.org/passwd", "alice:{PLAIN}org\n")
	writeFile(t, dir, "example.net/passwd", "alice:{PLAIN}net\n")
	pd, err := newPasswdFile("username_format=%n "+filepath.Join(dir, "%d", "passwd"), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	pd.log = nopLog()
	tests := []struct {
		user, want string
		res        Result
	}{
		{"alice@example.org", "{PLAIN}org", ResultOK},
		{"alice@example.net", "{PLAIN}net", ResultOK},
		{"bob@example.org", "", ResultUnknown},
		{"alice@missing.example", "", ResultUnknown},
	}
	for _, tc := range tests {
		e, res, err := pd.lookup(ctx, &Request{User: tc.user})
		if res != tc.res || err != nil || (e != nil && e.Password != tc.want) {
			t.Errorf("%s: %v %v %+v", tc.user, res, err, e)
		}
	}
	// A single configured file that is missing is an internal failure.
	gone, _ := newPasswdFile(filepath.Join(dir, "nope"), nopLog(), true)
	if _, res, err := gone.lookup(ctx, &Request{User: "x"}); res != ResultInternal || err == nil {
		t.Errorf("missing file: %v %v", res, err)
	}
}

func TestPasswdFileArgs(t *testing.T) {
	tests := []struct{ name, args, err string }{
		{"ok", "scheme=sha512-crypt username_format=%n /etc/x", ""},
		{"no path", "scheme=PLAIN", "passwd-file: args must name the users file"},
		{"relative", "users", `passwd-file: path "users" is not absolute`},
		{"two paths", "/a /b", `passwd-file: more than one path in args ("/a" and "/b")`},
		{"unknown", "cache=yes /a", `passwd-file: unknown argument "cache=yes" (use scheme=, username_format= and the file path)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newPasswdFile(tc.args, nopLog(), true)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("err = %q, want %q", got, tc.err)
			}
		})
	}
}

func TestStaticDrivers(t *testing.T) {
	ctx := context.Background()
	p, err := newStaticPass("password=s3cret allow_nets=127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	e, res, _ := p.lookup(ctx, &Request{User: "any"})
	if res != ResultOK || e.Password != "s3cret" || e.Scheme != "PLAIN" {
		t.Errorf("static passdb: %v %+v", res, e)
	}
	if v, _ := fieldGet(e.Fields, "allow_nets"); v != "127.0.0.0/8" {
		t.Errorf("fields %+v", e.Fields)
	}
	for _, bad := range []string{"", "uid=1", "nopassword proxy=y host=h"} {
		if _, err := newStaticPass(bad); err == nil {
			t.Errorf("static passdb %q: no error", bad)
		}
	}
	u, err := newStaticUser("uid=vmail gid=vmail home=/var/vmail/%d/%n allow_all_users=yes")
	if err != nil {
		t.Fatal(err)
	}
	f, res, _ := u.lookup(ctx, &Request{User: "Al@Example.org"})
	if res != ResultOK {
		t.Fatal(res)
	}
	want := authproto.Fields{{Key: "uid", Value: "vmail", HasValue: true}, {Key: "gid", Value: "vmail", HasValue: true}, {Key: "home", Value: "/var/vmail/Example.org/Al", HasValue: true}}
	if !sameFields(f, want) {
		t.Errorf("static userdb = %+v", f)
	}
}

func TestAllowNets(t *testing.T) {
	tests := []struct {
		name, list, ip string
		want           bool
	}{
		{"in network", "10.0.0.0/8, 192.0.2.1", "10.1.2.3", true},
		{"exact ip", "10.0.0.0/8,192.0.2.1", "192.0.2.1", true},
		{"mapped v4", "192.0.2.0/24", "::ffff:192.0.2.7", true},
		{"outside", "10.0.0.0/8", "192.0.2.1", false},
		{"local without ip", "local", "", true},
		{"local with ip", "local", "127.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			if got := allowedNet(tc.list, ip); got != tc.want {
				t.Errorf("allowedNet(%q, %s) = %v", tc.list, tc.ip, got)
			}
		})
	}
}
