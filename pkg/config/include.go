package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// include handles `!include pattern` and `!include_try pattern` at pos.
func (p *parser) include(kind, pattern string, pos Pos) {
	path := pattern
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.curFile()), path)
	}
	p.addGlob(path)
	try := kind == "!include_try"

	pats, ok := expandBraces(path)
	if !ok {
		p.errorf(pos, "", "%s %s: more than %d brace expansions", kind, pattern, maxBraces)
		return
	}
	var matches []string
	for _, pat := range pats {
		if !hasMeta(pat) {
			// A plain path: report why it cannot be read rather than
			// Dovecot's bare "No matches".
			if _, err := os.Stat(pat); err != nil {
				if try && errors.Is(err, fs.ErrNotExist) {
					continue
				}
				p.errorf(pos, "", "%s %s: %s", kind, pattern, errText(err))
				continue
			}
			matches = append(matches, pat)
			continue
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			p.errorf(pos, "", "%s %s: bad pattern", kind, pattern)
			return
		}
		matches = append(matches, m...)
	}
	if len(matches) == 0 {
		if !try && hasAnyMeta(pats) {
			p.errorf(pos, "", "%s %s: no matches", kind, pattern)
		}
		return
	}
	for _, m := range matches {
		if p.stopped {
			return
		}
		p.includeFile(kind, pattern, m, pos)
	}
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func hasAnyMeta(pats []string) bool {
	for _, s := range pats {
		if hasMeta(s) {
			return true
		}
	}
	return false
}

// includeFile reads one included file, refusing include loops.
func (p *parser) includeFile(kind, pattern, file string, pos Pos) {
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = filepath.Clean(file)
	}
	for i, in := range p.inputs {
		if in.abs != abs {
			continue
		}
		// Name the loop from where the file was first opened.
		var chain []string
		for _, later := range p.inputs[i+1:] {
			chain = append(chain, later.includedAt.String())
		}
		chain = append(chain, pos.String(), in.file)
		p.errorf(pos, "", "%s %s: include loop: %s", kind, pattern, strings.Join(chain, " -> "))
		return
	}
	if len(p.inputs) > maxIncludeDepth {
		p.errorf(pos, "", "%s %s: includes nested deeper than %d", kind, pattern, maxIncludeDepth)
		return
	}
	src, msg := readRegular(file, maxFile)
	if msg != "" {
		p.errorf(pos, "", "%s %s: cannot read %s: %s", kind, pattern, file, msg)
		return
	}
	p.parseInput(file, src, pos)
}

// readRegular reads a regular file of at most limit bytes. Other kinds of
// file are refused before they are opened: a FIFO or a device would block
// or never end. The message is "" on success.
func readRegular(path string, limit int64) ([]byte, string) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, errText(err)
	}
	if !st.Mode().IsRegular() {
		return nil, "not a regular file"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, errText(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, errText(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Sprintf("larger than %d bytes", limit)
	}
	return data, ""
}

// errText is the system's reason without the path os repeats in its errors.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// expandBraces expands `{a,b}` groups like glob(3)'s GLOB_BRACE, which
// Dovecot uses for includes: "conf.d/{a,b}.conf" is "conf.d/a.conf" then
// "conf.d/b.conf". A brace without a matching close or comma is literal.
// ok is false past maxBraces patterns.
func expandBraces(pat string) (out []string, ok bool) {
	open, close, commas := findBraceGroup(pat)
	if open < 0 {
		return []string{pat}, true
	}
	prefix, suffix := pat[:open], pat[close+1:]
	start := open + 1
	for _, c := range append(commas, close) {
		alt := pat[start:c]
		start = c + 1
		sub, ok := expandBraces(prefix + alt + suffix)
		if !ok {
			return nil, false
		}
		out = append(out, sub...)
		if len(out) > maxBraces {
			return nil, false
		}
	}
	return out, true
}

// findBraceGroup finds the first `{...}` group holding a top-level comma;
// open is -1 when there is none.
func findBraceGroup(s string) (open, close int, commas []int) {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		depth := 0
		commas = commas[:0]
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '{':
				depth++
			case '}':
				depth--
				if depth == 0 {
					if len(commas) > 0 {
						return i, j, commas
					}
					j = len(s)
				}
			case ',':
				if depth == 1 {
					commas = append(commas, j)
				}
			}
		}
	}
	return -1, -1, nil
}

// ReadValueFile reads the file of a deferred `key = <file` value (see
// Options.DeferFiles) with the same checks and size cap as the parser. The
// error is the "cannot read <path: reason" message for a config.Error.
func ReadValueFile(path string) (string, error) {
	data, msg := readRegular(path, maxValue)
	if msg != "" {
		return "", fmt.Errorf("cannot read <%s: %s", path, msg)
	}
	return string(data), nil
}
