package maildir

import (
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// Store names separate levels with '/'; on disk Maildir++ uses '.'.
const storeSep = '/'

func parseName(n string) format.Filename { return format.ParseFilename(n) }

func encodeFolder(name string) (string, error) {
	if err := format.ValidateName(name, storeSep); err != nil {
		return "", err
	}
	return format.FolderDir(name, storeSep)
}

func decodeFolder(dir string) (string, error) { return format.FolderName(dir, storeSep) }

func readSubscriptions(root string) ([]string, error) {
	return format.ReadSubscriptions(root, storeSep)
}

// updateSubscriptions adds or removes one name under the subscriptions
// dotlock.
func updateSubscriptions(root, name string, on bool) error {
	return format.UpdateSubscriptions(root, storeSep, func(subs []string) []string {
		out := subs[:0:0]
		for _, s := range subs {
			if s != name {
				out = append(out, s)
			}
		}
		if on {
			out = append(out, name)
		}
		return out
	})
}

func readKeywords(dir string) ([]string, error) {
	k, err := format.ReadKeywords(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, format.MaxKeywords)
	last := -1
	for i, n := range k.Names {
		out[i] = n
		if n != "" {
			last = i
		}
	}
	return out[:last+1], nil
}

// Maildir flags <-> IMAP flags. P (passed) has no IMAP flag and is kept
// through renames.
func fromMaildirFlags(f format.Flags) (storage.Flags, bool) {
	var out storage.Flags
	if f&format.FlagSeen != 0 {
		out |= storage.FlagSeen
	}
	if f&format.FlagReplied != 0 {
		out |= storage.FlagAnswered
	}
	if f&format.FlagFlagged != 0 {
		out |= storage.FlagFlagged
	}
	if f&format.FlagTrashed != 0 {
		out |= storage.FlagDeleted
	}
	if f&format.FlagDraft != 0 {
		out |= storage.FlagDraft
	}
	return out, f&format.FlagPassed != 0
}

func toMaildirFlags(f storage.Flags, passed bool) format.Flags {
	var out format.Flags
	if f&storage.FlagSeen != 0 {
		out |= format.FlagSeen
	}
	if f&storage.FlagAnswered != 0 {
		out |= format.FlagReplied
	}
	if f&storage.FlagFlagged != 0 {
		out |= format.FlagFlagged
	}
	if f&storage.FlagDeleted != 0 {
		out |= format.FlagTrashed
	}
	if f&storage.FlagDraft != 0 {
		out |= format.FlagDraft
	}
	if passed {
		out |= format.FlagPassed
	}
	return out
}

// fileName returns the cur/ name of m with its present flags, keeping
// unknown info characters of the old name.
func fileName(m *msg) string {
	old := format.ParseFilename(m.name)
	fn := format.Filename{Base: m.base, HasInfo: true, Flags: toMaildirFlags(m.flags, m.passed), Other: old.Other, Extra: old.Extra}
	for i := 0; i < format.MaxKeywords; i++ {
		if m.kw&(1<<i) != 0 {
			fn.Keywords = append(fn.Keywords, byte('a'+i))
		}
	}
	if old.Info != "" && !old.HasInfo {
		// A non-":2," info cannot carry flags; replacing it is what
		// Dovecot does too when flags change.
		fn.Info = ""
	}
	return fn.String()
}
