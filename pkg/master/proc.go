package master

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/ipc"
)

// childPath is the PATH of every service process; the environment of the
// master (which may come from an admin's shell) is not passed on.
const childPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// proc is one running service process.
type proc struct {
	pid      int
	svc      *service
	cmd      *exec.Cmd
	control  *os.File // write end of the control pipe (fd 5 in the child)
	started  time.Time
	verified bool // "ready" arrived and Restrict.Check passed
	avail    int  // free client slots as last reported
	idleFrom time.Time
	done     bool   // the process said "done": it takes no new clients
	told     string // control verb sent ("stop", "shutdown"), "" if none
	killed   string // why the master SIGKILLed it
}

// available reports whether the process takes new clients now.
func (p *proc) available() bool {
	return p.verified && p.avail > 0 && !p.done && p.told == "" && p.killed == ""
}

// pending reports whether the process is starting and will take clients,
// or was killed and not yet reaped: no replacement is started for it until
// its exit has been seen, so a process that fails its check is throttled
// instead of replaced at once.
func (p *proc) pending() bool {
	return p.killed != "" || (!p.verified && !p.done && p.told == "")
}

func (p *proc) kill(reason string) {
	if p.killed == "" {
		p.killed = reason
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
}

// Events delivered to the master's loop.
type (
	evStatus struct {
		p   *proc
		m   ipc.Message
		err error
	}
	evExit struct {
		p     *proc
		state *os.ProcessState
		err   error
	}
	evReadable struct {
		bl  *boundListener
		err error
	}
)

// execDirs lists where a relative `executable` is looked for:
// $COTE_LIBEXEC_DIR, then <dir of the master>/../libexec/cote (an installed
// tree), then the master's own directory (bin/ of the dev tree).
func execDirs() []string {
	var dirs []string
	if d := os.Getenv("COTE_LIBEXEC_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		dirs = append(dirs, filepath.Join(dir, "..", "libexec", "cote"), dir)
	}
	return dirs
}

// findExecutable resolves a service's binary: an absolute path as it is,
// a bare name in the first of dirs that has it.
func findExecutable(bin string, dirs []string) (string, error) {
	if bin == "" {
		return "", errors.New("executable: empty")
	}
	isExec := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
	}
	if filepath.IsAbs(bin) {
		if !isExec(bin) {
			return "", fmt.Errorf("executable %s: not found or not executable", bin)
		}
		return bin, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, bin)
		if isExec(p) {
			return filepath.Clean(p), nil
		}
	}
	return "", fmt.Errorf("executable %s: not found in %s", bin, strings.Join(dirs, ", "))
}

// spawn starts one process of s per the ipc contract. A failure to start
// counts as a process that exited at once (it is throttled).
func (m *Master) spawn(s *service, now time.Time) {
	name := s.conf.Name
	if err := m.startProc(s, now); err != nil {
		m.log.Error(fmt.Sprintf("service %s: %v", name, err))
		m.failed(s, now)
	}
}

func (m *Master) startProc(s *service, now time.Time) error {
	path, err := findExecutable(s.conf.Executable, execDirs())
	if err != nil {
		return err
	}
	args := append([]string{s.conf.Executable}, s.conf.Args...)
	specs := make([]ipc.ListenerSpec, len(s.listeners))
	files := []*os.File{s.snapshot, nil, nil}
	for i, bl := range s.listeners {
		specs[i] = bl.key.spec()
		files = append(files, bl.file)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return err
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		ctlR.Close()
		ctlW.Close()
		return err
	}
	files[1], files[2] = statusW, ctlR
	env := []string{
		"PATH=" + childPath,
		ipc.EnvService + "=" + s.conf.Name,
		ipc.EnvListeners + "=" + ipc.EncodeListeners(specs),
		ipc.EnvRestrict + "=" + s.restrict.Encode(),
	}
	if s.restrict.GoMemLimit > 0 {
		env = append(env, "GOMEMLIMIT="+strconv.FormatUint(s.restrict.GoMemLimit, 10))
	}
	if !m.privsep {
		env = append(env, ipc.EnvNoPrivsep+"=1")
	}
	// Passed through so tests measure coverage and services log in the
	// operator's time zone.
	for _, k := range []string{"TZ", "GOCOVERDIR", "GOTRACEBACK"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       args,
		Env:        env,
		Dir:        "/",
		Stderr:     logW,
		ExtraFiles: files,
		// Its own process group: a terminal's Ctrl-C reaches the master
		// only, which then stops the services in order. No Credential or
		// Chroot: the service drops privileges itself (ARCHITECTURE.md).
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	statusW.Close()
	ctlR.Close()
	logW.Close()
	if err != nil {
		statusR.Close()
		ctlW.Close()
		logR.Close()
		return fmt.Errorf("executable %s: %v", path, errnoText(err))
	}
	p := &proc{pid: cmd.Process.Pid, svc: s, cmd: cmd, control: ctlW, started: now}
	s.procs[p.pid] = p
	m.procs[p.pid] = p
	m.event("spawned %d", p.pid)
	m.log.Debug("process started", zap.String("service", s.conf.Name), zap.Int("pid", p.pid))
	go func() {
		if m.opt.Sink != nil {
			m.opt.Sink.Relay(logR, s.conf.Name, p.pid)
		} else {
			io.Copy(io.Discard, logR)
		}
		logR.Close()
	}()
	go m.watchProc(p, statusR)
	return nil
}

// watchProc reads the status pipe until EOF, then reaps the process. One
// goroutine does both so the exit event always follows the process's last
// status line ("done" before exit is a normal end).
func (m *Master) watchProc(p *proc, statusR *os.File) {
	br := bufio.NewReaderSize(statusR, 256)
	for {
		msg, err := ipc.ReadMessage(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				m.events <- evStatus{p: p, err: err}
			}
			break
		}
		m.events <- evStatus{p: p, m: msg}
	}
	statusR.Close()
	err := p.cmd.Wait()
	m.events <- evExit{p: p, state: p.cmd.ProcessState, err: err}
}

func (m *Master) handle(ev any) {
	now := time.Now()
	switch ev := ev.(type) {
	case evStatus:
		m.handleStatus(ev, now)
	case evExit:
		m.handleExit(ev, now)
	case evReadable:
		ev.bl.armed = false
		if ev.err == nil && !m.stopping {
			m.onDemand(ev.bl, now)
		}
	}
}

// handleStatus applies one status line of a process.
func (m *Master) handleStatus(ev evStatus, now time.Time) {
	p := ev.p
	name := p.svc.conf.Name
	if ev.err != nil {
		m.log.Error(fmt.Sprintf("service %s: bad status line from process; killing it", name),
			zap.Int("pid", p.pid), zap.Error(ev.err))
		p.kill("bad status line")
		return
	}
	switch ev.m.Verb {
	case ipc.StatusReady:
		if p.verified {
			return
		}
		// The process says it dropped its privileges: believe /proc, not it.
		if err := p.svc.restrict.Check(p.pid); err != nil {
			m.log.Error(fmt.Sprintf("service %s: process failed the privilege check; killing it", name),
				zap.Int("pid", p.pid), zap.Error(err))
			p.kill("privilege check failed")
			return
		}
		p.verified = true
		m.setAvail(p, ev.m.N, now)
		m.event("verified %d", p.pid)
	case ipc.StatusAvail:
		if !p.verified {
			m.log.Error(fmt.Sprintf("service %s: process reported avail before ready; killing it", name),
				zap.Int("pid", p.pid))
			p.kill("avail before ready")
			return
		}
		m.setAvail(p, ev.m.N, now)
	case ipc.StatusDone:
		p.done = true
	}
}

func (m *Master) setAvail(p *proc, n int, now time.Time) {
	if n >= p.svc.conf.ClientLimit {
		if p.avail < p.svc.conf.ClientLimit || p.idleFrom.IsZero() {
			p.idleFrom = now
		}
	} else {
		p.idleFrom = time.Time{}
	}
	p.avail = n
}

// handleExit reaps a process: a normal end, or a crash to log and throttle.
func (m *Master) handleExit(ev evExit, now time.Time) {
	p := ev.p
	s := p.svc
	delete(m.procs, p.pid)
	delete(s.procs, p.pid)
	p.control.Close()
	m.event("exit %d", p.pid)
	name := s.conf.Name
	status := "unknown"
	if ev.state != nil {
		status = ev.state.String()
	}
	clean := ev.state != nil && ev.state.Success()
	expected := p.done || p.told != ""
	switch {
	case p.killed != "":
		m.log.Warn(fmt.Sprintf("service %s: process killed", name),
			zap.Int("pid", p.pid), zap.String("reason", p.killed), zap.String("status", status))
	case clean && expected:
		m.log.Debug("process exited", zap.String("service", name), zap.Int("pid", p.pid))
		return
	case m.stopping && p.told == ipc.ControlShutdown:
		// Told to shut down: a non-zero status here is still an end we
		// asked for; say so without calling it a crash.
		m.log.Info(fmt.Sprintf("service %s: process exited", name), zap.Int("pid", p.pid), zap.String("status", status))
		return
	default:
		m.log.Error(fmt.Sprintf("service %s: process exited unexpectedly", name),
			zap.Int("pid", p.pid), zap.String("status", status))
	}
	if s.retired || m.stopping {
		return
	}
	if now.Sub(p.started) < quickStart {
		m.failed(s, now)
	} else {
		s.throttle.survived()
	}
}

// failed throttles s after a process that died at once or could not start.
func (m *Master) failed(s *service, now time.Time) {
	delay, first := s.throttle.failed(now)
	m.event("throttled %s", s.conf.Name)
	if first {
		msg := fmt.Sprintf("service %s: throttling: process exits at once; next start in %s", s.conf.Name, delay)
		m.log.Warn(msg)
		if !m.ready {
			m.notifyReady(&NotReadyError{Msg: msg})
		}
	} else {
		m.log.Debug("throttled", zap.String("service", s.conf.Name), zap.Duration("next_start", delay))
	}
}

// tell sends a control verb to a process; a process that cannot be told
// (its pipe is gone) is ending anyway.
func (m *Master) tell(p *proc, verb string) {
	if p.told == ipc.ControlShutdown || p.told == verb {
		return
	}
	p.told = verb
	if err := ipc.WriteMessage(p.control, ipc.Message{Verb: verb}); err != nil {
		m.log.Debug("control pipe write failed", zap.Int("pid", p.pid), zap.Error(err))
	}
}

// onDemand spawns a process for a client waiting on an idle listener.
func (m *Master) onDemand(bl *boundListener, now time.Time) {
	s := m.services[bl.key.Service]
	if s == nil || s.retired || !slicesContains(s.listeners, bl) {
		return
	}
	avail, total := s.counts()
	if avail == 0 && total < s.conf.ProcessLimit && s.throttle.allows(now) {
		m.spawn(s, now)
		return
	}
	if s.overflowDue(now) {
		m.overflow(s, now)
	}
}

func slicesContains(ls []*boundListener, bl *boundListener) bool {
	for _, x := range ls {
		if x == bl {
			return true
		}
	}
	return false
}

// counts returns how many processes take (or are about to take) clients,
// and how many count against process_limit.
func (s *service) counts() (avail, total int) {
	for _, p := range s.procs {
		if p.available() || p.pending() {
			avail++
		}
	}
	return avail, len(s.procs)
}

// maintain brings every service to its process_min_avail, tells idle
// surplus processes to stop (idle_kill), arms the on-demand watch of idle
// listeners, ends throttle episodes, and announces READY.
func (m *Master) maintain(now time.Time) {
	for _, s := range m.services {
		for _, p := range s.procs {
			if s.throttle.active() && p.verified && now.Sub(p.started) >= quickStart {
				s.throttle.survived()
			}
		}
		avail, total := s.counts()
		for avail < s.conf.ProcessMinAvail && total < s.conf.ProcessLimit && s.throttle.allows(now) {
			before := len(s.procs)
			m.spawn(s, now)
			if len(s.procs) == before {
				break // failed to start: throttled now
			}
			avail++
			total++
		}
		if s.conf.IdleKill > 0 {
			for _, p := range s.procs {
				if avail <= s.conf.ProcessMinAvail {
					break
				}
				if p.available() && !p.idleFrom.IsZero() && now.Sub(p.idleFrom) >= s.conf.IdleKill {
					m.log.Debug("idle_kill", zap.String("service", s.conf.Name), zap.Int("pid", p.pid))
					m.tell(p, ipc.ControlStop)
					avail--
				}
			}
		}
		// Watch the idle listeners for a waiting client: to spawn a
		// process for it or, a login service being full, to evict one.
		if (avail == 0 && total < s.conf.ProcessLimit && s.throttle.allows(now)) || s.overflowDue(now) {
			for _, bl := range s.listeners {
				if !bl.armed {
					bl.armed = true
					go func(bl *boundListener) {
						err := bl.waitReadable()
						select {
						case m.events <- evReadable{bl: bl, err: err}:
						case <-m.done:
						}
					}(bl)
				}
			}
		}
	}
	if !m.ready && m.isReady() {
		m.ready = true
		m.log.Info("ready", zap.Duration("elapsed", time.Since(m.started)))
		if err := SdNotify("READY=1"); err != nil {
			m.log.Warn("notifying the service manager failed", zap.Error(err))
		}
		m.notifyReady(nil)
	}
}

// isReady: every listener is bound (start did that) and every service has
// process_min_avail verified processes with free slots.
func (m *Master) isReady() bool {
	for _, s := range m.services {
		need := min(s.conf.ProcessMinAvail, s.conf.ProcessLimit)
		n := 0
		for _, p := range s.procs {
			if p.available() {
				n++
			}
		}
		if n < need {
			return false
		}
	}
	return true
}

// armTimer sets the loop's timer to the next instant something is due: a
// throttle ending, an idle_kill deadline, a throttle episode to close, the
// shutdown kill deadline.
func (m *Master) armTimer(now time.Time) {
	next := now.Add(time.Hour)
	// Only future instants: a deadline already past was acted on (or
	// deliberately not, as an idle process kept for process_min_avail) by
	// the maintain call that ran just before.
	at := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	if m.stopping {
		if !m.killAt.IsZero() {
			at(m.killAt)
		}
	} else {
		for _, s := range m.services {
			if s.throttle.active() {
				if !s.throttle.allows(now) {
					at(s.throttle.until)
				}
				for _, p := range s.procs {
					if p.verified {
						at(p.started.Add(quickStart))
					}
				}
			}
			if s.full() {
				// The listener watch resumes when the rate limit ends.
				at(s.lastOverflow.Add(overflowInterval))
			}
			if s.conf.IdleKill > 0 {
				for _, p := range s.procs {
					if p.available() && !p.idleFrom.IsZero() {
						at(p.idleFrom.Add(s.conf.IdleKill))
					}
				}
			}
		}
	}
	if !m.timer.Stop() {
		select {
		case <-m.timer.C:
		default:
		}
	}
	m.timer.Reset(next.Sub(now))
}
