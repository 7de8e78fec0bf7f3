package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AliasOptions controls loading and expansion of alias tables.
type AliasOptions struct {
	// AllowPipes and AllowFiles let "|command" and "/path" targets through;
	// when false (the default) Expand refuses an alias that uses them, so a
	// table written for a local delivery agent cannot make the MTA run
	// commands or write files it was never meant to.
	AllowPipes, AllowFiles bool
	// RecipientDelimiter is Postfix's recipient_delimiter: "user+ext" is
	// looked up as itself, then as "user".
	RecipientDelimiter string
	// MaxDepth bounds recursive expansion (0 means 20). Deeper chains are an
	// error rather than silent truncation.
	MaxDepth int
	// Origin is the domain given to a target without one (Postfix's
	// $myorigin); "" keeps the domain of the recipient being expanded.
	Origin string
}

// Aliases is a loaded alias table: /etc/aliases format (keys are local
// parts, applied to Local-class recipients) or Postfix virtual_alias_maps
// format (keys are "user@domain" or "@domain").
type Aliases struct {
	opt     AliasOptions
	virtual bool
	m       map[string][]string // key (lower-cased) -> raw targets
	domains map[string]bool     // virtual: domains declared with a bare key
}

// ErrAliasTarget is wrapped when an alias points at a pipe or a file that
// the options do not allow, or at something that is not an address.
var ErrAliasTarget = errors.New("alias target refused")

// ErrAliasLoop is wrapped when expansion exceeds MaxDepth.
var ErrAliasLoop = errors.New("alias expansion too deep")

// LoadAliases reads an /etc/aliases-format file: "name: target, target",
// continuation lines starting with white space, '#' comments, quoted names,
// ":include:/path" targets (read now, one or more targets per line).
func LoadAliases(path string, opt AliasOptions) (*Aliases, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseAliases(path, data, opt)
}

// LoadVirtualAliases reads a Postfix virtual_alias_maps text file
// ("pattern result, result"; patterns "user@domain", "@domain" or a bare
// domain that declares a virtual alias domain).
func LoadVirtualAliases(path string, opt AliasOptions) (*Aliases, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseVirtual(path, data, opt)
}

// logicalLines joins continuation lines (leading white space) and drops
// comments and blank lines, keeping the starting line number of each.
func logicalLines(data []byte) (lines []string, nums []int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(strings.TrimSpace(l), "#") || strings.TrimSpace(l) == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(lines) > 0 {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			continue
		}
		lines = append(lines, l)
		nums = append(nums, n)
	}
	return lines, nums
}

func parseAliases(path string, data []byte, opt AliasOptions) (*Aliases, error) {
	a := &Aliases{opt: opt, m: map[string][]string{}}
	lines, nums := logicalLines(data)
	for i, l := range lines {
		where := fmt.Sprintf("%s:%d", path, nums[i])
		var key, rest string
		if strings.HasPrefix(l, `"`) {
			end := strings.IndexByte(l[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%s: unterminated quoted name", where)
			}
			key, rest = l[1:end+1], strings.TrimLeft(l[end+2:], " \t")
			if !strings.HasPrefix(rest, ":") {
				return nil, fmt.Errorf("%s: missing ':' after name", where)
			}
			rest = rest[1:]
		} else {
			k, r, ok := strings.Cut(l, ":")
			if !ok {
				return nil, fmt.Errorf("%s: missing ':' after name", where)
			}
			key, rest = strings.TrimSpace(k), r
		}
		if key == "" || strings.ContainsAny(key, "@\r\n") || (l[0] != '"' && strings.ContainsAny(key, " \t")) {
			return nil, fmt.Errorf("%s: bad alias name %q", where, key)
		}
		targets, err := splitTargets(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if targets, err = a.resolveIncludes(where, targets, 0); err != nil {
			return nil, err
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("%s: alias %q has no target", where, key)
		}
		k := strings.ToLower(key)
		a.m[k] = append(a.m[k], targets...)
	}
	return a, nil
}

func parseVirtual(path string, data []byte, opt AliasOptions) (*Aliases, error) {
	a := &Aliases{opt: opt, virtual: true, m: map[string][]string{}, domains: map[string]bool{}}
	lines, nums := logicalLines(data)
	for i, l := range lines {
		where := fmt.Sprintf("%s:%d", path, nums[i])
		f := strings.IndexAny(l, " \t")
		if f < 0 {
			return nil, fmt.Errorf("%s: pattern without result", where)
		}
		key, rest := l[:f], l[f:]
		targets, err := splitTargets(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("%s: pattern without result", where)
		}
		switch at := strings.LastIndexByte(key, '@'); {
		case at < 0: // "example.com anything": a virtual alias domain
			d, err := NormalizeDomain(key)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			a.domains[d] = true
			continue
		case at == 0:
			d, err := NormalizeDomain(key[1:])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			key = "@" + d
		default:
			addr, err := ParseDecoded(key)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			key = strings.ToLower(addr.Local) + "@" + addr.Domain
		}
		for _, t := range targets {
			if strings.HasPrefix(t, "|") || strings.HasPrefix(t, "/") || strings.HasPrefix(t, ":include:") {
				return nil, fmt.Errorf("%s: %w: %q (virtual aliases rewrite addresses only)", where, ErrAliasTarget, t)
			}
		}
		a.m[key] = append(a.m[key], targets...)
	}
	return a, nil
}

// splitTargets splits a comma- or space-separated target list. Quotes keep
// a token whole; a token that is entirely quoted and names a pipe or file
// ("|cmd arg", "/path with space") loses its quotes, while a quoted local
// part ("a b"@x) keeps them for the address parser.
func splitTargets(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQ := false
	flush := func() {
		t := cur.String()
		cur.Reset()
		if t == "" {
			return
		}
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' && len(t) > 2 && (t[1] == '|' || t[1] == '/') {
			t = t[1 : len(t)-1]
		}
		out = append(out, t)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQ = !inQ
			cur.WriteByte(c)
		case inQ:
			cur.WriteByte(c)
		case c == ',' || c == ' ' || c == '\t':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote in target list")
	}
	flush()
	return out, nil
}

func (a *Aliases) resolveIncludes(where string, targets []string, depth int) ([]string, error) {
	var out []string
	for _, t := range targets {
		p, ok := strings.CutPrefix(t, ":include:")
		if !ok {
			out = append(out, t)
			continue
		}
		if depth >= 5 {
			return nil, fmt.Errorf("%s: :include: nested too deep", where)
		}
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s: :include: path %q is not absolute", where, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		lines, nums := logicalLines(data)
		for i, l := range lines {
			sub, err := splitTargets(l)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", p, nums[i], err)
			}
			sub, err = a.resolveIncludes(fmt.Sprintf("%s:%d", p, nums[i]), sub, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// Len is the number of alias keys.
func (a *Aliases) Len() int { return len(a.m) }

// IsVirtualDomain reports a domain declared by a bare key in a virtual alias
// table, or one that has any "@domain" or "user@domain" key.
func (a *Aliases) IsVirtualDomain(domain string) bool {
	if a == nil || !a.virtual {
		return false
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return false
	}
	if a.domains[d] {
		return true
	}
	if _, ok := a.m["@"+d]; ok {
		return true
	}
	for k := range a.m {
		if strings.HasSuffix(k, "@"+d) {
			return true
		}
	}
	return false
}

// lookup returns the targets for rcpt and the extension to propagate.
func (a *Aliases) lookup(rcpt Address) (targets []string, ext string, ok bool) {
	local := strings.ToLower(rcpt.Local)
	base, e := SplitExtension(local, a.opt.RecipientDelimiter)
	if a.virtual {
		if t, ok := a.m[local+"@"+rcpt.Domain]; ok {
			return t, "", true
		}
		if e != "" {
			if t, ok := a.m[base+"@"+rcpt.Domain]; ok {
				// Postfix propagates unmatched extensions through virtual
				// aliases (propagate_unmatched_extensions default).
				return t, e, true
			}
		}
		if t, ok := a.m["@"+rcpt.Domain]; ok {
			return t, "", true
		}
		return nil, "", false
	}
	if t, ok := a.m[local]; ok {
		return t, "", true
	}
	if e != "" {
		if t, ok := a.m[base]; ok {
			return t, "", true
		}
	}
	return nil, "", false
}

// Expand resolves one recipient recursively. An address that is not an
// alias returns itself; an alias that lists its own key delivers to that
// address rather than expanding it again (the "user: user, backup" idiom);
// a loop ends at the first repeated address. Pipe and file targets, when
// allowed, come back as Address{Local: "|command"} or Address{Local:
// "/path"} with an empty Domain. The result has no duplicates.
func (a *Aliases) Expand(rcpt Address) ([]Address, error) {
	max := a.opt.MaxDepth
	if max <= 0 {
		max = 20
	}
	var out []Address
	seenOut := map[string]bool{}
	add := func(x Address) {
		k := strings.ToLower(x.Local) + "@" + x.Domain
		if !seenOut[k] {
			seenOut[k] = true
			out = append(out, x)
		}
	}
	visiting := map[string]bool{}
	var walk func(x Address, depth int) error
	walk = func(x Address, depth int) error {
		key := strings.ToLower(x.Local) + "@" + x.Domain
		if visiting[key] {
			add(x)
			return nil
		}
		targets, ext, ok := a.lookup(x)
		if !ok {
			add(x)
			return nil
		}
		if depth >= max {
			return fmt.Errorf("%w: %s (more than %d levels)", ErrAliasLoop, rcpt, max)
		}
		visiting[key] = true
		defer delete(visiting, key)
		for _, t := range targets {
			switch {
			case strings.HasPrefix(t, "|"):
				if !a.opt.AllowPipes {
					return fmt.Errorf("%w: %s expands to a command", ErrAliasTarget, rcpt)
				}
				add(Address{Local: t})
				continue
			case strings.HasPrefix(t, "/"):
				if !a.opt.AllowFiles {
					return fmt.Errorf("%w: %s expands to a file", ErrAliasTarget, rcpt)
				}
				add(Address{Local: t})
				continue
			}
			ta, err := a.targetAddress(t, x)
			if err != nil {
				return err
			}
			if ext != "" {
				if b, e := SplitExtension(ta.Local, a.opt.RecipientDelimiter); e == "" {
					ta.Local = b + ext
				}
			}
			tk := strings.ToLower(ta.Local) + "@" + ta.Domain
			if tk == key {
				add(ta) // self-reference: deliver, do not expand again
				continue
			}
			if err := walk(ta, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(rcpt, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func (a *Aliases) targetAddress(t string, from Address) (Address, error) {
	if strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">") {
		t = t[1 : len(t)-1]
	}
	if strings.IndexByte(t, '@') < 0 {
		dom := a.opt.Origin
		if dom == "" {
			dom = from.Domain
		}
		local, rest, err := parseLocalPart(t)
		if err != nil || rest != "" {
			return Address{}, fmt.Errorf("%w: %q is not an address", ErrAliasTarget, t)
		}
		d, err := NormalizeDomain(dom)
		if err != nil {
			return Address{}, err
		}
		return Address{Local: local, Domain: d}, nil
	}
	addr, err := ParseAddress(t)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q: %v", ErrAliasTarget, t, err)
	}
	return addr, nil
}
