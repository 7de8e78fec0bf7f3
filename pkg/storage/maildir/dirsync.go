package maildir

import (
	"os"
	"syscall"
	"time"
)

// subdirs are the Maildir subdirectories holding messages, in the order
// of box.st.dirs.
var subdirs = [2]string{"new", "cur"}

func mtimeOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Mtim.Nano()
	}
	return fi.ModTime().UnixNano()
}

// Whether a sync must read a subdirectory, from the dirState the index
// holds for it:
//   - its mtime differs: something changed it since;
//   - the listing was made more than dirtyWindow after that mtime: a
//     later change would have moved the mtime, so it still matches;
//   - cote itself changed it under the index lock (own) from a matching
//     state: nothing needs reading until dirtyWindow after that change,
//     then it is read once, in case another program changed it within
//     the same timestamp (Dovecot's delayed refresh, DIR_DELAYED_REFRESH
//     in maildir-sync.c, does the same);
//   - otherwise (listed within the window) it is read again.
//
// So a delivery or flag change by any cote process costs the other
// processes no directory read, while a change by mutt or Dovecot is
// seen at the next sync.
func dirClean(ds dirState, mtime int64, now time.Time) bool {
	if ds.mtime == 0 || mtime != ds.mtime {
		return false
	}
	w := int64(dirtyWindow)
	if ds.check > mtime+w {
		return true
	}
	return ds.own && now.UnixNano() < ds.check+w
}

// dirsToScan says which of new/ and cur/ a sync must read.
func (b *box) dirsToScan(now time.Time) [2]bool {
	var out [2]bool
	for i, sub := range subdirs {
		fi, err := os.Stat(b.path(sub))
		out[i] = err != nil || !dirClean(b.st.dirs[i], mtimeOf(fi), now)
	}
	return out
}

// ownChange tracks cote's own changes to new/ and cur/ (a save, a flag
// rename, an expunge) made under the exclusive index lock, so the index
// can keep vouching for the directories afterwards. Call begin before the
// first change and end after the last; end returns the record to append
// (nil when nothing is to be recorded).
type ownChange struct {
	start time.Time
	clean [2]bool
}

func (b *box) beginOwnChange() ownChange {
	oc := ownChange{start: time.Now()}
	for i, sub := range subdirs {
		fi, err := os.Stat(b.path(sub))
		oc.clean[i] = err == nil && dirClean(b.st.dirs[i], mtimeOf(fi), oc.start)
	}
	return oc
}

// end records the directories in changed that matched the index before
// the change. One that did not keeps its old state, whose mtime no longer
// matches: the next sync reads it.
func (b *box) endOwnChange(oc ownChange, changed [2]bool) []byte {
	dirs := b.st.dirs
	for i, sub := range subdirs {
		if !changed[i] || !oc.clean[i] {
			continue
		}
		fi, err := os.Stat(b.path(sub))
		if err != nil {
			continue
		}
		check := oc.start.UnixNano()
		if old := dirs[i]; old.own && old.check < check {
			// A pending delayed refresh stays due when it was.
			check = old.check
		}
		dirs[i] = dirState{mtime: mtimeOf(fi), check: check, own: true}
	}
	if dirs == b.st.dirs {
		return nil
	}
	return encDirs(dirs)
}
