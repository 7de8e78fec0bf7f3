package ipc

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Creds are the credentials of one thread as /proc reports them.
type Creds struct {
	TID        int
	UIDs       [4]int // real, effective, saved, filesystem
	GIDs       [4]int
	Groups     []int
	NoNewPrivs bool
}

// ProcCreds reads the credentials of every thread of pid from
// /proc/PID/task/*/status, and the process root from /proc/PID/root.
func ProcCreds(pid int) (threads []Creds, root string, err error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return nil, "", fmt.Errorf("ipc: no tasks for pid %d", pid)
	}
	for _, path := range tasks {
		c, err := readStatus(path)
		if err != nil {
			// A thread may exit between the glob and the read.
			if os.IsNotExist(err) {
				continue
			}
			return nil, "", err
		}
		c.TID, _ = strconv.Atoi(filepath.Base(filepath.Dir(path)))
		threads = append(threads, c)
	}
	root, err = os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return nil, "", fmt.Errorf("ipc: root of pid %d: %w", pid, err)
	}
	return threads, root, nil
}

func readStatus(path string) (Creds, error) {
	var c Creds
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		switch key {
		case "Uid", "Gid":
			if len(fields) != 4 {
				return c, fmt.Errorf("ipc: %s: bad %s line", path, key)
			}
			dst := &c.UIDs
			if key == "Gid" {
				dst = &c.GIDs
			}
			for i, f := range fields {
				dst[i], _ = strconv.Atoi(f)
			}
		case "Groups":
			for _, f := range fields {
				n, _ := strconv.Atoi(f)
				c.Groups = append(c.Groups, n)
			}
			slices.Sort(c.Groups)
		case "NoNewPrivs":
			c.NoNewPrivs = strings.TrimSpace(val) == "1"
		}
	}
	return c, sc.Err()
}

// Check reports whether every thread of pid runs with the credentials and
// root that r asks for; the error names the first mismatch.
func (r Restrict) Check(pid int) error {
	threads, root, err := ProcCreds(pid)
	if err != nil {
		return err
	}
	wantRoot := "/"
	if r.Chroot != "" {
		wantRoot = filepath.Clean(r.Chroot)
	}
	if root != wantRoot {
		return fmt.Errorf("pid %d: root is %q, want %q", pid, root, wantRoot)
	}
	var groups []int
	if r.Groups != nil {
		groups = slices.Clone(r.Groups)
		slices.Sort(groups)
	}
	for _, t := range threads {
		for i := range 4 {
			if r.UID >= 0 && t.UIDs[i] != r.UID {
				return fmt.Errorf("pid %d thread %d: uids %v, want %d", pid, t.TID, t.UIDs, r.UID)
			}
			if r.GID >= 0 && t.GIDs[i] != r.GID {
				return fmt.Errorf("pid %d thread %d: gids %v, want %d", pid, t.TID, t.GIDs, r.GID)
			}
		}
		if r.UID >= 0 && !slices.Equal(t.Groups, groups) {
			return fmt.Errorf("pid %d thread %d: groups %v, want %v", pid, t.TID, t.Groups, groups)
		}
		if r.UID >= 0 && !t.NoNewPrivs {
			return fmt.Errorf("pid %d thread %d: no_new_privs not set", pid, t.TID)
		}
	}
	return nil
}
