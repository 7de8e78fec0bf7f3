package master

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ReadPidFile returns the pid recorded in path and whether that process is
// alive. A missing file is (0, false, nil).
func ReadPidFile(path string) (int, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false, fmt.Errorf("pid file %s: bad contents", path)
	}
	return pid, alive(pid), nil
}

// alive reports whether pid exists (EPERM: it exists, owned by another user).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// writePidFile refuses to start when a live master owns path and
// otherwise writes our pid atomically (temp file + rename).
func writePidFile(path string) error {
	pid, live, err := ReadPidFile(path)
	if err == nil && live && pid != os.Getpid() {
		return fmt.Errorf("cote is already running (pid %d)", pid)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.pid.")
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", os.Getpid()); err != nil {
		tmp.Close()
		return fmt.Errorf("pid file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("pid file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// SdNotify sends state (e.g. "READY=1") to the service manager's
// $NOTIFY_SOCKET, a unixgram socket; a name starting with @ is abstract.
// Without NOTIFY_SOCKET it does nothing.
func SdNotify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET: %w", err)
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
