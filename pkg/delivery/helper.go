package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/cote-mail/cote/pkg/storage"
)

// EnvJob names the environment variable that carries a helper's Job; a
// deliver process that finds it set runs in helper mode (ServeHelper).
const EnvJob = "COTE_DELIVER_JOB"

// Job is one delivery handed to a helper process running as the user.
type Job struct {
	User    storage.UserConfig
	Env     Envelope
	Options Options
}

// result is the helper's one-line JSON answer on stdout.
type result struct {
	Mailbox  string
	Code     int    `json:",omitempty"`
	Enhanced [3]int `json:",omitempty"`
	Text     string `json:",omitempty"`
	Cause    string `json:",omitempty"`
}

// Credential returns the credential a helper for cfg runs with: the
// userdb uid and gid, no supplementary groups. uid 0 is refused: mail is
// never written as root.
func Credential(cfg storage.UserConfig) (*syscall.Credential, error) {
	if cfg.UID <= 0 || cfg.GID < 0 {
		return nil, fmt.Errorf("user %s has uid %d gid %d: delivering as root is refused", cfg.Name, cfg.UID, cfg.GID)
	}
	return &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: []uint32{}}, nil
}

// RunHelper delivers job by running exe (cote's deliver binary, which
// sees EnvJob and runs ServeHelper) with cred (nil: as this process),
// msg as its stdin. It returns the mailbox and the outcome as Deliver
// would: a non-nil error is a *Failure.
func RunHelper(exe string, cred *syscall.Credential, job Job, msg *os.File) (string, error) {
	js, err := json.Marshal(job)
	if err != nil {
		return "", TempFailure(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{EnvJob + "=" + string(js)}
	cmd.Stdin = msg
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	runErr := cmd.Run()
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		return "", TempFailure(fmt.Errorf("delivery helper %s: %v (%v): %s", exe, runErr, err, strings.TrimSpace(stderr.String())))
	}
	if r.Code == 0 {
		return r.Mailbox, nil
	}
	f := &Failure{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
	if r.Cause != "" {
		f.Err = errors.New(r.Cause)
	}
	return r.Mailbox, f
}

// ServeHelper is the helper side: it reads the Job from the environment
// value js and the message from stdin (a regular file: the caller's spool
// fd), delivers it with drivers, writes the result line to out and
// returns the exit status (ExitCode).
func ServeHelper(js string, stdin *os.File, out io.Writer, d *Deliverer) int {
	var job Job
	var mailbox string
	err := json.Unmarshal([]byte(js), &job)
	if err == nil {
		err = checkIdentity(job.User)
	}
	if err != nil {
		err = TempFailure(fmt.Errorf("delivery helper: %w", err))
	} else {
		var st os.FileInfo
		if st, err = stdin.Stat(); err == nil && !st.Mode().IsRegular() {
			err = errors.New("stdin is not a regular file")
		}
		if err != nil {
			err = TempFailure(fmt.Errorf("delivery helper: %w", err))
		} else {
			d.Options = job.Options
			mailbox, err = d.Deliver(job.User, job.Env, Message{R: stdin, Size: st.Size()})
		}
	}
	r := result{Mailbox: mailbox}
	var f *Failure
	if errors.As(err, &f) {
		r.Code, r.Enhanced, r.Text = f.Code, f.Enhanced, f.Text
		if f.Err != nil {
			r.Cause = f.Err.Error()
		}
	}
	line, _ := json.Marshal(r)
	fmt.Fprintf(out, "%s\n", line)
	return ExitCode(err)
}

// checkIdentity refuses a job for a user other than the one this process
// runs as: the helper writes with its own uid, so a mismatch would create
// files the user cannot read.
func checkIdentity(u storage.UserConfig) error {
	if uid := os.Geteuid(); uid != u.UID {
		return fmt.Errorf("runs as uid %d, job is for %s (uid %d)", uid, u.Name, u.UID)
	}
	if gid := os.Getegid(); gid != u.GID {
		return fmt.Errorf("runs as gid %d, job is for %s (gid %d)", gid, u.Name, u.GID)
	}
	return nil
}
