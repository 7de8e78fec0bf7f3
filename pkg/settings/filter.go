package settings

import (
	"encoding/json"
	"strings"
)

// protocolMatches reports whether a `protocol` filter argument ("imap",
// "imap pop3", "!lmtp") selects name.
func protocolMatches(filter, name string) bool {
	var pos []string
	for _, w := range strings.Fields(filter) {
		if n, ok := strings.CutPrefix(w, "!"); ok {
			if n == name {
				return false
			}
			continue
		}
		pos = append(pos, w)
	}
	if len(pos) == 0 {
		return true
	}
	for _, p := range pos {
		if p == name {
			return true
		}
	}
	return false
}

// Protocol returns the root settings as the given protocol sees them: the
// root values with every matching `protocol` filter applied in file order.
// The result has Kind "" and Name "", so its accessors use root defaults.
func (c *Config) Protocol(name string) *Section {
	out := &Section{Kind: KindRoot, Pos: c.Root.Pos, Values: make(map[string]Value, len(c.Root.Values))}
	for k, v := range c.Root.Values {
		out.Values[k] = v
	}
	for _, s := range c.Root.Sections {
		if s.Kind != KindProtocol {
			out.Sections = append(out.Sections, s)
		}
	}
	for _, s := range c.Root.Sections {
		if s.Kind != KindProtocol || !protocolMatches(s.Name, name) {
			continue
		}
		for k, v := range s.Values {
			out.Values[k] = v
		}
		for _, ch := range s.Sections {
			if ch.Kind != KindProtocol {
				out.Sections = append(out.Sections, ch)
			}
		}
	}
	return out
}

// LocalNames returns the `local_name` filter sections (TLS SNI), their Name
// being the names as written.
func (c *Config) LocalNames() []*Section {
	return c.Root.Children(KindLocalName)
}

// ForService returns the snapshot one service gets: the root values, the
// filters, namespaces and plugin settings, and that service's own section.
// passdb, userdb (except for auth and auth-worker), dict and other services' sections are left out: a
// service must not see what it has no use for (database passwords). Other
// services keep each passdb's driver name only, on which the service list
// depends.
func (c *Config) ForService(name string) *Config {
	root := &Section{Kind: KindRoot, Pos: c.Root.Pos, Values: make(map[string]Value, len(c.Root.Values))}
	for k, v := range c.Root.Values {
		root.Values[k] = v
	}
	for _, s := range c.Root.Sections {
		switch {
		case isFilter(s.Kind), s.Kind == KindNamespace, s.Kind == KindPlugin,
			s.Kind == KindService && s.Name == name,
			// auth is the one service that reads the databases; the
			// root auth-worker sees them to know it is needed.
			(s.Kind == KindPassdb || s.Kind == KindUserdb) && (name == "auth" || name == "auth-worker"):
			root.Sections = append(root.Sections, s)
		case s.Kind == KindPassdb:
			// Every other service sees only each passdb's driver: which
			// services run depends on it (auth, anvil, auth-worker) and a
			// process must find itself in the service list it resolves;
			// args (a static passdb's password) stay out.
			only := &Section{Kind: s.Kind, Name: s.Name, Pos: s.Pos, Values: map[string]Value{}}
			if v, ok := s.Values["driver"]; ok {
				only.Values["driver"] = v
			}
			root.Sections = append(root.Sections, only)
		}
	}
	return &Config{Root: root}
}

// Marshal encodes the configuration as the JSON snapshot the master passes
// to a service (secrets included: the snapshot travels in a sealed memfd).
func (c *Config) Marshal() ([]byte, error) {
	return json.Marshal(c)
}

// Unmarshal decodes a snapshot written by Marshal.
func Unmarshal(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.Root == nil {
		c.Root = &Section{}
	}
	var fix func(*Section)
	fix = func(s *Section) {
		if s.Values == nil {
			s.Values = map[string]Value{}
		}
		for _, ch := range s.Sections {
			fix(ch)
		}
	}
	fix(c.Root)
	return &c, nil
}
