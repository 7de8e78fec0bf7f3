package master

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// envDaemonFD names the descriptor on which a daemonized master reports
// its start to the parent that launched it. Go cannot fork, so `cote`
// without -F re-executes itself in a new session and waits on this pipe.
const envDaemonFD = "COTE_DAEMON_FD"

// Lines on the daemon pipe: "READY" once the suite is ready, or "ERR text"
// lines followed by EOF when the start failed.
const (
	daemonReady   = "READY"
	daemonErr     = "ERR "
	daemonRunning = "RUNNING" // after ERR lines: the daemon keeps running, not ready
)

// NotReadyError is the Ready report of a master that started but cannot
// become ready yet (a service is being throttled); it keeps running.
type NotReadyError struct{ Msg string }

func (e *NotReadyError) Error() string { return e.Msg }

// Daemonize starts the master again as a daemon: the running binary with
// args (which must make it stay in the foreground, i.e. include -F) in a
// new session, with its standard streams on /dev/null and cwd "/". It
// returns when the daemon is ready (nil) or has reported why it is not.
func Daemonize(args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        append([]string{os.Args[0]}, args...),
		Env:         append(os.Environ(), envDaemonFD+"=3"),
		Dir:         "/",
		ExtraFiles:  []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	w.Close()
	defer r.Close()
	// The daemon is not our child to wait for once it is running; release
	// it so it is not left as a zombie when it ends before we do.
	pid := cmd.Process.Pid
	var errs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch line {
		case daemonReady:
			cmd.Process.Release()
			return nil
		case daemonRunning:
			cmd.Process.Release()
			errs = append(errs, fmt.Sprintf("cote is running (pid %d) but not ready; see the log", pid))
			return errors.New(strings.Join(errs, "\n"))
		}
		errs = append(errs, strings.TrimPrefix(line, daemonErr))
	}
	// EOF without READY: the start failed and the daemon is exiting.
	state, werr := cmd.Process.Wait()
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	if werr == nil {
		return fmt.Errorf("cote exited during start (%s); see the log", state)
	}
	return errors.New("cote exited during start; see the log")
}

// DaemonReporter returns the function a master calls once with nil when
// ready or with the error that stops (or degrades) its start. In a master
// started by Daemonize it writes to the parent's pipe; otherwise it does
// nothing.
func DaemonReporter() func(error) {
	fdStr := os.Getenv(envDaemonFD)
	if fdStr == "" {
		return func(error) {}
	}
	os.Unsetenv(envDaemonFD)
	fd, err := strconv.Atoi(fdStr)
	if err != nil {
		return func(error) {}
	}
	f := os.NewFile(uintptr(fd), "daemon-pipe")
	syscall.CloseOnExec(fd)
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			if err == nil {
				fmt.Fprintln(f, daemonReady)
			} else {
				for _, l := range strings.Split(err.Error(), "\n") {
					fmt.Fprintln(f, daemonErr+l)
				}
				var nr *NotReadyError
				if errors.As(err, &nr) {
					fmt.Fprintln(f, daemonRunning)
				}
			}
			f.Close()
		})
	}
}
