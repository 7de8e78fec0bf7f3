package settings

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/cote-mail/cote/pkg/config"
)

// LoadError lists every problem of a configuration, one
// "file:line: setting: problem" line each. A configuration with errors is
// never half used.
type LoadError struct {
	Errs []string
}

func (e *LoadError) Error() string { return strings.Join(e.Errs, "\n") }

// Load reads path with its includes and validates it against the schema.
func Load(path string) (*Config, error) {
	tree, err := config.ParseFile(path, config.Options{Default: parserDefault, DeferFiles: true})
	if err != nil {
		return nil, parseError(err)
	}
	return FromTree(tree)
}

// parserDefault gives `$name` references to settings not written yet their
// schema default.
func parserDefault(name string) (string, bool) {
	if s := lookup(KindRoot, name); s != nil {
		return s.Default, true
	}
	return "", false
}

func parseError(err error) error {
	var list config.ErrorList
	if errors.As(err, &list) {
		le := &LoadError{}
		for _, e := range list {
			le.Errs = append(le.Errs, e.Error())
		}
		return le
	}
	return &LoadError{Errs: []string{err.Error()}}
}

// FromTree validates a parsed tree; Load is ParseFile plus FromTree.
func FromTree(tree *config.Tree) (*Config, error) {
	l := &loader{warned: make(map[string]bool)}
	root := &Section{Kind: KindRoot, Values: map[string]Value{}}
	if tree.Root != nil {
		root.Pos = tree.Root.Pos
		l.fill(root, tree.Root, "")
	}
	c := &Config{Root: root, Files: tree.Files, Globs: tree.Globs}
	for _, w := range tree.Warnings {
		l.warns = append(l.warns, fmt.Sprint(w))
	}
	l.readFiles(root)
	for _, f := range l.files {
		if !slices.Contains(c.Files, f) {
			c.Files = append(c.Files, f)
		}
	}
	l.global(c)
	if len(l.errs) > 0 {
		return nil, &LoadError{Errs: l.errs}
	}
	c.Warnings = l.warns
	return c, nil
}

type loader struct {
	errs   []string
	warns  []string
	warned map[string]bool // settings already warned about: one warning each
	// files are the deferred `<file` values read, for Config.Files.
	files []string
}

func (l *loader) errorf(pos config.Pos, key, format string, args ...any) {
	l.errs = append(l.errs, (&config.Error{Pos: pos, Key: key, Msg: fmt.Sprintf(format, args...)}).Error())
}

func (l *loader) warnOnce(pos config.Pos, key, msg string) {
	if l.warned[key] {
		return
	}
	l.warned[key] = true
	l.warns = append(l.warns, (&config.Error{Pos: pos, Key: key, Msg: msg}).Error())
}

// fill adds the children of n to sec. service is the enclosing service
// name, "" outside services.
func (l *loader) fill(sec *Section, n *config.Node, service string) {
	for _, ch := range n.Children {
		if ch.Section {
			l.subsection(sec, ch, service)
		} else {
			l.setting(sec, ch, service)
		}
	}
}

func (l *loader) setting(sec *Section, n *config.Node, service string) {
	v := Value{Raw: n.Value, Pos: n.Pos, FromFile: n.FromFile}
	switch sec.Kind {
	case KindPlugin:
		// Plugin settings configure mail_plugins. The one plugin cote has,
		// quota, reads its keys through pkg/mailuser, which refuses quota
		// keys it does not honour; keys of plugins that are not loaded do
		// nothing, in Dovecot as here (mail_plugins refuses those plugins).
		// Sizes are checked here so a bad one is a config error at load,
		// not a service that fails at start.
		if n.Key == "quota_max_mail_size" && !deferred(n) {
			if _, err := ParseSize(n.Value); err != nil {
				l.errorf(n.Pos, n.Key, "%v", err)
				return
			}
		}
		sec.Values[n.Key] = v
		return
	case KindDict:
		l.warnOnce(n.Pos, "dict", "not used: cote has no dict service (and refuses the plugins that would use one)")
		sec.Values[n.Key] = v
		return
	case KindLocal, KindRemote:
		l.errorf(n.Pos, n.Key, "%s %s: settings filtered by IP address are not supported yet", sec.Kind, sec.Name)
		return
	case KindLocalName:
		if !strings.HasPrefix(n.Key, "ssl") {
			l.errorf(n.Pos, n.Key, "only ssl_* settings are supported inside local_name")
			return
		}
	}
	if service != "" && !coteServices[service] {
		l.errorf(n.Pos, n.Key, "service %s is a Dovecot service that cote does not have; remove this setting", service)
		return
	}
	s := lookup(sec.Kind, n.Key)
	if s == nil {
		where := ""
		if sec.Kind != KindRoot && !isFilter(sec.Kind) {
			where = " in " + sec.Kind
		}
		l.errorf(n.Pos, n.Key, "unknown setting%s%s", where, didYouMean(n.Key, namesOf(sec.Kind)))
		return
	}
	if s.has(Compat) {
		// A deferred `<file` value is not read yet; a file given is taken
		// as a non-default value.
		if deferred(n) || !sameAsDefault(n.Value, s.Default) {
			if s.has(Warn) {
				l.warnOnce(n.Pos, n.Key, s.WarnWhy)
			} else {
				l.errorf(n.Pos, n.Key, "cote does not implement this Dovecot setting; only its default %q is accepted", s.Default)
				return
			}
		}
		sec.Values[n.Key] = v
		return
	}
	if !deferred(n) && !l.check(s, n.Pos, n.Key, n.Value) {
		return
	}
	sec.Values[n.Key] = v
}

// deferred reports whether n is a `key = <file` value left unread.
func deferred(n *config.Node) bool { return n.FromFile != "" && n.Value == "" }

// check validates a value against its schema entry and gives its warning.
func (l *loader) check(s *Setting, pos config.Pos, key, value string) bool {
	if p := checkValue(s, value); p != "" {
		l.errorf(pos, key, "%s", p)
		return false
	}
	if s.WarnIf != nil {
		if w := s.WarnIf(value); w != "" {
			l.warnOnce(pos, key, w)
		}
	}
	return true
}

// allKinds is every section kind, for did-you-mean.
var allKinds = []string{KindService, KindInetListener, KindUnixListener, KindFifoListener, KindProtocol, KindLocal, KindRemote, KindLocalName, KindPassdb, KindUserdb, KindNamespace, KindMailbox, KindPlugin, KindDict}

func (l *loader) subsection(sec *Section, n *config.Node, service string) {
	kind := n.Key
	allowed := false
	for _, k := range childKinds[sec.Kind] {
		if k == kind {
			allowed = true
		}
	}
	if !allowed {
		if containsFold(allKinds, kind) {
			where := "at the top level"
			if sec.Kind != KindRoot {
				where = "inside " + sec.Kind
			}
			l.errorf(n.Pos, kind, "section not allowed %s", where)
		} else {
			l.errorf(n.Pos, kind, "unknown section%s", didYouMean(kind, allKinds))
		}
		return
	}
	if !l.checkSectionName(sec, n) {
		return
	}
	child := findSection(sec, kind, n.Name)
	if child == nil {
		child = &Section{Kind: kind, Name: n.Name, Pos: n.Pos, Values: map[string]Value{}}
		sec.Sections = append(sec.Sections, child)
	}
	if kind == KindService {
		service = n.Name
	}
	l.fill(child, n, service)
}

// findSection returns the section of kind and name to merge into: same-kind
// same-name sections merge as in Dovecot, except unnamed passdb and userdb,
// which are each one more database.
func findSection(sec *Section, kind, name string) *Section {
	if (kind == KindPassdb || kind == KindUserdb) && name == "" {
		return nil
	}
	for _, c := range sec.Sections {
		if c.Kind == kind && c.Name == name {
			return c
		}
	}
	return nil
}

// protocolFilterNames are the names a `protocol` filter may use: cote's
// protocols and the Dovecot programs that read the same configuration.
var protocolFilterNames = []string{"imap", "pop3", "lmtp", "smtp", "submission", "lda", "doveadm", "indexer-worker", "sieve", "imap-urlauth"}

func (l *loader) checkSectionName(sec *Section, n *config.Node) bool {
	kind, name := n.Key, n.Name
	switch kind {
	case KindService:
		if name == "" {
			l.errorf(n.Pos, kind, "section needs a name")
			return false
		}
		if !knownServices[name] {
			l.errorf(n.Pos, kind, "unknown service %q%s", name, didYouMean(name, knownServiceNames()))
			return false
		}
	case KindUnixListener, KindFifoListener, KindMailbox, KindLocalName:
		if name == "" {
			l.errorf(n.Pos, kind, "section needs a name")
			return false
		}
	case KindProtocol:
		words := strings.Fields(name)
		if len(words) == 0 {
			l.errorf(n.Pos, kind, "filter needs a protocol name")
			return false
		}
		for _, w := range words {
			p := strings.TrimPrefix(w, "!")
			if !containsFold(protocolFilterNames, p) {
				l.errorf(n.Pos, kind, "unknown protocol %q%s", p, didYouMean(p, protocolFilterNames))
				return false
			}
		}
	case KindLocal, KindRemote:
		for _, w := range strings.Fields(name) {
			if _, err := netip.ParsePrefix(w); err == nil {
				continue
			}
			if _, err := netip.ParseAddr(w); err == nil {
				continue
			}
			l.errorf(n.Pos, kind, "invalid filter %q (use an IP address or CIDR network)", w)
			return false
		}
	case KindPlugin, KindDict:
		if name != "" {
			l.errorf(n.Pos, kind, "section takes no name")
			return false
		}
	}
	return true
}

// authdb validates a passdb or userdb section and reports, once, that the
// auth service is not built.
func (l *loader) authdb(s *Section) {
	drivers := passdbDrivers
	if s.Kind == KindUserdb {
		drivers = userdbDrivers
	}
	d, ok := s.Values["driver"]
	switch {
	case !ok || d.Raw == "":
		l.errorf(s.Pos, s.Kind, "driver is missing (use %s)", quoteList(drivers))
		return
	case !containsFold(drivers, d.Raw):
		l.errorf(d.Pos, "driver", "unknown %s driver %q (use %s)%s", s.Kind, d.Raw, quoteList(drivers), didYouMean(d.Raw, drivers))
		return
	}
}

// global checks what spans sections: protocols and the resolved services.
func (l *loader) global(c *Config) {
	for _, name := range []string{"protocols"} {
		v, ok := c.Root.Values[name]
		if !ok {
			continue
		}
		words := splitList(v.Raw)
		for _, w := range words {
			if w == "none" && len(words) > 1 {
				l.errorf(v.Pos, name, `"none" cannot be combined with other protocols`)
			}
		}
	}
	var walk func(*Section)
	walk = func(s *Section) {
		for _, ch := range s.Sections {
			if ch.Kind == KindPassdb || ch.Kind == KindUserdb {
				l.authdb(ch)
			} else if isFilter(ch.Kind) {
				walk(ch)
			}
		}
	}
	walk(c.Root)
	_, errs := c.resolveServices()
	l.errs = append(l.errs, errs...)
}

// readFiles reads the deferred `key = <file` values that stay in effect after
// merging, so a file named by an overridden value never needs to exist.
func (l *loader) readFiles(sec *Section) {
	for _, key := range slices.Sorted(maps.Keys(sec.Values)) {
		v := sec.Values[key]
		if v.FromFile == "" || v.Raw != "" {
			continue
		}
		data, err := config.ReadValueFile(v.FromFile)
		if err != nil {
			l.errorf(v.Pos, key, "%v", err)
			continue
		}
		if s := lookup(sec.Kind, key); s != nil && !s.has(Compat) && !l.check(s, v.Pos, key, data) {
			delete(sec.Values, key)
			continue
		}
		v.Raw = data
		sec.Values[key] = v
		l.files = append(l.files, v.FromFile)
	}
	for _, ch := range sec.Sections {
		l.readFiles(ch)
	}
}
