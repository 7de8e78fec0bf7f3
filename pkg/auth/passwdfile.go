package auth

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/settings"
)

// maxPasswdFileLine bounds one users-file line. Dovecot reads lines of any
// length; a line past this is certainly not a user entry.
const maxPasswdFileLine = 64 * 1024

// passwdFileUser is one entry of a passwd-file.
type passwdFileUser struct {
	Name, Password, UID, GID, Gecos, Home, Shell string
	Extra                                        authproto.Fields
}

// passwdFile is one parsed users file with the stat facts it was read with.
type passwdFile struct {
	path  string
	ino   uint64
	size  int64
	mtime time.Time
	users map[string]*passwdFileUser
	order []string // names in file order, for LIST
}

// passwdFileDB is the passwd-file driver (Dovecot's "PasswdFile"), shared by
// passdb and userdb: `args = [scheme=X] [username_format=%u] PATH`, where
// PATH may hold `%` variables (per-domain files).
type passwdFileDB struct {
	log      *zap.Logger
	path     string // template
	scheme   string
	userFmt  string
	mu       sync.Mutex // guards files
	files    map[string]*passwdFile
	statHook func(path string) // test seam: called on every stat
}

// newPasswdFile parses a passwd-file args string.
func newPasswdFile(args string, log *zap.Logger, passdb bool) (*passwdFileDB, error) {
	db := &passwdFileDB{log: log, scheme: "CRYPT", userFmt: "%u", files: map[string]*passwdFile{}}
	for _, w := range strings.Fields(args) {
		k, v, ok := strings.Cut(w, "=")
		switch {
		case ok && k == "scheme":
			if !passdb {
				return nil, fmt.Errorf("passwd-file: scheme= is a passdb argument")
			}
			db.scheme = strings.ToUpper(v)
		case ok && k == "username_format":
			db.userFmt = v
		case ok && strings.HasPrefix(w, "/") || !ok:
			if db.path != "" {
				return nil, fmt.Errorf("passwd-file: more than one path in args (%q and %q)", db.path, w)
			}
			db.path = w
		default:
			return nil, fmt.Errorf("passwd-file: unknown argument %q (use scheme=, username_format= and the file path)", w)
		}
	}
	if db.path == "" {
		return nil, fmt.Errorf("passwd-file: args must name the users file")
	}
	if !strings.HasPrefix(db.path, "/") {
		return nil, fmt.Errorf("passwd-file: path %q is not absolute", db.path)
	}
	return db, nil
}

// get returns the up-to-date parse of the file that r's user lives in.
// Every call stats the file (cheap) and rereads it when the inode, size or
// mtime changed, so edits are picked up without a reload.
func (db *passwdFileDB) get(r *Request) (*passwdFile, string, Result, error) {
	vars := r.vars()
	name, err := settings.Expand(db.userFmt, vars)
	if err != nil {
		return nil, "", ResultInternal, fmt.Errorf("passwd-file: username_format: %w", err)
	}
	path, err := settings.Expand(db.path, vars)
	if err != nil {
		return nil, "", ResultInternal, fmt.Errorf("passwd-file: path: %w", err)
	}
	if db.statHook != nil {
		db.statHook(path)
	}
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) && path != db.path {
			// A per-domain file that does not exist: no such domain,
			// so no such user (Dovecot does the same).
			return nil, name, ResultUnknown, nil
		}
		return nil, name, ResultInternal, fmt.Errorf("passwd-file: %w", err)
	}
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	f := db.files[path]
	if f != nil && f.ino == ino && f.size == st.Size() && f.mtime.Equal(st.ModTime()) {
		return f, name, ResultOK, nil
	}
	f, err = db.read(path, ino, st)
	if err != nil {
		return nil, name, ResultInternal, err
	}
	db.files[path] = f
	return f, name, ResultOK, nil
}

func (db *passwdFileDB) read(path string, ino uint64, st os.FileInfo) (*passwdFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("passwd-file: %w", err)
	}
	f := &passwdFile{path: path, ino: ino, size: st.Size(), mtime: st.ModTime(), users: map[string]*passwdFileUser{}}
	users, problems := parsePasswdFile(data)
	for _, p := range problems {
		db.log.Warn("passwd-file: skipping malformed line", zap.String("file", path), zap.Int("line", p.line), zap.String("problem", p.msg))
	}
	for _, u := range users {
		if _, dup := f.users[u.Name]; dup {
			db.log.Warn("passwd-file: user listed more than once; the first entry is used", zap.String("file", path), zap.String("user", u.Name))
			continue
		}
		f.users[u.Name] = u
		f.order = append(f.order, u.Name)
	}
	db.log.Debug("passwd-file: read", zap.String("file", path), zap.Int("users", len(f.users)))
	return f, nil
}

type lineProblem struct {
	line int
	msg  string
}

// parsePasswdFile parses Dovecot's users file format,
// `user:password:uid:gid:gecos:home:shell:extra_fields`, where every column
// after the password may be empty or missing. Blank lines and lines
// starting with '#' are skipped. A malformed line is reported (its line
// number and what is wrong, never its content: it may hold a password) and
// skips only that user.
func parsePasswdFile(data []byte) ([]*passwdFileUser, []lineProblem) {
	var users []*passwdFileUser
	var problems []lineProblem
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), maxPasswdFileLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, msg := parsePasswdLine(line)
		if msg != "" {
			problems = append(problems, lineProblem{n, msg})
			continue
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, lineProblem{n + 1, "line too long; the rest of the file is ignored"})
	}
	return users, problems
}

func parsePasswdLine(line string) (*passwdFileUser, string) {
	cols := strings.SplitN(line, ":", 8)
	for len(cols) < 8 {
		cols = append(cols, "")
	}
	u := &passwdFileUser{Name: cols[0], Password: cols[1], UID: cols[2], GID: cols[3], Gecos: cols[4], Home: cols[5], Shell: cols[6]}
	if u.Name == "" {
		return nil, "empty user name"
	}
	if strings.ContainsAny(u.Name, " \t") {
		return nil, "user name contains white space"
	}
	for _, id := range []struct{ name, v string }{{"uid", u.UID}, {"gid", u.GID}} {
		if id.v != "" && !validID(id.v) {
			return nil, "invalid " + id.name + " (a number or a user/group name)"
		}
	}
	if u.Home != "" && !strings.HasPrefix(u.Home, "/") && !strings.HasPrefix(u.Home, "%") {
		return nil, "home is not an absolute path"
	}
	extra, err := parseFieldList(cols[7])
	if err != nil {
		return nil, err.Error()
	}
	u.Extra = extra
	return u, ""
}

// validID accepts a numeric id or a POSIX-ish user/group name.
func validID(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return s[0] != '-'
}

// lookup implements passDriver.
func (db *passwdFileDB) lookup(ctx context.Context, r *Request) (*passEntry, Result, error) {
	f, name, res, err := db.get(r)
	if res != ResultOK {
		return nil, res, err
	}
	u := f.users[name]
	if u == nil {
		return nil, ResultUnknown, nil
	}
	fields, err := expandFields(u.Extra, r.vars())
	if err != nil {
		return nil, ResultInternal, fmt.Errorf("passwd-file %s: user entry: %w", f.path, err)
	}
	// The uid, gid and home columns are userdb fields; a passdb returns
	// them as userdb_ fields so the following userdb lookup can use them.
	for _, c := range []struct{ k, v string }{{"userdb_uid", u.UID}, {"userdb_gid", u.GID}, {"userdb_home", u.Home}} {
		if c.v != "" {
			if _, ok := fieldGet(fields, c.k); !ok {
				fields = append(fields, authproto.Field{Key: c.k, Value: c.v, HasValue: true})
			}
		}
	}
	return &passEntry{Password: u.Password, Scheme: db.scheme, Fields: fields}, ResultOK, nil
}

// userLookup implements userDriver (through passwdFileUserDB).
func (db *passwdFileDB) userLookup(ctx context.Context, r *Request) (authproto.Fields, Result, error) {
	f, name, res, err := db.get(r)
	if res != ResultOK {
		return nil, res, err
	}
	u := f.users[name]
	if u == nil {
		return nil, ResultUnknown, nil
	}
	var out authproto.Fields
	for _, c := range []struct{ k, v string }{{"uid", u.UID}, {"gid", u.GID}, {"home", u.Home}} {
		if c.v != "" {
			out = append(out, authproto.Field{Key: c.k, Value: c.v, HasValue: true})
		}
	}
	extra, err := expandFields(u.Extra, r.vars())
	if err != nil {
		return nil, ResultInternal, fmt.Errorf("passwd-file %s: user entry: %w", f.path, err)
	}
	for _, x := range extra {
		// In a userdb, "userdb_"-prefixed fields are the userdb's own;
		// unprefixed ones are userdb fields too (Dovecot's passwd-file).
		x.Key = strings.TrimPrefix(x.Key, "userdb_")
		out = fieldSet(out, x.Key, x.Value, x.HasValue)
	}
	return out, ResultOK, nil
}

// list implements userLister for a single file (a path with `%`
// variables cannot be listed: which domains exist is unknown).
func (db *passwdFileDB) list(ctx context.Context, fn func(string) error) error {
	if strings.Contains(db.path, "%") {
		return fmt.Errorf("passwd-file: cannot list users of per-domain files (%s)", db.path)
	}
	f, _, _, err := db.get(&Request{})
	if err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	names := append([]string(nil), f.order...)
	sort.Strings(names)
	for _, n := range names {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// passwdFileUserDB adapts passwdFileDB to userDriver.
type passwdFileUserDB struct{ *passwdFileDB }

func (u passwdFileUserDB) lookup(ctx context.Context, r *Request) (authproto.Fields, Result, error) {
	return u.userLookup(ctx, r)
}
