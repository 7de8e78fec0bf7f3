package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Limits on hostile or broken input. Dovecot has none; these are far above
// anything a real configuration holds (a certificate chain is a few KiB).
const (
	maxLine         = 1 << 20  // bytes in a logical line (after `\` joins)
	maxValue        = 1 << 20  // bytes in a value (after `<file` and `$name`)
	maxFile         = 16 << 20 // bytes in one configuration file
	maxDepth        = 32       // nested sections
	maxIncludeDepth = 32       // nested !include files
	maxBraces       = 256      // patterns one `{a,b}` include expands to
	maxErrors       = 100      // errors collected before giving up
)

// Options tune a parse.
type Options struct {
	// Default returns the default of a setting for `$name` when it was not set earlier.
	Default func(name string) (string, bool)
	// DeferFiles leaves `key = <file` values unread: the node gets FromFile
	// (absolute) and an empty Value, Tree.Files does not list the file, and
	// the caller reads only the values that stay in effect (ReadValueFile). A shipped `ssl_cert = </etc/pki/...` that a
	// later file overrides then never needs to exist.
	DeferFiles bool
}

// Tree is a parsed configuration.
type Tree struct {
	Root  *Node    // Section=true, Key="" ; children in file order, includes spliced in place
	Files []string // every file read, absolute and clean, in read order (config files and <files)
	Globs []string // every include pattern, absolute (for the master's fsnotify watches)
	// Warnings are accepted constructs Dovecot also warns about (a `#`
	// glued to the text before it). They are not errors.
	Warnings []*Error
}

// ErrorList is every error of a parse, in the order met.
type ErrorList []*Error

// Error is one error per line, in order.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// ParseFile parses the configuration file at path and everything it
// includes. The error, when non-nil, is an ErrorList; the tree is then
// returned as far as it could be built.
func ParseFile(path string, opt Options) (*Tree, error) {
	p := newParser(opt)
	src, errMsg := readRegular(path, maxFile)
	if errMsg != "" {
		p.errs = append(p.errs, &Error{Pos: Pos{File: path}, Msg: "cannot read " + path + ": " + errMsg})
		return p.tree, p.errs
	}
	p.parseInput(path, src, Pos{})
	return p.result()
}

// Parse parses src as if read from the file name; includes and `<file`
// values are relative to filepath.Dir(name). The error, when non-nil, is an
// ErrorList; the tree is then returned as far as it could be built.
func Parse(name string, src []byte, opt Options) (*Tree, error) {
	p := newParser(opt)
	p.parseInput(name, src, Pos{})
	return p.result()
}

// frame is an open section. vals holds the values set directly in it so far,
// for `$name` references.
type frame struct {
	node  *Node
	vals  map[string]string
	dummy bool // opened after a bad header only to balance braces; not in the tree
}

// input is a file being read; the stack of inputs is the include chain.
type input struct {
	file       string // path as shown in positions
	abs        string // absolute and clean, for loop detection
	includedAt Pos    // the !include line that opened it (zero for the top file)
	base       int    // section depth when the file started: it may not close below it
}

type parser struct {
	opt       Options
	tree      *Tree
	errs      ErrorList
	stack     []*frame
	inputs    []input
	seenFiles map[string]bool
	seenGlobs map[string]bool
	stopped   bool // maxErrors reached
}

func newParser(opt Options) *parser {
	root := &Node{Section: true}
	return &parser{
		opt:       opt,
		tree:      &Tree{Root: root},
		stack:     []*frame{{node: root, vals: map[string]string{}}},
		seenFiles: map[string]bool{},
		seenGlobs: map[string]bool{},
	}
}

func (p *parser) result() (*Tree, error) {
	if len(p.errs) > 0 {
		return p.tree, p.errs
	}
	return p.tree, nil
}

func (p *parser) errorf(pos Pos, key, format string, args ...any) {
	if p.stopped {
		return
	}
	if len(p.errs) >= maxErrors {
		p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf("too many errors (over %d), giving up", maxErrors)})
		p.stopped = true
		return
	}
	p.errs = append(p.errs, &Error{Pos: pos, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) addFile(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	if !p.seenFiles[abs] {
		p.seenFiles[abs] = true
		p.tree.Files = append(p.tree.Files, abs)
	}
	return abs
}

func (p *parser) addGlob(pattern string) {
	abs, err := filepath.Abs(pattern)
	if err != nil {
		abs = filepath.Clean(pattern)
	}
	if !p.seenGlobs[abs] {
		p.seenGlobs[abs] = true
		p.tree.Globs = append(p.tree.Globs, abs)
	}
}

func isWhite(c byte) bool { return c == ' ' || c == '\t' }

func trimLeftWhite(s string) string  { return strings.TrimLeft(s, " \t") }
func trimRightWhite(s string) string { return strings.TrimRight(s, " \t") }

// parseInput reads one file's text. at is the !include line that opened it.
func (p *parser) parseInput(file string, src []byte, at Pos) {
	abs := p.addFile(file)
	p.inputs = append(p.inputs, input{file: file, abs: abs, includedAt: at, base: len(p.stack)})
	defer func() { p.inputs = p.inputs[:len(p.inputs)-1] }()

	var cont strings.Builder // a logical line being joined by `\`
	contStart := 0
	text := string(src)
	lineNo := 0
	for len(text) > 0 && !p.stopped {
		lineNo++
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		line = strings.TrimSuffix(line, "\r")
		line = trimLeftWhite(line)
		// Dovecot skips blank and comment lines before joining, so they do
		// not end a continuation.
		if line == "" || line[0] == '#' {
			continue
		}
		line, glued := stripComment(line)
		if glued {
			p.tree.Warnings = append(p.tree.Warnings, &Error{Pos: Pos{File: file, Line: lineNo},
				Msg: "ambiguous '#' treated as a comment: put a space before it"})
		}
		line = trimRightWhite(line)
		if strings.HasSuffix(line, `\`) {
			if cont.Len() == 0 {
				contStart = lineNo
			}
			cont.WriteString(trimRightWhite(line[:len(line)-1]))
			cont.WriteByte(' ')
			if cont.Len() > maxLine {
				p.errorf(Pos{File: file, Line: contStart}, "", "line longer than %d bytes", maxLine)
				return
			}
			continue
		}
		start := lineNo
		if cont.Len() > 0 {
			cont.WriteString(line)
			line = cont.String()
			cont.Reset()
			start = contStart
		}
		pos := Pos{File: file, Line: start}
		if len(line) > maxLine {
			p.errorf(pos, "", "line longer than %d bytes", maxLine)
			continue
		}
		p.parseLine(trimRightWhite(line), pos)
	}
	if cont.Len() > 0 && !p.stopped {
		// A `\` on the last line: the statement ends with the file.
		p.parseLine(trimRightWhite(cont.String()), Pos{File: file, Line: contStart})
	}
	base := p.inputs[len(p.inputs)-1].base
	for len(p.stack) > base {
		f := p.stack[len(p.stack)-1]
		if !f.dummy {
			p.errorf(f.node.Pos, "", "missing '}' for %s", describe(f.node))
		}
		p.stack = p.stack[:len(p.stack)-1]
	}
}

func describe(n *Node) string {
	if n.Name == "" {
		return fmt.Sprintf("section %q", n.Key)
	}
	return fmt.Sprintf("section %q", n.Key+" "+n.Name)
}

// stripComment cuts a line at the first `#` outside quotes, as Dovecot's
// parser does; glued reports a `#` with no whitespace before it (Dovecot's
// "Ambiguous '#' character" warning). An unterminated quote hides the rest
// of the line from comment stripping, as in Dovecot.
func stripComment(l string) (out string, glued bool) {
	for i := 0; i < len(l); i++ {
		switch c := l[i]; c {
		case '"', '\'':
			j := scanQuoted(l, i)
			if j < 0 {
				return l, false
			}
			i = j
		case '#':
			return l[:i], i > 0 && !isWhite(l[i-1])
		}
	}
	return l, false
}

// scanQuoted returns the index of the quote closing the one at s[i], or -1.
// A backslash takes the next character literally.
func scanQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return -1
}

// unescape drops each backslash and keeps the character after it, as
// Dovecot's str_unescape does for quoted values.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// validKey reports whether s can name a setting or a section type. Dovecot
// takes any word and fails later with "Unknown setting"; cote refuses odd
// characters here so that Print's output always parses back the same.
func validKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}

func isInclude(key string) bool { return key == "!include" || key == "!include_try" }

// parseLine parses one logical line (comment stripped, trimmed, non-empty).
// The first statement is read the Dovecot way (a value runs to the end of
// the line); statements after a `{` or `}` are read inline.
func (p *parser) parseLine(line string, pos Pos) {
	inline := false
	for !p.stopped {
		line = trimLeftWhite(line)
		if line == "" {
			return
		}
		rest, ok := p.statement(line, pos, inline)
		if !ok {
			return
		}
		line, inline = rest, true
	}
}

// statement parses one statement at the start of s and returns what follows
// it on the line. ok is false after an error that makes the rest of the line
// meaningless.
func (p *parser) statement(s string, pos Pos, inline bool) (rest string, ok bool) {
	if s[0] == '}' && (len(s) == 1 || isWhite(s[1])) {
		if len(p.stack) <= p.inputs[len(p.inputs)-1].base {
			p.errorf(pos, "", "unexpected '}'")
		} else {
			p.stack = p.stack[:len(p.stack)-1]
		}
		return s[1:], true
	}

	i := 0
	for i < len(s) && !isWhite(s[i]) && s[i] != '=' {
		i++
	}
	key, r := s[:i], trimLeftWhite(s[i:])

	if isInclude(key) {
		path := r
		if inline {
			path, rest = nextWord(r)
		}
		if path == "" {
			p.errorf(pos, "", "%s: missing file name", key)
			return rest, true
		}
		p.include(key, path, pos)
		return rest, true
	}

	if strings.HasPrefix(r, "=") {
		if key == "" {
			p.errorf(pos, "", "missing setting name before '='")
			return "", false
		}
		if !validKey(key) {
			p.errorf(pos, "", "invalid setting name %q", key)
			return "", false
		}
		v := trimLeftWhite(r[1:])
		raw := v
		if inline {
			var msg string
			raw, rest, msg = inlineValue(v)
			if msg != "" {
				p.errorf(pos, key, "%s", msg)
				return "", false
			}
		}
		p.assign(key, trimRightWhite(raw), pos)
		return rest, true
	}

	// A section: `type {`, `type name {`, `type "name" {`.
	if key == "" || key[0] == '{' {
		p.errorf(pos, "", "missing section type before '{'")
		p.openDummy(s, pos)
		return "", false
	}
	if !validKey(key) {
		p.errorf(pos, "", "invalid name %q", key)
		p.openDummy(s, pos)
		return "", false
	}
	var name, after string
	switch {
	case r == "":
		p.errorf(pos, key, "expecting '=' or '{'")
		return "", false
	case r[0] == '"' || r[0] == '\'':
		j := scanQuoted(r, 0)
		if j < 0 {
			p.errorf(pos, key, "unterminated quoted section name")
			p.openDummy(s, pos)
			return "", false
		}
		name = unescape(r[1:j])
		t := trimLeftWhite(r[j+1:])
		if !isOpenBrace(t, 0) {
			p.errorf(pos, key, "expecting '{' after section name")
			p.openDummy(s, pos)
			return "", false
		}
		after = t[1:]
	default:
		j := findOpenBrace(r)
		if j < 0 {
			p.errorf(pos, key, "expecting '=' or '{'")
			return "", false
		}
		name, after = trimRightWhite(r[:j]), r[j+1:]
	}
	if len(p.stack) > maxDepth {
		p.errorf(pos, key, "sections nested deeper than %d", maxDepth)
		p.stack = append(p.stack, &frame{node: &Node{Pos: pos, Section: true, Key: key, Name: name}, vals: map[string]string{}, dummy: true})
		return after, true
	}
	n := &Node{Pos: pos, Section: true, Key: key, Name: name}
	parent := p.stack[len(p.stack)-1].node
	parent.Children = append(parent.Children, n)
	p.stack = append(p.stack, &frame{node: n, vals: map[string]string{}})
	return after, true
}

// openDummy keeps braces balanced after a bad section header: when the line
// ends with `{`, a section that is not part of the tree is opened, so its
// `}` does not become an "unexpected '}'" error too.
func (p *parser) openDummy(s string, pos Pos) {
	s = trimRightWhite(s)
	if strings.HasSuffix(s, "{") && (len(s) == 1 || isWhite(s[len(s)-2])) {
		p.stack = append(p.stack, &frame{node: &Node{Pos: pos, Section: true, Key: "?"}, vals: map[string]string{}, dummy: true})
	}
}

// isOpenBrace reports whether s[i] is a `{` word: preceded (unless first)
// and followed by whitespace or the end of the line.
func isOpenBrace(s string, i int) bool {
	return i < len(s) && s[i] == '{' && (i == 0 || isWhite(s[i-1])) && (i+1 == len(s) || isWhite(s[i+1]))
}

func findOpenBrace(s string) int {
	for i := 0; i < len(s); i++ {
		if isOpenBrace(s, i) {
			return i
		}
	}
	return -1
}

func nextWord(s string) (word, rest string) {
	i := 0
	for i < len(s) && !isWhite(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// inlineValue splits an inline value from the statements after it: a
// quoted value ends at its closing quote, an unquoted one before the first
// word that starts a statement (see startsStatement).
func inlineValue(v string) (raw, rest, errMsg string) {
	if v == "" {
		return "", "", ""
	}
	if v[0] == '"' || v[0] == '\'' {
		j := scanQuoted(v, 0)
		if j < 0 {
			return "", "", "unterminated quoted string"
		}
		if j+1 < len(v) && !isWhite(v[j+1]) {
			return "", "", "text after closing quote"
		}
		return v[:j+1], v[j+1:], ""
	}
	i := 0
	for i < len(v) {
		if startsStatement(v[i:], i == 0) {
			break
		}
		for i < len(v) && !isWhite(v[i]) {
			i++
		}
		for i < len(v) && isWhite(v[i]) {
			i++
		}
	}
	return v[:i], v[i:], ""
}

// startsStatement reports whether an inline value ends before s: s is `}`,
// `name =` (whitespace before the `=`), an include, or, after the first word
// of the value (first is false), `type {`, `type name {` or
// `type "name" {`. The first word always belongs to the value so that
// `a = 1 t {` is a = "1" and section t, not an empty a and section "1 t".
func startsStatement(s string, first bool) bool {
	if s[0] == '}' && (len(s) == 1 || isWhite(s[1])) {
		return true
	}
	w, after := nextWord(s)
	if isInclude(w) {
		return true
	}
	if i := strings.IndexByte(w, '='); i >= 0 {
		return false
	}
	if !validKey(w) || after == "" {
		return false
	}
	t := trimLeftWhite(after)
	if t == "" {
		return false
	}
	if t[0] == '=' {
		return true
	}
	if first {
		return false
	}
	if isOpenBrace(t, 0) {
		return true
	}
	if t[0] == '"' || t[0] == '\'' {
		j := scanQuoted(t, 0)
		return j >= 0 && isOpenBrace(trimLeftWhite(t[j+1:]), 0)
	}
	_, t = nextWord(t)
	return isOpenBrace(trimLeftWhite(t), 0)
}

// assign adds the setting key with the raw (trimmed) value text to the
// current section.
func (p *parser) assign(key, raw string, pos Pos) {
	n := &Node{Pos: pos, Key: key}
	switch {
	case strings.HasPrefix(raw, "<"):
		path := trimLeftWhite(raw[1:])
		if path == "" {
			p.errorf(pos, key, "missing file name after '<'")
			return
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(p.curFile()), path)
		}
		if p.opt.DeferFiles {
			// Not read, so not listed in Tree.Files: the caller adds the
			// files it does read.
			if abs, err := filepath.Abs(path); err == nil {
				path = abs
			}
			n.FromFile = filepath.Clean(path)
			break
		}
		data, msg := readRegular(path, maxValue)
		if msg != "" {
			p.errorf(pos, key, "cannot read <%s: %s", path, msg)
			return
		}
		n.Value = string(data)
		n.FromFile = p.addFile(path)
	case len(raw) >= 2 && (raw[0] == '"' || raw[0] == '\'') && raw[len(raw)-1] == raw[0]:
		n.Value = unescape(raw[1 : len(raw)-1])
	case strings.Contains(raw, "$"):
		v, ok := p.expand(key, raw, pos)
		if !ok {
			return
		}
		n.Value = v
	default:
		n.Value = raw
	}
	f := p.stack[len(p.stack)-1]
	f.node.Children = append(f.node.Children, n)
	f.vals[key] = n.Value
}

func (p *parser) curFile() string { return p.inputs[len(p.inputs)-1].file }

// expand replaces every word `$name` of an unquoted value by the value of
// setting name at this point, rejoining words with single spaces, as
// Dovecot's config_write_keyvariable does.
func (p *parser) expand(key, raw string, pos Pos) (string, bool) {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' || r == '\t' }) {
		if w[0] == '$' {
			v, ok := p.lookup(w[1:])
			if !ok {
				p.errorf(pos, key, "unknown variable %s", w)
				return "", false
			}
			w = v
		}
		if w == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if b.Len() > maxValue {
			p.errorf(pos, key, "value longer than %d bytes", maxValue)
			return "", false
		}
	}
	return b.String(), true
}

// lookup finds the value of name for `$name`: set in the innermost open
// section that set it, else the default.
func (p *parser) lookup(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		if v, ok := p.stack[i].vals[name]; ok {
			return v, true
		}
	}
	if p.opt.Default != nil {
		return p.opt.Default(name)
	}
	return "", false
}
