package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Print writes n in Dovecot syntax, one statement a line, sections indented
// by two spaces; the root (Key "") prints its children. Parsing the output
// gives the same tree (positions aside): values that the parser would
// change (quotes, `#`, `$name` words, a leading `<`, edge whitespace) are
// quoted, and a value read with `key = <file` prints as `<file` again.
// A value or name holding a newline cannot be written in this syntax and is
// an error.
func Print(w io.Writer, n *Node) error {
	bw := bufio.NewWriter(w)
	var err error
	if n.Section && n.Key == "" {
		for _, c := range n.Children {
			if err = printNode(bw, c, 0); err != nil {
				break
			}
		}
	} else {
		err = printNode(bw, n, 0)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func printNode(w *bufio.Writer, n *Node, depth int) error {
	if !validKey(n.Key) && !isInclude(n.Key) {
		return fmt.Errorf("config: cannot print invalid name %q", n.Key)
	}
	indent := strings.Repeat("  ", depth)
	if n.Section {
		w.WriteString(indent + n.Key)
		if n.Name != "" {
			name, err := printName(n.Name)
			if err != nil {
				return err
			}
			w.WriteString(" " + name)
		}
		w.WriteString(" {\n")
		for _, c := range n.Children {
			if err := printNode(w, c, depth+1); err != nil {
				return err
			}
		}
		_, err := w.WriteString(indent + "}\n")
		return err
	}
	if n.FromFile != "" {
		_, err := w.WriteString(indent + n.Key + " = <" + n.FromFile + "\n")
		return err
	}
	v, err := printValue(n.Value)
	if err != nil {
		return fmt.Errorf("config: cannot print %s: %w", n.Key, err)
	}
	if v == "" {
		_, err = w.WriteString(indent + n.Key + " =\n")
		return err
	}
	_, err = w.WriteString(indent + n.Key + " = " + v + "\n")
	return err
}

func printValue(v string) (string, error) {
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("value holds a line break")
	}
	if v == "" {
		return "", nil
	}
	if strings.ContainsAny(v, "#\"'\\") || v[0] == '<' || isWhite(v[0]) || isWhite(v[len(v)-1]) || hasVarWord(v) {
		return quote(v), nil
	}
	return v, nil
}

func printName(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("config: cannot print section name %q: it holds a line break", s)
	}
	if strings.ContainsAny(s, "#\"'\\{} \t=") {
		return quote(s), nil
	}
	return s, nil
}

// hasVarWord reports whether a word of v starts with `$`, which the parser
// would expand.
func hasVarWord(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] == '$' && (i == 0 || isWhite(v[i-1])) {
			return true
		}
	}
	return false
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
