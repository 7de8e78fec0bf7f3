package imap

import "strings"

// parsePreviewModifiers parses the "(LAZY)" after PREVIEW (RFC 8970 §3,
// preview-mod = "LAZY"); an empty list or an unknown modifier is BAD.
func parsePreviewModifiers(a Arg) (lazy bool, err error) {
	if len(a.List) == 0 {
		return false, badArg("Empty PREVIEW modifier list")
	}
	for _, m := range a.List {
		if m.Kind != Atom || !strings.EqualFold(m.Value, "LAZY") {
			return false, badArg("Unknown PREVIEW modifier")
		}
		lazy = true
	}
	return lazy, nil
}
