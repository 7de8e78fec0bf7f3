package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/passwd"
	"github.com/cote-mail/cote/pkg/settings"
)

// Result rules of passdb and userdb sections (Dovecot's result_success,
// result_failure, result_internalfail).
const (
	ruleReturnOK     = "return-ok"
	ruleReturn       = "return"
	ruleReturnFail   = "return-fail"
	ruleContinue     = "continue"
	ruleContinueOK   = "continue-ok"
	ruleContinueFail = "continue-fail"
)

// passdb is one configured passdb section.
type passdb struct {
	name, driver string
	drv          passDriver
	deny         bool
	skip         string
	onSuccess    string
	onFailure    string
	onInternal   string
	mechs        []string // upper-case; nil = all
	userFilter   []string // glob patterns, "!" negates
	defFields    authproto.Fields
	overFields   authproto.Fields
}

// userdb is one configured userdb section.
type userdb struct {
	name, driver string
	drv          userDriver
	skip         string
	onSuccess    string
	onFailure    string
	onInternal   string
	defFields    authproto.Fields
	overFields   authproto.Fields
}

// Auth holds the passdb and userdb chains and the user-name rules. Its
// methods are safe for concurrent use.
type Auth struct {
	log        *zap.Logger
	passdbs    []*passdb
	userdbs    []*userdb
	userFormat string // auth_username_format
	realm      string // auth_default_realm
	userChars  string // auth_username_chars; "" allows every character
	// dummies counts dummy password verifications done for unknown users
	// (anti-oracle): tests read it through DummyVerifications.
	dummies atomic.Int64
}

// DummyVerifications returns how many dummy verifications were made for
// unknown users since start.
func (a *Auth) DummyVerifications() int64 { return a.dummies.Load() }

// NewAuth builds the chains from the configuration's root passdb and
// userdb sections. workerPath is the auth-worker socket (shadow, pam).
func NewAuth(cfg *settings.Config, log *zap.Logger, workerPath string) (*Auth, error) {
	if log == nil {
		log = zap.NewNop()
	}
	root := cfg.Root
	a := &Auth{log: log, userFormat: root.Get("auth_username_format"), realm: root.Get("auth_default_realm"),
		userChars: root.Get("auth_username_chars")}
	w := &workerClient{path: workerPath}
	for _, s := range root.Sections {
		if isProtocolFilterWithDB(s) {
			return nil, fmt.Errorf("%s: passdb and userdb sections inside %s { } are not supported; move them to the top level", s.Pos, s.Kind)
		}
	}
	var errs []string
	bad := func(s *settings.Section, err error) {
		errs = append(errs, fmt.Sprintf("%s: %s %s: %v", s.Pos, s.Kind, s.Name, err))
	}
	for _, s := range root.Children(settings.KindPassdb) {
		p, err := newPassdb(s, w, log)
		if err != nil {
			bad(s, err)
			continue
		}
		a.passdbs = append(a.passdbs, p)
	}
	for _, s := range root.Children(settings.KindUserdb) {
		u, err := newUserdb(s, log)
		if err != nil {
			bad(s, err)
			continue
		}
		if st, ok := u.drv.(*staticUserDB); ok {
			st.exists = a.exists
		}
		a.userdbs = append(a.userdbs, u)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	if len(a.passdbs) == 0 {
		return nil, errors.New("no passdb is configured: add a passdb { } section (driver = passwd-file, static, shadow or pam)")
	}
	if len(a.userdbs) == 0 {
		return nil, errors.New("no userdb is configured: add a userdb { } section (driver = passwd-file, static or passwd)")
	}
	return a, nil
}

func isProtocolFilterWithDB(s *settings.Section) bool {
	if s.Kind == settings.KindPassdb || s.Kind == settings.KindUserdb || s.Kind == settings.KindService {
		return false
	}
	for _, ch := range s.Sections {
		if ch.Kind == settings.KindPassdb || ch.Kind == settings.KindUserdb || isProtocolFilterWithDB(ch) {
			return true
		}
	}
	return false
}

// commonDB reads the settings every passdb and userdb shares.
func commonDB(s *settings.Section) (skip, ok, fail, internal string, def, over authproto.Fields, err error) {
	if v := s.Get("auth_verbose"); v != "default" {
		return "", "", "", "", nil, nil, fmt.Errorf("auth_verbose = %s: per-database logging levels are not supported", v)
	}
	def, err = parseFieldList(s.Get("default_fields"))
	if err != nil {
		return "", "", "", "", nil, nil, fmt.Errorf("default_fields: %w", err)
	}
	over, err = parseFieldList(s.Get("override_fields"))
	if err != nil {
		return "", "", "", "", nil, nil, fmt.Errorf("override_fields: %w", err)
	}
	return s.Get("skip"), s.Get("result_success"), s.Get("result_failure"), s.Get("result_internalfail"), def, over, nil
}

func newPassdb(s *settings.Section, w *workerClient, log *zap.Logger) (*passdb, error) {
	p := &passdb{name: s.Get("name"), driver: s.Get("driver"), deny: s.Bool("deny")}
	var err error
	p.skip, p.onSuccess, p.onFailure, p.onInternal, p.defFields, p.overFields, err = commonDB(s)
	if err != nil {
		return nil, err
	}
	if p.skip == "found" || p.skip == "notfound" {
		return nil, fmt.Errorf("skip = %s applies to userdbs; a passdb takes never, authenticated or unauthenticated", p.skip)
	}
	if s.Bool("master") || s.Bool("pass") {
		return nil, errors.New("master = yes: master users are not supported")
	}
	for _, m := range s.List("mechanisms") {
		p.mechs = append(p.mechs, strings.ToUpper(m))
	}
	p.userFilter = strings.Fields(s.Get("username_filter"))
	for _, pat := range p.userFilter {
		if _, err := path.Match(strings.TrimPrefix(pat, "!"), ""); err != nil {
			return nil, fmt.Errorf("username_filter: bad pattern %q", pat)
		}
	}
	args := s.Get("args")
	switch p.driver {
	case "passwd-file":
		p.drv, err = newPasswdFile(args, log, true)
	case "static":
		p.drv, err = newStaticPass(args)
	case "shadow":
		p.drv, err = newShadowPass(args, w)
	case "pam":
		p.drv, err = newPAMPass(args, w)
	default:
		err = fmt.Errorf("driver %s is not supported by cote (use passwd-file, static, shadow or pam)", p.driver)
	}
	if err != nil {
		return nil, err
	}
	if p.name == "" {
		p.name = p.driver
	}
	return p, nil
}

func newUserdb(s *settings.Section, log *zap.Logger) (*userdb, error) {
	u := &userdb{name: s.Get("name"), driver: s.Get("driver")}
	var err error
	u.skip, u.onSuccess, u.onFailure, u.onInternal, u.defFields, u.overFields, err = commonDB(s)
	if err != nil {
		return nil, err
	}
	if u.skip == "authenticated" || u.skip == "unauthenticated" {
		return nil, fmt.Errorf("skip = %s applies to passdbs; a userdb takes never, found or notfound", u.skip)
	}
	args := s.Get("args")
	switch u.driver {
	case "passwd-file":
		var db *passwdFileDB
		db, err = newPasswdFile(args, log, false)
		if err == nil {
			u.drv = passwdFileUserDB{db}
		}
	case "static":
		u.drv, err = newStaticUser(args)
	case "passwd":
		u.drv, err = newPasswdUser(args)
	case "prefetch":
		err = errors.New("driver prefetch is not supported: cote passes userdb_ fields from the passdb to every userdb lookup anyway; use static or passwd-file")
	default:
		err = fmt.Errorf("driver %s is not supported by cote (use passwd-file, static or passwd)", u.driver)
	}
	if err != nil {
		return nil, err
	}
	if u.name == "" {
		u.name = u.driver
	}
	return u, nil
}

// ErrBadUsername: the user name has characters auth_username_chars does
// not allow, or cannot be formatted.
var ErrBadUsername = errors.New("auth: invalid user name")

// NormalizeUser applies auth_username_chars, auth_default_realm and
// auth_username_format (Dovecot's order: check characters, add the realm,
// then format).
func (a *Auth) NormalizeUser(user string) (string, error) {
	if user == "" {
		return "", ErrBadUsername
	}
	if a.userChars != "" {
		for _, c := range user {
			if !strings.ContainsRune(a.userChars, c) {
				return "", ErrBadUsername
			}
		}
	}
	if a.realm != "" && !strings.Contains(user, "@") {
		user += "@" + a.realm
	}
	if a.userFormat != "" {
		u, err := settings.Expand(a.userFormat, settings.Vars{"user": user})
		if err != nil || u == "" {
			return "", ErrBadUsername
		}
		user = u
	}
	return user, nil
}

// matchesFilter applies a passdb's mechanisms and username_filter.
func (p *passdb) serves(r *Request) bool {
	if p.mechs != nil && r.Mech != "" {
		found := false
		for _, m := range p.mechs {
			found = found || m == strings.ToUpper(r.Mech)
		}
		if !found {
			return false
		}
	}
	if len(p.userFilter) == 0 {
		return true
	}
	matched := false
	for _, pat := range p.userFilter {
		if neg, ok := strings.CutPrefix(pat, "!"); ok {
			if m, _ := path.Match(neg, r.User); m {
				return false
			}
			continue
		}
		if m, _ := path.Match(pat, r.User); m {
			matched = true
		}
	}
	return matched
}

// outcome is the end of a passdb chain.
type outcome struct {
	res      Result
	user     string           // final user name (after a user= rename)
	fields   authproto.Fields // passdb fields (no userdb_ ones)
	ufields  authproto.Fields // userdb_ fields, prefix removed
	noLogin  bool
	reason   string // only when the password was right (nologin)
	internal error  // logged cause of ResultInternal
}

// check is one passdb step: verify (password != nil) or look up.
type checkFn func(ctx context.Context, p *passdb, r *Request, skipPassword bool) (authproto.Fields, Result, error)

// runPassdbs walks the passdb chain with Dovecot's skip and result rules.
func (a *Auth) runPassdbs(ctx context.Context, r *Request, check checkFn) outcome {
	success, skipPassword, sawInternal := false, false, false
	var last Result = ResultUnknown
	var fields authproto.Fields
	var lastErr error
	for _, p := range a.passdbs {
		if !p.serves(r) {
			continue
		}
		if (p.skip == "authenticated" && skipPassword) || (p.skip == "unauthenticated" && !skipPassword) {
			continue
		}
		f, res, err := check(ctx, p, r, skipPassword)
		if res == ResultOK {
			f = applyFieldRules(f, p.defFields, p.overFields, r)
			if k, why := refusedField(f); k != "" {
				res, err = ResultInternal, fmt.Errorf("passdb %s returned field %s: %s", p.name, k, why)
			} else if p.deny {
				// A user found in a deny passdb is refused outright.
				return outcome{res: ResultMismatch, user: r.User}
			}
		}
		if err != nil {
			lastErr = err
			a.log.Error("passdb failed", zap.String("passdb", p.name), zap.String("user", r.User), zap.Error(err))
		}
		last = res
		rule := p.onFailure
		switch res {
		case ResultOK:
			rule = p.onSuccess
			for _, x := range f {
				fields = fieldSet(fields, x.Key, x.Value, x.HasValue)
			}
			if nu, ok := fieldGet(f, "user"); ok && nu != "" {
				r.User = nu
			}
		case ResultInternal:
			rule = p.onInternal
			sawInternal = true
		}
		stop := true
		switch rule {
		case ruleReturn:
			success = res == ResultOK
		case ruleReturnOK:
			success = true
		case ruleReturnFail:
			success = false
		case ruleContinue:
			stop = false
			if res == ResultOK {
				skipPassword = true
			}
		case ruleContinueOK:
			stop, success, skipPassword = false, true, true
		case ruleContinueFail:
			stop, success = false, false
		}
		if stop {
			break
		}
	}
	out := outcome{user: r.User, internal: lastErr}
	switch {
	case success:
		out.res = ResultOK
	case sawInternal:
		out.res = ResultInternal
	case last == ResultOK || last == ResultMismatch:
		out.res = ResultMismatch
	default:
		out.res = last
		if out.res != ResultUnknown {
			out.res = ResultMismatch
		}
	}
	if out.res != ResultOK {
		return out
	}
	out.fields, out.ufields = splitPassUser(fields)
	out.fields = fieldDel(out.fields, "user")
	if _, ok := fieldGet(out.fields, "nologin"); ok {
		out.noLogin = true
		out.reason, _ = fieldGet(out.fields, "reason")
	}
	if nets, ok := fieldGet(out.fields, "allow_nets"); ok && !allowedNet(nets, r.Remote.Addr()) {
		a.log.Info("allow_nets refused the client", zap.String("user", r.User))
		return outcome{res: ResultMismatch, user: r.User}
	}
	return out
}

// allowedNet implements the allow_nets field: a comma-separated list of IPs
// and networks; "local" matches a client without an IP (a local socket).
func allowedNet(list string, ip netip.Addr) bool {
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if w == "local" {
			if !ip.IsValid() {
				return true
			}
			continue
		}
		if !ip.IsValid() {
			continue
		}
		ip := ip.Unmap()
		if pfx, err := netip.ParsePrefix(w); err == nil && pfx.Contains(ip) {
			return true
		}
		if a, err := netip.ParseAddr(w); err == nil && a.Unmap() == ip {
			return true
		}
	}
	return false
}

// applyFieldRules adds default_fields the lookup did not return and
// replaces with override_fields.
func applyFieldRules(f, def, over authproto.Fields, r *Request) authproto.Fields {
	if len(def) == 0 && len(over) == 0 {
		return f
	}
	vars := r.vars()
	if d, err := expandFields(def, vars); err == nil {
		for _, x := range d {
			if _, ok := fieldGet(f, x.Key); !ok {
				f = append(f, x)
			}
		}
	}
	if o, err := expandFields(over, vars); err == nil {
		for _, x := range o {
			f = fieldSet(f, x.Key, x.Value, x.HasValue)
		}
	}
	return f
}

// verifyPlain checks password for r.User through the passdb chain. An
// unknown user costs a dummy verification.
func (a *Auth) verifyPlain(ctx context.Context, r *Request, password string) outcome {
	dummyDone := false
	out := a.runPassdbs(ctx, r, func(ctx context.Context, p *passdb, r *Request, skipPassword bool) (authproto.Fields, Result, error) {
		if v, ok := p.drv.(plainVerifier); ok {
			if skipPassword {
				// A system passdb cannot be used for a lookup only.
				return nil, ResultInternal, errNoCredentials
			}
			return v.verifyPlain(ctx, r, password)
		}
		e, res, err := p.drv.lookup(ctx, r)
		if res != ResultOK {
			if res == ResultUnknown && !dummyDone {
				dummyDone = true
				a.dummyVerify(passdbScheme(p), r.User, password)
			}
			return nil, res, err
		}
		if skipPassword {
			return e.Fields, ResultOK, nil
		}
		if _, ok := fieldGet(e.Fields, "nopassword"); ok {
			return fieldDel(e.Fields, "nopassword"), ResultOK, nil
		}
		if e.Password == "" {
			a.dummyVerify(e.Scheme, r.User, password)
			return nil, ResultMismatch, nil
		}
		ok, err := passwd.Verify(e.Password, e.Scheme, r.User, password)
		if err != nil {
			// Never the stored value in the log: only that it is unusable.
			return nil, ResultInternal, fmt.Errorf("passdb %s: stored password of this user is not usable (malformed or unknown scheme)", p.name)
		}
		if !ok {
			return nil, ResultMismatch, nil
		}
		return e.Fields, ResultOK, nil
	})
	return out
}

func passdbScheme(p *passdb) string {
	if f, ok := p.drv.(*passwdFileDB); ok {
		return f.scheme
	}
	return "SHA512-CRYPT"
}

// dummyVerify spends the work of a real verification so an unknown user
// cannot be told from a wrong password by timing.
func (a *Auth) dummyVerify(scheme, user, password string) {
	if scheme == "" || scheme == "CRYPT" || scheme == "PLAIN" {
		scheme = "SHA512-CRYPT"
	}
	a.dummies.Add(1)
	_, _ = passwd.Verify(passwd.Dummy(scheme), scheme, user, password)
}

// ErrUnsupported: no passdb can give credentials of the wanted kind.
var ErrUnsupported = errors.New("auth: no passdb can supply these credentials")

// credentials looks up the stored password of r.User and converts it to
// what mechanism want needs (passwd.Credentials).
func (a *Auth) credentials(ctx context.Context, r *Request, want string) (passwd.Creds, outcome, error) {
	var creds passwd.Creds
	var credErr error
	out := a.runPassdbs(ctx, r, func(ctx context.Context, p *passdb, r *Request, skipPassword bool) (authproto.Fields, Result, error) {
		if _, ok := p.drv.(plainVerifier); ok {
			return nil, ResultInternal, errNoCredentials
		}
		e, res, err := p.drv.lookup(ctx, r)
		if res != ResultOK {
			return nil, res, err
		}
		if skipPassword || want == "" {
			return e.Fields, ResultOK, nil
		}
		if _, ok := fieldGet(e.Fields, "nopassword"); ok {
			credErr = ErrUnsupported
			return nil, ResultMismatch, nil
		}
		c, err := passwd.Credentials(e.Password, e.Scheme, r.User, want)
		if err != nil {
			if errors.Is(err, passwd.ErrNoCredentials) {
				credErr = ErrUnsupported
				return nil, ResultMismatch, nil
			}
			return nil, ResultInternal, fmt.Errorf("passdb %s: stored password of this user is not usable for %s", p.name, want)
		}
		creds = c
		return e.Fields, ResultOK, nil
	})
	if out.res == ResultOK {
		return creds, out, nil
	}
	if credErr != nil && out.res == ResultMismatch {
		return creds, out, credErr
	}
	return creds, out, nil
}

// exists reports whether r.User is known to a passdb that can look users
// up (the static userdb's check without allow_all_users).
func (a *Auth) exists(ctx context.Context, r *Request) (Result, error) {
	if r.afterAuth {
		return ResultOK, nil
	}
	rr := *r
	_, out, _ := a.credentials(ctx, &rr, "")
	return out.res, out.internal
}

// CanLookupCredentials reports whether some passdb can return stored
// passwords (so challenge-response mechanisms can be offered).
func (a *Auth) CanLookupCredentials() bool {
	for _, p := range a.passdbs {
		if _, ok := p.drv.(plainVerifier); !ok {
			return true
		}
	}
	return false
}

// UserLookup runs the userdb chain for r.User. prefetch holds userdb_
// fields a passdb returned (applied first; userdb results override them).
func (a *Auth) UserLookup(ctx context.Context, r *Request, prefetch authproto.Fields) (string, authproto.Fields, Result) {
	fields := append(authproto.Fields(nil), prefetch...)
	found, sawInternal := false, false
	var last Result = ResultUnknown
	for _, u := range a.userdbs {
		if (u.skip == "found" && found) || (u.skip == "notfound" && !found) {
			continue
		}
		f, res, err := u.drv.lookup(ctx, r)
		if err != nil {
			a.log.Error("userdb failed", zap.String("userdb", u.name), zap.String("user", r.User), zap.Error(err))
		}
		last = res
		rule := u.onFailure
		switch res {
		case ResultOK:
			rule = u.onSuccess
			f = applyFieldRules(f, u.defFields, u.overFields, r)
			if k, why := refusedField(f); k != "" {
				a.log.Error("userdb returned a refused field", zap.String("userdb", u.name), zap.String("field", k), zap.String("reason", why))
				return r.User, nil, ResultInternal
			}
			for _, x := range f {
				fields = fieldSet(fields, x.Key, x.Value, x.HasValue)
			}
			if nu, ok := fieldGet(f, "user"); ok && nu != "" {
				r.User = nu
			}
		case ResultInternal:
			rule = u.onInternal
			sawInternal = true
		}
		stop := true
		switch rule {
		case ruleReturn:
			found = res == ResultOK
		case ruleReturnOK:
			found = true
		case ruleReturnFail:
			found = false
		case ruleContinue:
			stop = false
			found = found || res == ResultOK
		case ruleContinueOK:
			stop, found = false, true
		case ruleContinueFail:
			stop, found = false, false
		}
		if stop {
			break
		}
	}
	fields = fieldDel(fields, "user")
	switch {
	case found:
		return r.User, fields, ResultOK
	case sawInternal:
		return r.User, nil, ResultInternal
	case last == ResultOK:
		return r.User, nil, ResultUnknown
	}
	return r.User, nil, ResultUnknown
}

// List calls fn for every user of the userdbs that can list (passwd-file
// with one file, passwd), filtered by a glob mask ("" for all).
func (a *Auth) List(ctx context.Context, mask string, fn func(string) error) error {
	listed := false
	for _, u := range a.userdbs {
		l, ok := u.drv.(userLister)
		if !ok {
			continue
		}
		listed = true
		err := l.list(ctx, func(name string) error {
			if mask != "" {
				if m, _ := path.Match(mask, name); !m {
					return nil
				}
			}
			return fn(name)
		})
		if err != nil {
			return err
		}
	}
	if !listed {
		return errors.New("no userdb can list users (passwd-file and passwd can)")
	}
	return nil
}
