package auth

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/cote-mail/cote/pkg/authproto"
)

// etcPasswd is the system user database the passwd userdb reads. It is
// world-readable, so the unprivileged auth process reads it directly (the
// shadow file is root's: shadow lookups go to the auth-worker).
var etcPasswd = "/etc/passwd"

type sysUser struct {
	Name, Password, UID, GID, Gecos, Home, Shell string
}

// readSysPasswd parses etcPasswd. NSS sources other than files (LDAP, sssd)
// are not consulted: cote is built without cgo, as os/user would be.
func readSysPasswd() (map[string]*sysUser, []string, error) {
	f, err := os.Open(etcPasswd)
	if err != nil {
		return nil, nil, fmt.Errorf("passwd: %w", err)
	}
	defer f.Close()
	users := map[string]*sysUser{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxPasswdFileLine)
	for sc.Scan() {
		c := strings.Split(sc.Text(), ":")
		if len(c) != 7 || c[0] == "" || strings.HasPrefix(c[0], "+") || strings.HasPrefix(c[0], "-") {
			continue
		}
		if _, dup := users[c[0]]; dup {
			continue
		}
		users[c[0]] = &sysUser{c[0], c[1], c[2], c[3], c[4], c[5], c[6]}
		order = append(order, c[0])
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("passwd: %w", err)
	}
	return users, order, nil
}

// passwdUserDB is Dovecot's passwd userdb: uid, gid and home of a system
// user.
type passwdUserDB struct{}

func newPasswdUser(args string) (*passwdUserDB, error) {
	for _, w := range strings.Fields(args) {
		if w != "blocking=no" && w != "blocking=yes" {
			return nil, fmt.Errorf("passwd userdb: unknown argument %q", w)
		}
	}
	return &passwdUserDB{}, nil
}

func (passwdUserDB) lookup(ctx context.Context, r *Request) (authproto.Fields, Result, error) {
	users, _, err := readSysPasswd()
	if err != nil {
		return nil, ResultInternal, err
	}
	u := users[r.User]
	if u == nil {
		return nil, ResultUnknown, nil
	}
	return authproto.Fields{
		{Key: "uid", Value: u.UID, HasValue: true},
		{Key: "gid", Value: u.GID, HasValue: true},
		{Key: "home", Value: u.Home, HasValue: true},
	}, ResultOK, nil
}

func (passwdUserDB) list(ctx context.Context, fn func(string) error) error {
	_, order, err := readSysPasswd()
	if err != nil {
		return err
	}
	sort.Strings(order)
	for _, n := range order {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// workerPassDB is a passdb served by the root auth-worker: shadow (the
// worker verifies against /etc/shadow, so no hash reaches the unprivileged
// auth process) and pam.
type workerPassDB struct {
	w      *workerClient
	driver string // "shadow" or "pam"
	pamSvc string // pam: the PAM service name
	// pam options the worker honours.
	session, setcred, showMsg bool
}

func newShadowPass(args string, w *workerClient) (*workerPassDB, error) {
	for _, a := range strings.Fields(args) {
		if a != "blocking=yes" && a != "blocking=no" {
			return nil, fmt.Errorf("shadow passdb: unknown argument %q", a)
		}
	}
	return &workerPassDB{w: w, driver: "shadow"}, nil
}

// newPAMPass parses `args = [session=yes] [setcred=yes]
// [failure_show_msg=yes] [max_requests=N] [cache_key=...] [service]`
// (Dovecot's PAM passdb). max_requests (Dovecot recycles its worker after
// N PAM requests against leaky modules) and cache_key (auth cache, which
// cote does not have) are refused rather than ignored.
func newPAMPass(args string, w *workerClient) (*workerPassDB, error) {
	db := &workerPassDB{w: w, driver: "pam", pamSvc: "dovecot"}
	for _, a := range strings.Fields(args) {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			db.pamSvc = a
			continue
		}
		b := v == "yes"
		if v != "yes" && v != "no" && (k == "session" || k == "setcred" || k == "failure_show_msg") {
			return nil, fmt.Errorf("pam passdb: %s=%q: use yes or no", k, v)
		}
		switch k {
		case "session":
			db.session = b
		case "setcred":
			db.setcred = b
		case "failure_show_msg":
			db.showMsg = b
		case "max_requests":
			return nil, fmt.Errorf("pam passdb: max_requests is not supported: the auth-worker runs PAM in one long-lived process")
		case "cache_key":
			return nil, fmt.Errorf("pam passdb: cache_key is not supported: cote has no auth cache")
		default:
			return nil, fmt.Errorf("pam passdb: unknown argument %q", a)
		}
	}
	if strings.Contains(db.pamSvc, "%") {
		return nil, fmt.Errorf("pam passdb: a service name with %% variables is not supported")
	}
	return db, nil
}

func (db *workerPassDB) lookup(ctx context.Context, r *Request) (*passEntry, Result, error) {
	return nil, ResultInternal, errNoCredentials
}

func (db *workerPassDB) verifyPlain(ctx context.Context, r *Request, password string) (authproto.Fields, Result, error) {
	rip := ""
	if r.Remote.Addr().IsValid() {
		rip = r.Remote.Addr().Unmap().String()
	}
	var args []string
	switch db.driver {
	case "shadow":
		args = []string{workerShadow, r.User, password}
	default:
		flags := ""
		for _, f := range []struct {
			on   bool
			name string
		}{{db.session, "session"}, {db.setcred, "setcred"}, {db.showMsg, "failure_show_msg"}} {
			if f.on {
				flags += f.name + ","
			}
		}
		args = []string{workerPAM, db.pamSvc, r.User, password, r.Service, rip, strings.TrimSuffix(flags, ",")}
	}
	reply, err := db.w.call(ctx, args...)
	if err != nil {
		return nil, ResultInternal, err
	}
	switch reply[0] {
	case workerOK:
		return nil, ResultOK, nil
	case workerFail:
		var f authproto.Fields
		if len(reply) > 1 && reply[1] != "" {
			f = authproto.Fields{{Key: "reason", Value: reply[1], HasValue: true}}
		}
		return f, ResultMismatch, nil
	case workerNotFound:
		return nil, ResultUnknown, nil
	default:
		msg := ""
		if len(reply) > 1 {
			msg = reply[1]
		}
		return nil, ResultInternal, fmt.Errorf("auth-worker %s: %s", db.driver, msg)
	}
}
