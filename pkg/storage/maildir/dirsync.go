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
//   - the listing was made more than listedAfter(mtime) after that
//     mtime: a later change would have moved the mtime, so it still
//     matches;
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
//
// How long after an mtime a listing must start to prove the directory
// is the mtime depends on the file system's timestamps (listedAfter):
// with whole seconds (the nanoseconds are zero) another change within
// the same second would not move it, so dirtyWindow; with sub-second
// timestamps (ext4 with large inodes, XFS, btrfs, tmpfs) the kernel
// stamps changes with its coarse clock, one tick (at most 10 ms) behind
// the real time, so fineDirtyWindow, ten ticks, is enough. A mailbox
// that cote and others change every few hundred milliseconds is then
// still listed rarely, where dirtyWindow kept it dirty for as long as it
// was busy. The delayed refresh after cote's own change keeps
// dirtyWindow: it only bounds how late a change hidden behind that
// change's timestamp is seen.
func dirClean(ds dirState, mtime int64, now time.Time) bool {
	if ds.mtime == 0 || mtime != ds.mtime {
		return false
	}
	if ds.check > mtime+listedAfter(mtime) {
		return true
	}
	return ds.own && now.UnixNano() < ds.check+int64(dirtyWindow)
}

// fineDirtyWindow is listedAfter's window on file systems with
// sub-second timestamps.
const fineDirtyWindow = 100 * time.Millisecond

// listedAfter is how long after mtime (ns) a listing must start to see
// every change that leaves the directory's mtime at that value.
func listedAfter(mtime int64) int64 {
	if mtime%int64(time.Second) == 0 {
		return int64(dirtyWindow)
	}
	return int64(fineDirtyWindow)
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
	// clean: the directory's mtime is the one the index recorded, so
	// nothing visible changed it since; proven: and a listing or an
	// own change vouches for it (dirClean). A directory that is clean
	// but not proven was listed too soon after its last change, which
	// may hide another program's change made within the same timestamp.
	clean, proven [2]bool
	// dirs is b.st.dirs at begin: a scan in between (a file renamed
	// behind cote's back) records its own listing, and then the change
	// is not recorded as cote's alone.
	dirs [2]dirState
}

func (b *box) beginOwnChange() ownChange {
	oc := ownChange{start: time.Now(), dirs: b.st.dirs}
	for i, sub := range subdirs {
		fi, err := os.Stat(b.path(sub))
		if err != nil {
			continue
		}
		ds, mt := b.st.dirs[i], mtimeOf(fi)
		oc.proven[i] = dirClean(ds, mt, oc.start)
		oc.clean[i] = oc.proven[i] || (ds.mtime != 0 && mt == ds.mtime)
	}
	return oc
}

// end records the directories in changed that matched the index before
// the change. One that did not keeps its old state, whose mtime no longer
// matches: the next sync reads it.
//
// One that matched without proof (listed within the window of its last
// change, as a mailbox changed many times a second always is) is recorded
// too, with the delayed refresh due dirtyWindow after that listing: a
// change hidden behind the listed timestamp is then found by that
// refresh, as one hidden behind cote's own change is. Without this a busy
// mailbox, once listed too soon, was listed again by every sync for as
// long as it stayed busy.
func (b *box) endOwnChange(oc ownChange, changed [2]bool) []byte {
	dirs := b.st.dirs
	if dirs != oc.dirs {
		return nil
	}
	for i, sub := range subdirs {
		if !changed[i] || !oc.clean[i] {
			continue
		}
		fi, err := os.Stat(b.path(sub))
		if err != nil {
			continue
		}
		check := oc.start.UnixNano()
		if old := dirs[i]; (old.own || !oc.proven[i]) && old.check < check {
			// A pending delayed refresh stays due when it was; an
			// unproven listing is refreshed as if it were one.
			check = old.check
		}
		dirs[i] = dirState{mtime: mtimeOf(fi), check: check, own: true}
	}
	if dirs == b.st.dirs {
		return nil
	}
	return encDirs(dirs)
}
