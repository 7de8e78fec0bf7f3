package queue

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// fileSyncCoversLink reports whether, on the file system holding dir, the first fsync of a
// file after it was linked into dir also makes that name durable, so that dir needs no
// fsync of its own (Postfix relies on the same: it fsyncs only the queue file):
//
//   - XFS: fsync forces the log up to the inode's last logged change; the link logged
//     the inode (link count, ctime), and the log is forced in order, so the directory
//     entry is on stable storage with it.
//   - ext4 with a journal (and ext3, which the ext4 driver serves): fsync commits the
//     journal transaction of the inode's last change, the link's, which holds the new
//     directory entry too.
//   - ext4 without a journal: ext4_add_entry marks the inode EXT4_STATE_NEWENTRY, and
//     the next fsync of the inode then writes its parent directory's buffers and inode
//     as well (ext4_sync_parent, fs/ext4/fsync.c) before the cache flush.
//
// statfs cannot tell ext4 from ext2 (one magic), and the ext2 driver has no such rule, so
// for that magic the file system type of the mount (/proc/self/mountinfo, matched by
// device number) must say ext4 or ext3. Anything else (ext2, btrfs, tmpfs, NFS, an
// unreadable mountinfo) keeps the directory fsync.
func fileSyncCoversLink(dir string) bool {
	var sfs unix.Statfs_t
	if unix.Statfs(dir, &sfs) != nil {
		return false
	}
	switch sfs.Type {
	case unix.XFS_SUPER_MAGIC:
		return true
	case unix.EXT4_SUPER_MAGIC:
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil {
			return false
		}
		t, err := mountFSType("/proc/self/mountinfo", uint64(st.Dev))
		return err == nil && (t == "ext4" || t == "ext3")
	}
	return false
}

// mountFSType returns the file system type of the mount of device dev in the mountinfo
// file path (proc(5): "id parent major:minor root point options [optional...] - type
// source super-options").
func mountFSType(path string, dev uint64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != want {
			continue
		}
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) {
				return fields[i+1], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("device %s is not in %s", want, path)
}
