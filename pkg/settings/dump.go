package settings

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// DumpMode selects what Dump prints: NonDefault (`cote config -n`) only
// what differs from the defaults, All (`-a`) every setting with its
// effective value, neither: what the files set. Secrets (`-P`) shows
// secret values instead of a placeholder.
type DumpMode struct{ NonDefault, All, Secrets bool }

const hidden = "# hidden, use -P to show it"

// Dump writes the configuration in Dovecot's syntax.
func (c *Config) Dump(w io.Writer, mode DumpMode) error {
	bw := bufio.NewWriter(w)
	d := dumper{w: bw, mode: mode, resolved: map[string]bool{}}
	services := c.Services()
	for _, s := range services {
		d.resolved[s.Name] = true
	}
	d.section(c.Root, "")
	if mode.All {
		// The enabled services with their effective values, as the
		// master runs them.
		for _, s := range services {
			d.service(s)
		}
	}
	return bw.Flush()
}

type dumper struct {
	w        *bufio.Writer
	mode     DumpMode
	resolved map[string]bool // services printed from Services() in All mode
}

// isSecret reports whether a value must be hidden: secret settings,
// *_password, and *_key values read from a file.
func isSecret(kind, name string, v Value) bool {
	if s := lookup(kind, name); s != nil && s.has(Secret) {
		return true
	}
	return strings.HasSuffix(name, "_password") || (strings.HasSuffix(name, "_key") && v.FromFile != "")
}

func (d *dumper) value(kind, name string, v Value) string {
	if v.Raw == "" && v.FromFile == "" {
		return ""
	}
	if isSecret(kind, name, v) && !d.mode.Secrets {
		return hidden
	}
	if v.FromFile != "" {
		return "<" + v.FromFile
	}
	return quote(v.Raw)
}

// quote writes v so that Dovecot's parser reads it back unchanged.
func quote(v string) string {
	if v == "" || (strings.TrimSpace(v) == v && !strings.ContainsAny(v, "#{}\"'\n")) {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// isDefault reports whether v is the default of name in s.
func isDefault(s *Section, name string, v Value) bool {
	if v.FromFile != "" {
		return false
	}
	def, ok := sectionDefault(s, name)
	return ok && (v.Raw == def || sameAsDefault(v.Raw, def))
}

// sectionDefault returns the default of name in s: the built-in service
// definitions for a built service, else the schema's.
func sectionDefault(s *Section, name string) (string, bool) {
	kind := s.Kind
	if isFilter(kind) {
		kind = KindRoot
	}
	if kind == KindService {
		if def, ok := serviceDefs[s.Name]; ok {
			switch name {
			case "executable":
				return def.Executable, true
			case "chroot":
				return def.Chroot, true
			case "protocol":
				return def.Protocol, true
			case "type":
				return def.Type, true
			case "service_count":
				return fmt.Sprint(def.ServiceCount), true
			}
		}
	}
	st := lookup(kind, name)
	if st == nil {
		return "", false
	}
	if (kind == KindService || kind == KindInetListener) && st.Default == "" && st.Type != TString {
		// Per-service values fall back on default_* or the built-in
		// definition: any value written differs from "unset".
		return "", false
	}
	return st.Default, true
}

func (d *dumper) line(indent, key, val string) {
	if val == "" {
		fmt.Fprintf(d.w, "%s%s =\n", indent, key)
		return
	}
	fmt.Fprintf(d.w, "%s%s = %s\n", indent, key, val)
}

// section prints s's body at indent. It reports whether it printed
// anything, so -n can leave out sections that only hold defaults.
func (d *dumper) section(s *Section, indent string) bool {
	printed := false
	keys := make([]string, 0, len(s.Values))
	for k := range s.Values {
		keys = append(keys, k)
	}
	if d.mode.All && s.Kind != KindPlugin && s.Kind != KindDict && s.Kind != KindService {
		for _, k := range namesOf(s.Kind) {
			st := lookup(s.Kind, k)
			if _, ok := s.Values[k]; !ok && !st.has(Compat) {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	kind := s.Kind
	for _, k := range keys {
		v, set := s.Values[k]
		if !set {
			if isFilter(s.Kind) {
				continue
			}
			v = Value{Raw: Default(kind, k)}
		} else if d.mode.NonDefault && isDefault(s, k, v) {
			continue
		}
		d.line(indent, k, d.value(kind, k, v))
		printed = true
	}
	for _, ch := range s.Sections {
		if d.mode.All && ch.Kind == KindService && d.resolved[ch.Name] {
			continue // printed resolved by Dump
		}
		var body strings.Builder
		sub := dumper{w: bufio.NewWriter(&body), mode: d.mode, resolved: d.resolved}
		any := sub.section(ch, indent+"  ")
		sub.w.Flush()
		if !any && d.mode.NonDefault && ch.Kind != KindPassdb && ch.Kind != KindUserdb {
			continue
		}
		head := ch.Kind
		if ch.Name != "" {
			head += " " + quoteName(ch.Name)
		}
		fmt.Fprintf(d.w, "%s%s {\n%s%s}\n", indent, head, body.String(), indent)
		printed = true
	}
	return printed
}

func quoteName(n string) string {
	if strings.ContainsAny(n, " \t\"{}#") && !strings.HasPrefix(n, "!") {
		if strings.Contains(n, " ") && !strings.ContainsAny(n, "\"{}#") {
			return `"` + n + `"`
		}
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(n) + `"`
	}
	return n
}

// service prints a resolved built service with every effective value.
func (d *dumper) service(s Service) {
	w := d.w
	fmt.Fprintf(w, "service %s {\n", s.Name)
	exe := strings.Join(append([]string{s.Executable}, s.Args...), " ")
	d.line("  ", "chroot", quote(s.Chroot))
	d.line("  ", "client_limit", fmt.Sprint(s.ClientLimit))
	d.line("  ", "executable", quote(exe))
	d.line("  ", "extra_groups", strings.Join(s.ExtraGroups, " "))
	d.line("  ", "group", s.Group)
	d.line("  ", "idle_kill", formatDuration(s.IdleKill.Seconds()))
	for _, in := range s.Inet {
		fmt.Fprintf(w, "  inet_listener %s {\n", quoteName(in.Name))
		d.line("    ", "address", strings.Join(in.Addresses, ", "))
		d.line("    ", "haproxy", yesNo(in.HAProxy))
		d.line("    ", "port", fmt.Sprint(in.Port))
		d.line("    ", "reuse_port", yesNo(in.ReusePort))
		d.line("    ", "ssl", yesNo(in.SSL))
		fmt.Fprintf(w, "  }\n")
	}
	d.line("  ", "process_limit", fmt.Sprint(s.ProcessLimit))
	d.line("  ", "process_min_avail", fmt.Sprint(s.ProcessMinAvail))
	d.line("  ", "protocol", s.Protocol)
	d.line("  ", "service_count", fmt.Sprint(s.ServiceCount))
	d.line("  ", "type", s.Type)
	for _, u := range s.Unix {
		fmt.Fprintf(w, "  unix_listener %s {\n", quoteName(u.Name))
		d.line("    ", "group", u.Group)
		d.line("    ", "mode", fmt.Sprintf("%04o", u.Mode))
		d.line("    ", "user", u.User)
		fmt.Fprintf(w, "  }\n")
	}
	d.line("  ", "user", s.User)
	vsz := "unlimited"
	if s.VszLimit > 0 {
		vsz = formatSize(s.VszLimit)
	}
	d.line("  ", "vsz_limit", vsz)
	fmt.Fprintf(w, "}\n")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func formatDuration(secs float64) string {
	n := int64(secs)
	switch {
	case n == 0:
		return "0"
	case n%3600 == 0:
		return fmt.Sprintf("%d hours", n/3600)
	case n%60 == 0:
		return fmt.Sprintf("%d mins", n/60)
	}
	return fmt.Sprintf("%d secs", n)
}

func formatSize(n uint64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "k"}} {
		if n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}
