package config

import "fmt"

// Pos is where something was written: a file and a 1-based line.
type Pos struct {
	File string
	Line int
}

// String is "file:line", or just "file" when the position is the file as a
// whole (Line 0: the file could not be read at all).
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Node is one entry of a parsed configuration: a setting or a section.
//
// A setting has Key and Value (after `<file` and `$name` resolution) and no
// children. A section has Key (its type: "service", "inet_listener",
// "protocol", "passdb", "local_name", ...), an optional Name ("imap-login",
// "imaps"; for filters such as `protocol imap` or `local_name mail.example.com`
// the name is the filter argument), and Children in file order.
type Node struct {
	Pos      Pos
	Key      string
	Name     string
	Value    string
	Section  bool
	Children []*Node
	// FromFile is set when the value was read with `key = <file`; it names
	// that file (secrets such as ssl_key are marked this way).
	FromFile string
}

// Error is a configuration error at a position. Its text is
// "file:line: key: message" when it concerns a setting, else "file:line: message".
type Error struct {
	Pos Pos
	Key string
	Msg string
}

func (e *Error) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", e.Pos, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}
