package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

const module = "github.com/cote-mail/cote/"

// Protocol, storage and auth packages: what the master must never link.
var (
	protocolPkgs = []string{"pkg/imap", "pkg/pop3", "pkg/login", "pkg/imaplogin", "pkg/pop3login",
		"pkg/imapd", "pkg/pop3d", "pkg/smtpd", "pkg/lmtp", "pkg/smtp", "pkg/message", "pkg/sasl"}
	storagePkgs = []string{"pkg/storage"}
	authPkgs    = []string{"pkg/auth", "pkg/passwd"}
)

// importRules is data: a later issue that adds a binary adds a row. A
// binary that does not exist yet is skipped. A forbidden entry covers the
// package and everything below it ("pkg/storage" covers pkg/storage/maildir)
// but not a sibling with a longer name ("pkg/auth" does not cover
// pkg/authproto, which every process uses to talk to auth).
var importRules = []struct {
	cmd    string // directory under cmd/
	forbid []string
	why    string
}{
	{"imap-login", concat(storagePkgs, []string{"pkg/auth", "pkg/queue", "pkg/passwd"}),
		"a login process reads neither mail nor the password database"},
	{"pop3-login", concat(storagePkgs, []string{"pkg/auth", "pkg/queue", "pkg/passwd"}),
		"a login process reads neither mail nor the password database"},
	{"master", concat(protocolPkgs, storagePkgs, authPkgs, []string{"pkg/queue"}),
		"the root master parses no client input; admin verbs live in coteadm"},
	{"imap", concat(authPkgs, []string{"pkg/login", "pkg/imaplogin", "pkg/sasl", "pkg/queue"}),
		"a post-login process redeems logins on auth-master; it verifies no password and runs no pre-auth code"},
	{"pop3", concat(authPkgs, []string{"pkg/login", "pkg/pop3login", "pkg/imaplogin", "pkg/sasl", "pkg/queue", "pkg/imap"}),
		"a post-login process redeems logins on auth-master; it verifies no password and runs no pre-auth code"},
	{"smtpd", storagePkgs, "the MTA hands mail to lmtp; it never writes the store"},
	{"queue", storagePkgs, "the MTA hands mail to lmtp; it never writes the store"},
	{"deliver", concat(without(protocolPkgs, "pkg/message"), authPkgs, []string{"pkg/queue", "pkg/master"}),
		"the LDA parses no protocol: it reads stdin, asks auth-userdb and writes the store"},
	{"cote-sendmail", concat(storagePkgs, authPkgs, []string{"pkg/master", "pkg/service", "pkg/smtpd", "pkg/lmtp"}),
		"a user command: a client of the pickup socket and of the spool's admin functions"},
	{"cote-bench", concat(protocolPkgs, storagePkgs, authPkgs, []string{"pkg/authproto", "pkg/queue", "pkg/service", "pkg/master"}),
		"the load generator shares no code with the servers it measures"},
}

// pkgImportRules are ARCHITECTURE.md's package table where a package must
// stay below others: a row per package, checked on `go list -deps`.
var pkgImportRules = []struct {
	pkg    string // directory under the module root
	forbid []string
	why    string
}{
	{"pkg/storage", concat(without(protocolPkgs, "pkg/message"), authPkgs, []string{"pkg/settings", "pkg/config", "pkg/storage/maildir", "pkg/mailuser"}),
		"the store takes plain data (pkg/mailuser turns settings into a UserConfig) and imports message only; drivers are wired in by mains"},
	{"pkg/postlogin", concat(without(protocolPkgs, "pkg/message"), authPkgs, []string{"pkg/storage/maildir"}),
		"the protocol plugs in; drivers are wired in by mains"},
	{"pkg/mailuser", concat(without(protocolPkgs, "pkg/message"), authPkgs, []string{"pkg/storage/maildir"}),
		"it only turns settings and userdb fields into a storage.UserConfig"},
	{"pkg/pop3d", concat(without(without(without(protocolPkgs, "pkg/message"), "pkg/pop3"), "pkg/pop3d"), authPkgs, []string{"pkg/storage/maildir", "pkg/postlogin", "pkg/service"}),
		"the session takes a storage.User and a connection; cmd/pop3 wires postlogin and the driver"},
	{"pkg/smtp", concat(without(protocolPkgs, "pkg/smtp"), storagePkgs, authPkgs, []string{"pkg/settings", "pkg/config", "pkg/queue", "pkg/service", "pkg/authproto"}),
		"address, routing and alias primitives shared by smtpd and the queue import nothing of cote"},
	{"pkg/smtpd", concat(storagePkgs, authPkgs, []string{"pkg/queue"}),
		"smtpd hands mail to the queue through an interface (cmd/smtpd wires the spool in) and never writes the store"},
	{"pkg/delivery", concat(without(protocolPkgs, "pkg/message"), authPkgs, []string{"pkg/storage/maildir"}),
		"shared by lmtp and the LDA: no protocol code; drivers are wired in by mains"},
	{"pkg/mailq", concat(storagePkgs, authPkgs, []string{"pkg/service", "pkg/master", "pkg/smtpd"}),
		"it only formats pkg/queue's listing for coteadm and cote-sendmail"},
	{"pkg/queue", concat(storagePkgs, authPkgs, []string{"pkg/smtpd", "pkg/lmtp", "pkg/delivery", "pkg/master"}),
		"the queue hands local mail to lmtp over its socket and parses only its own spool and SMTP replies"},
	{"pkg/membudget", concat(protocolPkgs, storagePkgs, authPkgs, []string{"pkg/settings", "pkg/config", "pkg/service"}),
		"the per-process memory budget is a leaf: the standard library only"},
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// Every binary: tests' helpers stay out of production.
var forbiddenEverywhere = []string{"pkg/testkit", "pkg/login/logintest"}

// cgoFree are the binaries that apply no_new_privs with AllThreadsSyscall,
// which refuses to run once cgo is linked (ARCHITECTURE.md): login and
// post-login processes.
var cgoFree = []string{"imap-login", "pop3-login", "imap", "pop3", "lmtp", "smtpd"}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func forbidden(pkg string, rules []string) (string, bool) {
	rel, ok := strings.CutPrefix(pkg, module)
	if !ok {
		return "", false
	}
	for _, f := range rules {
		if rel == f || strings.HasPrefix(rel, f+"/") {
			return f, true
		}
	}
	return "", false
}

func cmdExists(root, name string) bool {
	m, _ := filepath.Glob(filepath.Join(root, "cmd", name, "*.go"))
	return len(m) > 0
}

func TestImportRules(t *testing.T) {
	root := testkit.ModuleRoot(t)
	cmds, _ := filepath.Glob(filepath.Join(root, "cmd", "*"))
	if len(cmds) == 0 {
		t.Fatal("no cmd/ directories")
	}
	var all []string
	for _, c := range cmds {
		if cmdExists(root, filepath.Base(c)) {
			all = append(all, filepath.Base(c))
		}
	}
	for _, rule := range importRules {
		t.Run(rule.cmd, func(t *testing.T) {
			if !cmdExists(root, rule.cmd) {
				t.Skipf("cmd/%s does not exist yet", rule.cmd)
			}
			checkDeps(t, root, rule.cmd, rule.forbid, rule.why)
		})
	}
	for _, rule := range pkgImportRules {
		t.Run(rule.pkg, func(t *testing.T) {
			checkPkgDeps(t, root, "./"+rule.pkg, rule.forbid, rule.why)
		})
	}
	for _, name := range all {
		t.Run("no-testkit/"+name, func(t *testing.T) {
			checkDeps(t, root, name, forbiddenEverywhere, "test helpers never ship")
		})
	}
}

func checkDeps(t *testing.T, root, name string, rules []string, why string) {
	t.Helper()
	checkPkgDeps(t, root, "./cmd/"+name, rules, why)
}

func checkPkgDeps(t *testing.T, root, name string, rules []string, why string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", name, err, msg)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if f, bad := forbidden(pkg, rules); bad {
			t.Errorf("%s links %s (rule: no %s; %s)", name, pkg, f, why)
		}
	}
}

// TestForbiddenMatch pins the prefix semantics of the rule table.
func TestForbiddenMatch(t *testing.T) {
	tests := []struct {
		pkg  string
		want bool
	}{
		{module + "pkg/auth", true},
		{module + "pkg/auth/passdb", true},
		{module + "pkg/authproto", false},
		{module + "pkg/imap", true},
		{module + "pkg/imaplogin", true},
		{module + "pkg/ipc", false},
		{"github.com/other/pkg/auth", false},
	}
	rules := []string{"pkg/auth", "pkg/imap", "pkg/imaplogin"}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			if _, got := forbidden(tc.pkg, rules); got != tc.want {
				t.Errorf("forbidden(%q) = %v, want %v", tc.pkg, got, tc.want)
			}
		})
	}
}

// TestBinariesWithoutCgo checks the build info of the login and post-login
// binaries: `go version -m` must show CGO_ENABLED=0, both for the kit's
// build and, when `make build` has run, for the binaries in ./bin that
// `make install` ships.
func TestBinariesWithoutCgo(t *testing.T) {
	root := testkit.ModuleRoot(t)
	dirs := map[string]string{"testkit": testkit.Build(t)}
	if _, err := os.Stat(filepath.Join(root, "bin", "cote")); err == nil {
		dirs["make"] = filepath.Join(root, "bin")
	}
	for build, dir := range dirs {
		for _, name := range cgoFree {
			t.Run(build+"/"+name, func(t *testing.T) {
				if !cmdExists(root, name) {
					t.Skipf("cmd/%s does not exist yet", name)
				}
				path := filepath.Join(dir, name)
				if _, err := os.Stat(path); err != nil {
					t.Skipf("%s: not built", path)
				}
				out, err := exec.Command("go", "version", "-m", path).Output()
				if err != nil {
					t.Fatalf("go version -m %s: %v", path, err)
				}
				lines := strings.Split(string(out), "\n")
				if !slices.ContainsFunc(lines, func(l string) bool {
					f := strings.Fields(l)
					return len(f) == 2 && f[0] == "build" && f[1] == "CGO_ENABLED=0"
				}) {
					t.Errorf("%s was not built with CGO_ENABLED=0:\n%s", path, out)
				}
			})
		}
	}
}
