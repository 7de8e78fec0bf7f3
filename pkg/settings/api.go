package settings

import (
	"strconv"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/config"
)

// Config is a loaded, validated configuration.
type Config struct {
	Root *Section
	// Files lists every file read (cote.conf, includes, `<file` values), and
	// Globs every include pattern as an absolute path: the master watches
	// their parent directories for changes.
	Files []string
	Globs []string
	// Warnings are "file:line: setting: message" lines for settings that were
	// accepted but cannot matter (ssl_dh, ordering cipher directives, ...).
	Warnings []string
}

// Section is the root or one section of the configuration, with the values
// that were set in it. Accessors fall back on the schema default.
type Section struct {
	Kind     string // "" for the root; "service", "inet_listener", "protocol", ...
	Name     string // section name or filter argument; "" when none
	Pos      config.Pos
	Values   map[string]Value
	Sections []*Section
}

// Value is one setting as written (after `<file` and `$name` resolution).
type Value struct {
	Raw      string
	Pos      config.Pos
	FromFile string // set when written as `key = <file`
}

// Service is a resolved `service NAME { }` block: the schema's built-in
// definition of the service with the configuration's overrides applied.
type Service struct {
	Name        string
	Protocol    string   // the protocol that enables it ("imap"), "" for always-on services
	Type        string   // Dovecot's service type: "login", "" ...
	Executable  string   // binary name or path; relative names live in the libexec dir
	Args        []string // arguments after the binary in `executable`
	User        string   // user name the process runs as; "" keeps the master's (never root for login/mail)
	Group       string
	ExtraGroups []string
	Chroot      string // absolute path (base_dir-relative values resolved), "" for none

	ProcessLimit    int // > 0
	ClientLimit     int // > 0
	ProcessMinAvail int
	ServiceCount    int // 0 = unlimited clients per process
	IdleKill        time.Duration
	VszLimit        uint64 // bytes, 0 = unlimited

	Inet []InetListener
	Unix []UnixListener
	Pos  config.Pos
}

// InetListener is `inet_listener NAME { address port ssl haproxy reuse_port }`.
type InetListener struct {
	Name      string
	Addresses []string // from `address`, else the root `listen`; "*" and "::" allowed
	Port      int      // 0 disables the listener
	SSL       bool
	HAProxy   bool
	ReusePort bool
	Pos       config.Pos
}

// UnixListener is `unix_listener PATH { mode user group }`; Path is absolute
// (base_dir-relative values resolved).
type UnixListener struct {
	Name  string // the section name as written
	Path  string
	Mode  uint32
	User  string
	Group string
	Pos   config.Pos
}

// Get returns the value of name in s, or its schema default.
func (s *Section) Get(name string) string {
	if s != nil {
		if v, ok := s.Values[name]; ok {
			return v.Raw
		}
	}
	kind := ""
	if s != nil {
		kind = s.Kind
	}
	return Default(kind, name)
}

// IsSet reports whether name was written in s.
func (s *Section) IsSet(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.Values[name]
	return ok
}

// Bool returns a validated yes/no setting.
func (s *Section) Bool(name string) bool {
	v, _ := ParseBool(s.Get(name))
	return v
}

// Int returns a validated integer setting.
func (s *Section) Int(name string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s.Get(name)))
	return n
}

// Size returns a validated size setting in bytes (0 for "unlimited").
func (s *Section) Size(name string) uint64 {
	n, _ := ParseSize(s.Get(name))
	return n
}

// Duration returns a validated time setting.
func (s *Section) Duration(name string) time.Duration {
	d, _ := ParseDuration(s.Get(name))
	return d
}

// List returns a space- or comma-separated list setting.
func (s *Section) List(name string) []string {
	return strings.FieldsFunc(s.Get(name), func(r rune) bool {
		return r == ' ' || r == '\t' || r == ','
	})
}

// Children returns the sub-sections of the given kind, in file order.
func (s *Section) Children(kind string) []*Section {
	var out []*Section
	for _, c := range s.Sections {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}
