package settings

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/cote-mail/cote/pkg/config"
)

// BuiltServices names the service binaries this build has. A service of an
// enabled protocol that is not built is reported by MissingProtocols and
// binds nothing.
var BuiltServices = map[string]bool{"imap-login": true, "pop3-login": true, "pop3": true, "imap": true, "auth": true, "auth-worker": true, "anvil": true, "lmtp": true, "smtpd": true, "queue": true}

// serviceDef is the schema's built-in definition of a service.
type serviceDef struct {
	Protocol   string
	Type       string
	Executable string
	// User names the root setting that gives the user.
	UserFrom string
	// GroupFrom names the root setting that gives the primary group
	// ("" or an empty value: the user's primary group).
	GroupFrom string
	Chroot    string // relative to base_dir
	// ServiceCount 0 and MinAvailCPUs follow Dovecot's high-performance
	// mode: a cote session is a goroutine, so one process serves many.
	ServiceCount int
	MinAvailCPUs bool
	Inet         []inetDef
	// Unix lists the default unix listeners; a unix_listener section of
	// the same name overrides its mode, user and group.
	Unix []unixDef
	// MinAvail is process_min_avail's default when MinAvailCPUs is unset.
	MinAvail int
	// SingleProcess services keep state that must be reached by one
	// process (auth: finished authentications wait there for REQUEST), so
	// process_limit is 1 and cannot be raised.
	SingleProcess bool
	// Passdb: enabled only when some protocol is and a passdb is
	// configured (auth); Worker: only when a passdb needs root (shadow,
	// pam) — the auth-worker runs as root, so it never runs idle.
	Passdb, Worker bool
}

// unixDef is a built-in unix listener: Path relative to base_dir, owner
// from the root setting UserFrom ("" keeps root's).
type unixDef struct {
	Name     string
	Mode     uint32
	UserFrom string
	// GroupFrom names the root setting whose value is the socket's group
	// (a group of that name), when it is set.
	GroupFrom string
}

type inetDef struct {
	Name string
	Port int
	SSL  bool
}

// serviceDefs holds the definitions of the services cote builds.
var serviceDefs = map[string]serviceDef{
	"imap-login": {
		Protocol: "imap", Type: "login", Executable: "imap-login", UserFrom: "default_login_user",
		Chroot: "login", ServiceCount: 0, MinAvailCPUs: true,
		Inet: []inetDef{{Name: "imap", Port: 143}, {Name: "imaps", Port: 993, SSL: true}},
	},
	// pop3-login is imap-login's POP3 twin (RFC 1939 port 110, RFC 8314
	// pop3s 995), chrooted to the login directory as Dovecot's.
	"pop3-login": {
		Protocol: "pop3", Type: "login", Executable: "pop3-login", UserFrom: "default_login_user",
		Chroot: "login", ServiceCount: 0, MinAvailCPUs: true,
		Inet: []inetDef{{Name: "pop3", Port: 110}, {Name: "pop3s", Port: 995, SSL: true}},
	},
	// imap serves the post-login sessions of clients that imap-login
	// hands over on login/imap (ARCHITECTURE.md contract 4): inside the
	// login chroot directory (0750 root:login group), so only login
	// processes reach it, hence mode 0666. It runs as mail_uid (virtual
	// users share one uid) and many sessions share a process.
	"imap": {
		Protocol: "imap", Executable: "imap", UserFrom: "mail_uid", GroupFrom: "mail_gid",
		ServiceCount: 0, MinAvailCPUs: true,
		Unix: []unixDef{{Name: "login/imap", Mode: 0o666}},
	},
	// pop3 is imap's POP3 twin: pop3-login hands clients over on
	// login/pop3, inside the login chroot directory, hence 0666.
	"pop3": {
		Protocol: "pop3", Executable: "pop3", UserFrom: "mail_uid", GroupFrom: "mail_gid",
		ServiceCount: 0, MinAvailCPUs: true,
		Unix: []unixDef{{Name: "login/pop3", Mode: 0o666}},
	},
	// lmtp delivers into the store as mail_uid (virtual users share it).
	// Its unix socket is 0660 owned by mail_uid and the group named like
	// mail_owner: only that user, cote's queue (running as mail_owner, see
	// scripts/mkusers.sh for its same-name group) and root may deliver; Dovecot's
	// stock mode is 0666, which lets every local user forge mail into any
	// mailbox. Postfix delivering through its private/ directory is given
	// access with a unix_listener section (user = postfix). The inet
	// listener (port 24, on `listen`) is Dovecot's usual lmtp port.
	"lmtp": {
		Protocol: "lmtp", Executable: "lmtp", UserFrom: "mail_uid", GroupFrom: "mail_gid",
		ServiceCount: 0, MinAvailCPUs: true,
		Unix: []unixDef{{Name: "lmtp", Mode: 0o660, UserFrom: "mail_uid", GroupFrom: "mail_owner"}},
		// LMTP takes mail for any local user without authentication, so
		// the inet listener is off (port 0) until the admin sets a port,
		// as in Dovecot's stock 10-master.conf.
		Inet: []inetDef{{Name: "lmtp", Port: 0}},
	},
	// queue delivers the spool (queue_directory, which the master creates
	// 0700 owned by mail_owner) over LMTP and SMTP, and takes local mail on
	// base_dir/pickup (0666: any local user may submit; the queue reads the
	// client's uid with SO_PEERCRED). One process, started with the master.
	"queue": {
		Protocol: "smtp", Executable: "queue", UserFrom: "mail_owner", MinAvail: 1, SingleProcess: true,
		Unix: []unixDef{{Name: "pickup", Mode: 0o666}},
	},
	// smtpd is the receiving MTA (pkg/smtpd): port 25 for MX traffic,
	// 587 (STARTTLS) and 465 (implicit TLS) for submission. It runs as
	// mail_owner, writes the spool and never links the store. Many
	// sessions share a process.
	"smtpd": {
		Protocol: "smtp", Executable: "smtpd", UserFrom: "mail_owner",
		ServiceCount: 0, MinAvailCPUs: true,
		Inet: []inetDef{{Name: "smtp", Port: 25}, {Name: "submission", Port: 587}, {Name: "submissions", Port: 465, SSL: true}},
	},
	// auth serves logins (auth-client; login/auth-client inside the
	// login chroot, which only the login user's group can enter), the
	// post-login REQUEST (auth-master, 0600 owned by mail_uid: the imap
	// processes redeem logins there, root always can) and userdb lookups
	// (auth-userdb, 0666 as Dovecot: it answers no passwords).
	"auth": {
		Executable: "auth", UserFrom: "default_internal_user", MinAvail: 1, SingleProcess: true, Passdb: true,
		Unix: []unixDef{
			{Name: "auth-client", Mode: 0o600, UserFrom: "default_internal_user"},
			{Name: "login/auth-client", Mode: 0o666},
			{Name: "auth-master", Mode: 0o600, UserFrom: "mail_uid"},
			{Name: "auth-userdb", Mode: 0o666, UserFrom: "default_internal_user"},
			// smtpd's AUTH on submission (mail_owner only).
			{Name: "auth-smtp", Mode: 0o600, UserFrom: "mail_owner"},
		},
	},
	// anvil keeps connection counts and auth penalties in memory, so it
	// is one process. It runs with auth (Passdb). base_dir/anvil is for
	// auth (default_internal_user) and root (coteadm who); login/anvil
	// lies inside the login chroot directory, which only login processes
	// can enter; anvil-postlogin (0600 owned by mail_uid) is where the
	// post-login processes register their sessions
	// (mail_max_userip_connections, coteadm who).
	"anvil": {
		Executable: "anvil", UserFrom: "default_internal_user", MinAvail: 1, SingleProcess: true, Passdb: true,
		Unix: []unixDef{
			{Name: "anvil", Mode: 0o600, UserFrom: "default_internal_user"},
			{Name: "login/anvil", Mode: 0o666},
			{Name: "anvil-postlogin", Mode: 0o600, UserFrom: "mail_uid"},
			// smtpd's smtpd_client_connection_count_limit and _rate_limit (mail_owner only).
			{Name: "anvil-smtp", Mode: 0o600, UserFrom: "mail_owner"},
		},
	},
	// auth-worker runs as root (shadow file, PAM) and is reached only by
	// auth; the master spawns it when auth first connects.
	"auth-worker": {
		Executable: "auth-worker", SingleProcess: true, Passdb: true, Worker: true,
		Unix: []unixDef{{Name: "auth-worker", Mode: 0o600, UserFrom: "default_internal_user"}},
	},
}

// coteServices are the services cote has or will have; settings in their
// sections are kept even before the service is built.
var coteServices = map[string]bool{
	"imap-login": true, "pop3-login": true, "imap": true, "pop3": true, "lmtp": true,
	"auth": true, "auth-worker": true, "anvil": true, "smtpd": true, "queue": true,
}

// knownServices are cote's services plus Dovecot 2.3's: a Dovecot tree
// names them in empty sections, which are accepted.
var knownServices = func() map[string]bool {
	m := map[string]bool{}
	for k := range coteServices {
		m[k] = true
	}
	for _, k := range []string{"aggregator", "config", "dict", "dict-async", "director", "dns-client", "doveadm",
		"health-check", "imap-hibernate", "imap-urlauth", "imap-urlauth-login", "imap-urlauth-worker", "indexer",
		"indexer-worker", "ipc", "log", "old-stats", "replicator", "stats", "submission", "submission-login",
		"tcpwrap", "managesieve", "managesieve-login", "quota-status"} {
		m[k] = true
	}
	return m
}()

// serviceProtocols maps cote's services to the protocol that enables them.
var serviceProtocols = map[string]string{
	"imap-login": "imap", "imap": "imap", "pop3-login": "pop3", "pop3": "pop3",
	"lmtp": "lmtp", "smtpd": "smtp", "queue": "smtp",
}

func knownServiceNames() []string {
	var out []string
	for k := range knownServices {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Services returns the enabled services of this build, resolved: the
// built-in definitions with the configuration's overrides and the default_*
// settings applied. Load has validated them.
func (c *Config) Services() []Service {
	s, _ := c.resolveServices()
	return s
}

// protocolSet returns the words of `protocols`.
func (c *Config) protocolSet() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range c.Root.List("protocols") {
		if p != "none" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// MissingProtocols returns the protocols listed in `protocols` that no
// service of this build serves, in the order written.
func (c *Config) MissingProtocols() []string {
	var out []string
	for _, p := range c.protocolSet() {
		served := false
		for name := range BuiltServices {
			if BuiltServices[name] && serviceProtocols[name] == p {
				served = true
			}
		}
		if !served {
			out = append(out, p)
		}
	}
	return out
}

// resolveServices builds the enabled services and returns every problem
// found on the way as "file:line: setting: problem".
func (c *Config) resolveServices() ([]Service, []string) {
	var errs []string
	errorf := func(pos config.Pos, key, format string, args ...any) {
		errs = append(errs, (&config.Error{Pos: pos, Key: key, Msg: fmt.Sprintf(format, args...)}).Error())
	}
	root := c.Root
	enabled := map[string]bool{}
	for _, p := range c.protocolSet() {
		enabled[p] = true
	}
	baseDir := root.Get("base_dir")
	sections := map[string]*Section{}
	for _, s := range root.Children(KindService) {
		sections[s.Name] = s
	}
	var names []string
	for name := range serviceDefs {
		if BuiltServices[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	type bound struct {
		svc, listener string
		pos           config.Pos
	}
	ports := map[string]bound{}
	var out []Service
	for _, name := range names {
		def := serviceDefs[name]
		sec := sections[name]
		if sec != nil {
			for _, k := range []struct{ key, want string }{{"protocol", def.Protocol}, {"type", def.Type}} {
				if v, ok := sec.Values[k.key]; ok && v.Raw != k.want {
					errorf(v.Pos, k.key, "cannot be changed for service %s (it is %q)", name, k.want)
				}
			}
			for _, f := range sec.Children(KindFifoListener) {
				errorf(f.Pos, KindFifoListener, "service %s has no FIFO listeners", name)
			}
		}
		if def.Protocol != "" && !enabled[def.Protocol] {
			continue
		}
		if def.Passdb && (len(enabled) == 0 || !hasPassdb(root, def.Worker)) {
			continue
		}
		get := func(key, def string) string {
			if sec.IsSet(key) {
				return sec.Values[key].Raw
			}
			return def
		}
		s := Service{Name: name, Protocol: def.Protocol, Type: def.Type}
		if sec != nil {
			s.Pos = sec.Pos
		}
		exe := strings.Fields(get("executable", def.Executable))
		if len(exe) > 0 {
			s.Executable, s.Args = exe[0], exe[1:]
		}
		s.User = get("user", root.Get(def.UserFrom))
		groupDef := ""
		if def.GroupFrom != "" {
			groupDef = root.Get(def.GroupFrom)
		}
		s.Group = get("group", groupDef)
		if g := splitList(get("extra_groups", "")); len(g) > 0 {
			s.ExtraGroups = g
		}
		s.Chroot = resolvePath(baseDir, get("chroot", def.Chroot))
		s.ProcessLimit = atoi(get("process_limit", root.Get("default_process_limit")))
		if def.SingleProcess {
			if sec.IsSet("process_limit") && s.ProcessLimit != 1 {
				errorf(sec.Values["process_limit"].Pos, "process_limit", "service %s must be a single process (it keeps state other processes must reach); use 1", name)
			}
			s.ProcessLimit = 1
		}
		s.ClientLimit = atoi(get("client_limit", root.Get("default_client_limit")))
		minAvail := fmt.Sprint(def.MinAvail)
		if def.MinAvailCPUs {
			minAvail = fmt.Sprint(runtime.NumCPU())
		}
		s.ProcessMinAvail = atoi(get("process_min_avail", minAvail))
		s.ServiceCount = atoi(get("service_count", fmt.Sprint(def.ServiceCount)))
		s.IdleKill, _ = ParseDuration(get("idle_kill", root.Get("default_idle_kill")))
		s.VszLimit, _ = ParseSize(get("vsz_limit", root.Get("default_vsz_limit")))
		if s.ProcessMinAvail > s.ProcessLimit {
			pos := s.Pos
			if sec.IsSet("process_min_avail") {
				pos = sec.Values["process_min_avail"].Pos
			}
			errorf(pos, "process_min_avail", "%d exceeds process_limit %d", s.ProcessMinAvail, s.ProcessLimit)
		}

		var written []*Section
		if sec != nil {
			written = sec.Children(KindInetListener)
		}
		byName := map[string]*Section{}
		for _, l := range written {
			byName[l.Name] = l
		}
		addInet := func(name string, port int, ssl bool, ls *Section) {
			in := InetListener{Name: name, Port: port, SSL: ssl}
			if ls != nil {
				in.Pos = ls.Pos
				if ls.IsSet("port") {
					in.Port = ls.Int("port")
					in.Pos = ls.Values["port"].Pos
				}
				if ls.IsSet("ssl") {
					in.SSL = ls.Bool("ssl")
				}
				in.HAProxy = ls.Bool("haproxy")
				in.ReusePort = ls.Bool("reuse_port")
			}
			if ls.IsSet("address") {
				in.Addresses = ls.List("address")
			} else {
				in.Addresses = root.List("listen")
			}
			if in.Port > 0 && in.Pos.Line > 0 {
				for _, a := range in.Addresses {
					key := fmt.Sprintf("%s|%d", a, in.Port)
					if prev, ok := ports[key]; ok {
						errorf(in.Pos, "port", "%d on %s is already used by service %s inet_listener %s (%s)", in.Port, a, prev.svc, prev.listener, prev.pos)
						break
					}
				}
			}
			for _, a := range in.Addresses {
				key := fmt.Sprintf("%s|%d", a, in.Port)
				if _, ok := ports[key]; !ok && in.Port > 0 {
					ports[key] = bound{s.Name, in.Name, in.Pos}
				}
			}
			s.Inet = append(s.Inet, in)
		}
		for _, d := range def.Inet {
			addInet(d.Name, d.Port, d.SSL, byName[d.Name])
		}
		for _, l := range written {
			builtin := false
			for _, d := range def.Inet {
				builtin = builtin || d.Name == l.Name
			}
			if !builtin {
				addInet(l.Name, 0, false, l)
			}
		}
		var unixWritten []*Section
		if sec != nil {
			unixWritten = sec.Children(KindUnixListener)
		}
		for _, d := range def.Unix {
			ul := UnixListener{Name: d.Name, Path: resolvePath(baseDir, d.Name), Mode: d.Mode}
			if d.UserFrom != "" {
				ul.User = root.Get(d.UserFrom)
			}
			if d.GroupFrom != "" {
				ul.Group = root.Get(d.GroupFrom)
			}
			for _, u := range unixWritten {
				if u.Name != d.Name {
					continue
				}
				ul.Pos = u.Pos
				if u.IsSet("mode") {
					ul.Mode, _ = ParseMode(u.Get("mode"))
				}
				if u.IsSet("user") {
					ul.User = u.Get("user")
				}
				if u.IsSet("group") {
					ul.Group = u.Get("group")
				}
			}
			s.Unix = append(s.Unix, ul)
		}
		for _, u := range unixWritten {
			builtin := false
			for _, d := range def.Unix {
				builtin = builtin || d.Name == u.Name
			}
			if builtin {
				continue
			}
			mode, _ := ParseMode(u.Get("mode"))
			s.Unix = append(s.Unix, UnixListener{Name: u.Name, Path: resolvePath(baseDir, u.Name),
				Mode: mode, User: u.Get("user"), Group: u.Get("group"), Pos: u.Pos})
		}
		out = append(out, s)
	}
	return out, errs
}

// hasPassdb reports whether s or its filters hold a passdb section (with
// root true: a passdb whose driver needs root, shadow or pam).
func hasPassdb(s *Section, root bool) bool {
	for _, ch := range s.Sections {
		switch {
		case ch.Kind == KindPassdb:
			if d := ch.Get("driver"); !root || d == "shadow" || d == "pam" {
				return true
			}
		case isFilter(ch.Kind):
			if hasPassdb(ch, root) {
				return true
			}
		}
	}
	return false
}

// resolvePath makes v absolute against base; "" stays "".
func resolvePath(base, v string) string {
	if v == "" {
		return ""
	}
	if filepath.IsAbs(v) {
		return filepath.Clean(v)
	}
	return filepath.Join(base, v)
}

func atoi(s string) int {
	var n int
	fmt.Sscan(strings.TrimSpace(s), &n)
	return n
}
