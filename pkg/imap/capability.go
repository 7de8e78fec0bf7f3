package imap

import (
	"slices"
	"strings"
)

// OverrideCapabilities applies an imap_capability value (checked when the
// configuration is loaded: atoms, and IMAP4rev1 or IMAP4rev2 in a
// replacing list) to the server's own list, as Dovecot does: ""
// keeps caps, "+A B" appends the names caps lacks, anything else replaces
// caps. It changes only what is advertised, never what a command does.
func OverrideCapabilities(caps []string, override string) []string {
	override = strings.TrimSpace(override)
	switch {
	case override == "":
		return caps
	case strings.HasPrefix(override, "+"):
		out := slices.Clone(caps)
		for _, n := range strings.Fields(override[1:]) {
			if !slices.ContainsFunc(out, func(c string) bool { return strings.EqualFold(c, n) }) {
				out = append(out, n)
			}
		}
		return out
	}
	return strings.Fields(override)
}
