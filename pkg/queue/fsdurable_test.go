package queue

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountFSType(t *testing.T) {
	const info = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 8:1 / /srv rw,relatime shared:7 master:1 - xfs /dev/sda1 rw
41 27 8:2 / /old rw,relatime - ext2 /dev/sda2 rw
`
	p := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(p, []byte(info), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		major, minor uint32
		want         string
		wantErr      bool
	}{
		{name: "root ext4", major: 254, minor: 0, want: "ext4"},
		{name: "optional fields", major: 8, minor: 1, want: "xfs"},
		{name: "ext2", major: 8, minor: 2, want: "ext2"},
		{name: "unknown device", major: 9, minor: 9, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mountFSType(p, unix.Mkdev(tc.major, tc.minor))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("mountFSType = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := mountFSType(filepath.Join(t.TempDir(), "missing"), 0); err == nil {
		t.Fatal("a missing mountinfo must be an error")
	}
}

// TestFileSyncCoversLinkKeepsDirSyncElsewhere: only a positive answer skips the directory
// fsync, so every file system this test can see must answer false unless it is one of the
// three the rule was checked for.
func TestFileSyncCoversLinkKeepsDirSyncElsewhere(t *testing.T) {
	dir := t.TempDir()
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	got := fileSyncCoversLink(dir)
	if got && sfs.Type != unix.XFS_SUPER_MAGIC && sfs.Type != unix.EXT4_SUPER_MAGIC {
		t.Fatalf("fileSyncCoversLink = true on file system magic %#x", sfs.Type)
	}
	if fileSyncCoversLink(filepath.Join(dir, "missing")) {
		t.Fatal("a missing directory must keep the directory fsync")
	}
	t.Logf("magic %#x: file fsync covers the link: %v", sfs.Type, got)
}
