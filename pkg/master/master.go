package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/log"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/tlsconf"
)

// shutdownGrace is how long `shutdown_clients = yes` waits for processes
// to close their clients before they are killed.
const shutdownGrace = 10 * time.Second

// Options configure a Master.
type Options struct {
	// ConfigPath is the absolute path of cote.conf, re-read on reload.
	ConfigPath string
	// Config is the configuration main loaded (and reported errors of).
	Config *settings.Config
	Log    *zap.Logger
	// Sink receives the stderr of every process; Reopen on SIGUSR1.
	Sink *log.Sink
	// Users resolves user and group names; nil means SystemUsers.
	Users Users
	// Ready, if set, is called once: with nil when the suite is READY, or
	// with the reason it is not (a start error, a service being throttled
	// before READY). The daemonizing parent waits on it.
	Ready func(error)
}

// Master binds the listeners and supervises the service processes. All
// state is owned by the goroutine running Run; other goroutines (process
// watchers, listener watchers, the control socket, fsnotify) talk to it
// through channels.
type Master struct {
	opt      Options
	log      *zap.Logger
	cfg      *settings.Config
	users    Users
	privsep  bool
	baseDir  string
	started  time.Time
	bound    map[listenerKey]*boundListener
	services map[string]*service
	procs    map[int]*proc // every live process, current and retiring

	events  chan any
	ctl     chan *controlRequest
	reload  chan struct{}
	done    chan struct{}
	ctlLn   *net.UnixListener
	watcher *configWatcher

	ready      bool
	readyFn    func(error)
	stopping   bool
	killAt     time.Time       // SIGKILL deadline while shutting down
	warned     map[string]bool // warnings already logged: each once per master
	missingLog map[string]bool
	timer      *time.Timer

	// hook, nil in production, reports events to tests ("verified 123",
	// "exit 123", "throttled imap-login", "reloaded", "reload-failed").
	hook func(event string)
}

func (m *Master) event(format string, args ...any) {
	if m.hook != nil {
		m.hook(fmt.Sprintf(format, args...))
	}
}

// service is one generation of a configured service: a reload replaces it.
type service struct {
	conf      settings.Service
	restrict  ipc.Restrict
	snapshot  *os.File // sealed memfd with the service's settings
	listeners []*boundListener
	procs     map[int]*proc
	throttle  throttle
	retired   bool
	// lastOverflow is when the processes were last told "overflow"
	// (login services only; see overflowInterval).
	lastOverflow time.Time
}

// New checks what a start needs beyond the settings package's own
// validation: restriction records (users exist, no root login or mail
// process) and TLS material. It binds nothing.
func New(opt Options) (*Master, error) {
	if opt.Users == nil {
		opt.Users = SystemUsers{}
	}
	m := &Master{
		opt:        opt,
		log:        opt.Log,
		users:      opt.Users,
		privsep:    os.Geteuid() == 0,
		bound:      map[listenerKey]*boundListener{},
		services:   map[string]*service{},
		procs:      map[int]*proc{},
		events:     make(chan any, 64),
		ctl:        make(chan *controlRequest),
		reload:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		warned:     map[string]bool{},
		missingLog: map[string]bool{},
		readyFn:    opt.Ready,
	}
	if _, err := m.prepare(opt.Config); err != nil {
		return nil, err
	}
	m.cfg = opt.Config
	return m, nil
}

// ConfigError lists the problems of a configuration, one per line, as
// "file:line: setting: problem" where a position is known.
type ConfigError struct{ Lines []string }

func (e *ConfigError) Error() string { return strings.Join(e.Lines, "\n") }

// prepare builds the services of cfg: restriction records, snapshots and
// the TLS check. Every problem is collected, so one start shows them all.
func (m *Master) prepare(cfg *settings.Config) (map[string]*service, error) {
	var errs []string
	out := map[string]*service{}
	for _, sc := range cfg.Services() {
		if !settings.BuiltServices[sc.Name] {
			continue
		}
		r, err := BuildRestrict(sc, m.users, m.privsep)
		if err != nil {
			errs = append(errs, posPrefix(sc.Pos.File, sc.Pos.Line)+err.Error())
			continue
		}
		out[sc.Name] = &service{conf: sc, restrict: r, procs: map[int]*proc{}}
	}
	errs = append(errs, m.checkTLS(cfg, out)...)
	if len(errs) > 0 {
		return nil, &ConfigError{Lines: errs}
	}
	return out, nil
}

func posPrefix(file string, line int) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d: ", file, line)
}

// checkTLS builds the TLS configuration of every protocol a service serves
// with TLS, so a missing or bad certificate stops a start or a reload
// (the error names the setting and file). Warnings are logged once.
func (m *Master) checkTLS(cfg *settings.Config, svcs map[string]*service) []string {
	var errs []string
	checked := map[string]bool{}
	names := make([]string, 0, len(svcs))
	for n := range svcs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sc := svcs[n].conf
		if sc.Protocol == "" || checked[sc.Protocol] {
			continue
		}
		sec := cfg.Protocol(sc.Protocol)
		needs := sec.Get("ssl") != "no"
		for _, l := range sc.Inet {
			needs = needs || (l.SSL && l.Port != 0)
		}
		if !needs {
			continue
		}
		checked[sc.Protocol] = true
		_, warns, err := tlsconf.New(tlsconf.FromSection(sec, cfg.LocalNames()))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, w := range warns {
			m.warnOnce(w)
		}
	}
	return errs
}

// Run starts the suite and supervises it until SIGTERM/SIGINT, `cote stop`
// or ctx ends. A start error is returned with nothing left running.
func (m *Master) Run(ctx context.Context) error {
	m.started = time.Now()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	// A dying child's log pipe must not kill the master.
	signal.Ignore(syscall.SIGPIPE)

	if err := m.start(); err != nil {
		m.cleanup()
		m.notifyReady(err)
		return err
	}
	m.timer = time.NewTimer(time.Hour)
	defer m.timer.Stop()
	m.maintain(time.Now())
	ctxDone := ctx.Done()
	for {
		if m.stopping && len(m.procs) == 0 {
			break
		}
		if m.stopping && !m.cfg.Root.Bool("shutdown_clients") {
			break
		}
		select {
		case ev := <-m.events:
			m.handle(ev)
		case req := <-m.ctl:
			m.control(req)
		case <-m.reload:
			m.doReload("configuration changed")
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				m.doReload("SIGHUP")
			case syscall.SIGUSR1:
				m.reopenLogs()
			default:
				if !m.stopping {
					m.log.Info("stopping", zap.String("signal", s.String()))
				}
				m.beginShutdown()
			}
		case <-ctxDone:
			ctxDone = nil
			m.log.Info("stopping", zap.String("reason", "context done"))
			m.beginShutdown()
		case <-m.timer.C:
		}
		if m.stopping {
			if !m.killAt.IsZero() && !time.Now().Before(m.killAt) {
				m.killAll()
				m.killAt = time.Time{}
			}
		} else {
			m.maintain(time.Now())
		}
		m.armTimer(time.Now())
	}
	m.cleanup()
	m.log.Info("stopped")
	return nil
}

// start creates base_dir, the pid file and the control socket, binds every
// listener and starts the config watcher.
func (m *Master) start() error {
	m.baseDir = m.cfg.Root.Get("base_dir")
	if !filepath.IsAbs(m.baseDir) {
		return fmt.Errorf("base_dir: %s: must be an absolute path", m.baseDir)
	}
	if err := m.makeDir(m.baseDir); err != nil {
		return err
	}
	if err := writePidFile(filepath.Join(m.baseDir, PidFileName)); err != nil {
		return err
	}
	ln, err := listenControl(filepath.Join(m.baseDir, ControlSocketName))
	if err != nil {
		os.Remove(filepath.Join(m.baseDir, PidFileName))
		return err
	}
	m.ctlLn = ln
	go serveControl(ln, m.ctl, m.done)

	if !m.privsep {
		m.log.Info(fmt.Sprintf("privilege separation is off: running as uid %d", os.Geteuid()))
	}
	svcs, err := m.prepare(m.cfg)
	if err != nil {
		return err
	}
	if err := m.makeChroots(svcs); err != nil {
		return err
	}
	_, added, _ := diffListeners(m.bound, wantedListeners(svcs))
	newBound, err := m.bindAll(added)
	if err != nil {
		return err
	}
	for k, bl := range newBound {
		m.bound[k] = bl
	}
	if err := m.commit(svcs); err != nil {
		return err
	}
	for _, w := range m.cfg.Warnings {
		m.warnOnce(w)
	}
	m.logMissing()
	if w, err := newConfigWatcher(m.log, m.reload, m.done); err != nil {
		m.log.Warn("configuration changes are not watched", zap.Error(err))
	} else {
		m.watcher = w
		m.watcher.set(m.cfg.Files, m.cfg.Globs)
	}
	return nil
}

// makeDir creates a root-owned 0755 directory the master uses (base_dir, a
// chroot). Unprivileged, the directory belongs to the invoking user.
func (m *Master) makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if m.privsep {
		if err := os.Chown(dir, 0, 0); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	return nil
}

// makeSpool creates queue_directory 0700 owned by owner (mail_owner, the user of the queue
// service; smtpd runs as the same user): the spool holds other people's mail. The queue
// creates its subdirectories itself. An existing directory gets its owner and mode fixed.
func (m *Master) makeSpool(owner string) error {
	dir := m.cfg.Root.Get("queue_directory")
	if dir == "" || owner == "" {
		return nil
	}
	uid, gid, _, err := m.users.User(owner)
	if err != nil {
		return fmt.Errorf("user %s: %w", owner, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// makeChroots creates the chroot directories under base_dir (login/).
// A chroot elsewhere is the administrator's to create.
func (m *Master) makeChroots(svcs map[string]*service) error {
	if !m.privsep {
		return nil
	}
	if s := svcs["queue"]; s != nil {
		if err := m.makeSpool(s.conf.User); err != nil {
			return fmt.Errorf("service queue: queue_directory: %w", err)
		}
	}
	for _, s := range svcs {
		c := s.conf.Chroot
		if c == "" {
			continue
		}
		if rel, err := filepath.Rel(m.baseDir, c); err == nil && !strings.HasPrefix(rel, "..") {
			if err := m.makeDir(c); err != nil {
				return fmt.Errorf("service %s: chroot: %w", s.conf.Name, err)
			}
			// The chroot holds sockets only its processes may reach
			// (login/auth-client is 0666 inside): 0750 root:<the
			// service user's group>, so no other user can enter it.
			if s.conf.User != "" {
				_, gid, _, err := m.users.User(s.conf.User)
				if err != nil {
					return fmt.Errorf("service %s: chroot: user %s: %w", s.conf.Name, s.conf.User, err)
				}
				if err := os.Chown(c, 0, gid); err != nil {
					return fmt.Errorf("service %s: chroot: %w", s.conf.Name, err)
				}
				if err := os.Chmod(c, 0o750); err != nil {
					return fmt.Errorf("service %s: chroot: %w", s.conf.Name, err)
				}
			}
		}
	}
	return nil
}

// wantedListeners lists the sockets of every service, in a stable order.
func wantedListeners(svcs map[string]*service) []listenerKey {
	names := make([]string, 0, len(svcs))
	for n := range svcs {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []listenerKey
	for _, n := range names {
		out = append(out, serviceListeners(svcs[n].conf)...)
	}
	return out
}

// bindAll binds keys; on any error it closes what it bound and returns
// every error (one per line), so nothing is half-bound.
func (m *Master) bindAll(keys []listenerKey) (map[listenerKey]*boundListener, error) {
	out := map[listenerKey]*boundListener{}
	var errs []string
	for _, k := range keys {
		bl, err := bind(k, m.users, m.privsep)
		if errors.Is(err, errIPv6Unavailable) {
			m.log.Warn(err.Error() + "; not listening there")
			continue
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out[k] = bl
	}
	if len(errs) > 0 {
		for _, bl := range out {
			bl.close()
			if bl.key.Unix {
				os.Remove(bl.key.Path)
			}
		}
		return nil, &ConfigError{Lines: errs}
	}
	return out, nil
}

// commit makes svcs the running generation: snapshots are written, the
// services get their bound listeners, and every process of the previous
// generation is told to stop (it finishes its clients).
func (m *Master) commit(svcs map[string]*service) error {
	for name, s := range svcs {
		data, err := m.cfg.ForService(name).Marshal()
		if err != nil {
			return fmt.Errorf("service %s: settings snapshot: %w", name, err)
		}
		f, err := ipc.SealedMemfd("cote-settings-"+name, data)
		if err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
		s.snapshot = f
		for _, k := range serviceListeners(s.conf) {
			if bl, ok := m.bound[k]; ok {
				s.listeners = append(s.listeners, bl)
			}
		}
	}
	for _, old := range m.services {
		old.retired = true
		old.snapshot.Close()
		for _, p := range old.procs {
			m.tell(p, ipc.ControlStop)
		}
	}
	m.services = svcs
	return nil
}

// warnOnce logs a configuration warning the first time it is seen: a
// reload of an unchanged file does not repeat it.
func (m *Master) warnOnce(w string) {
	if !m.warned[w] {
		m.warned[w] = true
		m.log.Warn(w)
	}
}

// logMissing says once per protocol that this build has no service for it.
func (m *Master) logMissing() {
	for _, p := range m.cfg.MissingProtocols() {
		if !m.missingLog[p] {
			m.missingLog[p] = true
			m.log.Warn(fmt.Sprintf("protocol %s is not available in this build; nothing listens for it", p))
		}
	}
}

// doReload re-reads the configuration. On any error the running
// configuration stays and every error line is logged (and returned).
func (m *Master) doReload(reason string) Reply {
	if m.stopping {
		return Reply{Text: "master is stopping"}
	}
	SdNotify("RELOADING=1")
	defer SdNotify("READY=1")
	m.log.Info("reloading", zap.String("reason", reason))
	fail := func(err error) Reply {
		lines := strings.Split(err.Error(), "\n")
		m.log.Error("reload failed; keeping the running configuration")
		for _, l := range lines {
			m.log.Error(l)
		}
		m.event("reload-failed")
		return Reply{Data: lines, Text: "reload failed; keeping the running configuration"}
	}
	cfg, err := settings.Load(m.opt.ConfigPath)
	if err != nil {
		return fail(err)
	}
	svcs, err := m.prepare(cfg)
	if err != nil {
		return fail(err)
	}
	if nb := cfg.Root.Get("base_dir"); nb != m.baseDir {
		m.log.Warn("base_dir changed; it takes effect at the next start", zap.String("base_dir", nb))
	}
	if err := m.makeChroots(svcs); err != nil {
		return fail(err)
	}
	kept, added, removed := diffListeners(m.bound, wantedListeners(svcs))
	newBound, err := m.bindAll(added)
	if err != nil {
		return fail(err)
	}
	for k, bl := range newBound {
		m.bound[k] = bl
	}
	prev := m.cfg
	m.cfg = cfg
	if err := m.commit(svcs); err != nil {
		// The snapshot could not be written: go back to the old services.
		m.cfg = prev
		for _, k := range added {
			if bl := m.bound[k]; bl != nil {
				m.closeListener(bl)
			}
		}
		return fail(err)
	}
	for _, k := range removed {
		m.closeListener(m.bound[k])
	}
	for _, w := range cfg.Warnings {
		m.warnOnce(w)
	}
	m.logMissing()
	if m.watcher != nil {
		m.watcher.set(cfg.Files, cfg.Globs)
	}
	m.event("reloaded")
	m.log.Info("reloaded", zap.Int("listeners_kept", len(kept)),
		zap.Int("listeners_added", len(added)), zap.Int("listeners_removed", len(removed)))
	m.maintain(time.Now())
	return Reply{OK: true, Text: "reloaded"}
}

// closeListener closes a bound socket and unlinks a unix socket file that
// no remaining listener uses.
func (m *Master) closeListener(bl *boundListener) {
	delete(m.bound, bl.key)
	bl.close()
	if bl.key.Unix {
		for k := range m.bound {
			if k.Unix && k.Path == bl.key.Path {
				return
			}
		}
		os.Remove(bl.key.Path)
	}
}

func (m *Master) reopenLogs() error {
	if m.opt.Sink == nil {
		return nil
	}
	if err := m.opt.Sink.Reopen(); err != nil {
		m.log.Error("reopening the log failed", zap.Error(err))
		return err
	}
	m.log.Info("log reopened")
	return nil
}

// control answers one control-socket request.
func (m *Master) control(req *controlRequest) {
	var r Reply
	switch req.verb {
	case CtlReload:
		r = m.doReload("control request")
	case CtlStop:
		m.log.Info("stopping", zap.String("reason", "control request"))
		req.holdOpen = true
		m.beginShutdown()
		r = Reply{OK: true, Text: "stopping"}
	case CtlReopenLogs:
		if err := m.reopenLogs(); err != nil {
			r = Reply{Text: err.Error()}
		} else {
			r = Reply{OK: true, Text: "log reopened"}
		}
	case CtlStatus:
		r = Reply{OK: true, Data: m.status()}
	default:
		r = Reply{Text: "unknown command"}
	}
	req.reply <- r
}

// status renders one line per current service.
func (m *Master) status() []string {
	names := make([]string, 0, len(m.services))
	for n := range m.services {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		s := m.services[n]
		avail, slots := 0, 0
		for _, p := range s.procs {
			if p.available() {
				avail++
				slots += p.avail
			}
		}
		out = append(out, fmt.Sprintf("service %s processes=%d available=%d free_slots=%d throttled=%t",
			n, len(s.procs), avail, slots, s.throttle.active()))
	}
	return out
}

// beginShutdown stops accepting control requests and config changes and
// ends the processes: "shutdown" (close clients now) when
// shutdown_clients = yes, else "stop" (they finish after the master exits).
func (m *Master) beginShutdown() {
	if m.stopping {
		return
	}
	m.stopping = true
	SdNotify("STOPPING=1")
	verb := ipc.ControlStop
	if m.cfg.Root.Bool("shutdown_clients") {
		verb = ipc.ControlShutdown
		m.killAt = time.Now().Add(shutdownGrace)
	}
	for _, p := range m.procs {
		m.tell(p, verb)
	}
}

// killAll SIGKILLs every process still running after the grace period.
func (m *Master) killAll() {
	for _, p := range m.procs {
		m.log.Warn("process did not exit in time; killing it",
			zap.String("service", p.svc.conf.Name), zap.Int("pid", p.pid))
		p.kill("shutdown timeout")
	}
}

// cleanup closes the listeners and removes the pid file and control socket.
func (m *Master) cleanup() {
	if m.watcher != nil {
		m.watcher.close()
	}
	if m.ctlLn != nil {
		m.ctlLn.Close() // unlinks the socket
	}
	for _, bl := range m.bound {
		m.closeListener(bl)
	}
	for _, s := range m.services {
		if s.snapshot != nil {
			s.snapshot.Close()
		}
	}
	for _, p := range m.procs {
		// Closing the control pipe is the "master gone" signal (EOF).
		p.control.Close()
	}
	if m.baseDir != "" && m.ctlLn != nil {
		os.Remove(filepath.Join(m.baseDir, PidFileName))
	}
	// Last: closing done releases a `cote stop` waiting on the control
	// connection, which must find the pid file gone.
	close(m.done)
}

func (m *Master) notifyReady(err error) {
	if m.readyFn != nil {
		m.readyFn(err)
		m.readyFn = nil
	}
}
