package testkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
)

// Timeouts of the kit. They are generous because CI runs on a loaded 2-core
// machine; they bound waits for signals, they are never slept.
const (
	// ReadyTimeout bounds the wait for READY=1 after the master starts.
	ReadyTimeout = 60 * time.Second
	// StopTimeout bounds the wait for the master and its children to exit
	// after SIGTERM (the master itself gives clients 10 s before SIGKILL).
	StopTimeout = 30 * time.Second
	// WaitTimeout is the default bound of WaitLog and WaitChildren.
	WaitTimeout = 30 * time.Second
	// procPoll is the period of /proc scans, which have no notification.
	procPoll = 20 * time.Millisecond
)

// Options configure a Suite.
type Options struct {
	// Extra is configuration text appended after the kit's overrides in
	// local.conf, so it wins over both the shipped tree and the kit.
	Extra string
	// NoReady starts the master without waiting for READY=1 (a service that
	// never comes up, a config the master must refuse). WaitReady waits later.
	NoReady bool
	// NoPorts keeps the shipped ports instead of picking free ones.
	NoPorts bool
	// Env is added to the master's environment.
	Env []string
}

// Suite is one cote master with its temporary configuration tree.
type Suite struct {
	t    testing.TB
	opts Options

	Bin  string // directory holding the built binaries
	Root string // module root
	Cert *Cert

	dir       string // the temporary tree
	conf      string // dir/etc/cote.conf
	local     string // dir/etc/local.conf, the kit's overrides
	baseDir   string
	ports     string // the kit's port overrides
	extra     string
	notifyDir string

	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error
	readerEnd chan struct{}
	started   time.Time
	readyAt   time.Duration

	mu      sync.Mutex
	lines   []string
	notes   []string
	changed chan struct{} // closed and replaced on every new line or note
	quiet   bool          // set once the test is over: stop logging to t
	addrs   map[string]string
}

var mkusersOnce sync.Once

// New lays out a temporary configuration tree and returns a Suite that is
// not started yet (see Start). The tree is a copy of the repository's etc/
// (cote.conf and conf.d/) whose certificate paths point at a mkcert.sh
// certificate, and an etc/local.conf (the shipped cote.conf includes it last)
// with: base_dir inside the tree, listen = 127.0.0.1, log_path =
// /dev/stderr, a free port for every inet listener, then opts.Extra.
func New(t testing.TB, opts Options) *Suite {
	t.Helper()
	s := &Suite{
		t:       t,
		opts:    opts,
		Root:    ModuleRoot(t),
		Bin:     Build(t),
		Cert:    MakeCert(t),
		extra:   opts.Extra,
		changed: make(chan struct{}),
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("cotenull"); err != nil {
			mkusersOnce.Do(func() {
				out, err := exec.Command("sh", filepath.Join(s.Root, "scripts", "mkusers.sh")).CombinedOutput()
				if err != nil {
					t.Logf("scripts/mkusers.sh: %v\n%s", err, out)
				}
			})
		}
	}
	// A short path under /tmp: unix socket paths (base_dir/master, the
	// notify socket) must stay under 108 bytes, and test names are long.
	dir, err := os.MkdirTemp("", "cote-")
	if err != nil {
		t.Fatal(err)
	}
	// Traversable by the unprivileged service users (the login chroot lives
	// below it); its contents keep their own modes.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	s.conf = filepath.Join(dir, "etc", "cote.conf")
	s.local = filepath.Join(dir, "etc", "local.conf")
	s.baseDir = filepath.Join(dir, "run")
	if err := copyEtc(filepath.Join(s.Root, "etc"), filepath.Join(dir, "etc"), s.Cert.SSLDir); err != nil {
		t.Fatal(err)
	}
	if !opts.NoPorts {
		s.pickPorts()
	}
	s.writeLocal()
	t.Cleanup(s.cleanup)
	return s
}

// Start is New followed by Start.
func Start(t testing.TB, opts Options) *Suite {
	t.Helper()
	s := New(t, opts)
	s.Start()
	return s
}

// Dir is the temporary tree; ConfigPath its cote.conf; BaseDir its base_dir.
func (s *Suite) Dir() string        { return s.dir }
func (s *Suite) ConfigPath() string { return s.conf }
func (s *Suite) BaseDir() string    { return s.baseDir }

// Binary returns the path of a built binary ("cote", "imap-login", ...).
func (s *Suite) Binary(name string) string { return filepath.Join(s.Bin, name) }

// copyEtc copies the shipped configuration tree, pointing the certificate
// paths of the shipped ssl settings (/etc/pki/cote/...) at sslDir.
func copyEtc(src, dst, sslDir string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data = []byte(strings.ReplaceAll(string(data), "/etc/pki/cote/", sslDir+"/"))
		return os.WriteFile(out, data, 0o644)
	})
}

// pickPorts loads the tree as it stands (shipped settings plus Extra) and
// writes a free 127.0.0.1 port for every enabled inet listener.
func (s *Suite) pickPorts() {
	s.ports = ""
	s.writeLocal()
	cfg, err := settings.Load(s.conf)
	if err != nil {
		// A test of a broken configuration: the master reports it.
		s.t.Logf("testkit: config does not load, keeping its ports: %v", err)
		return
	}
	var b strings.Builder
	// A port probed free and closed can come back from the next probe;
	// two listeners on one port would fail the configuration.
	used := map[int]bool{}
	for _, svc := range cfg.Services() {
		var ls strings.Builder
		for _, l := range svc.Inet {
			if l.Port == 0 {
				continue
			}
			port := FreePort(s.t)
			for used[port] {
				port = FreePort(s.t)
			}
			used[port] = true
			fmt.Fprintf(&ls, "  inet_listener %s {\n    port = %d\n  }\n", l.Name, port)
		}
		if ls.Len() > 0 {
			fmt.Fprintf(&b, "service %s {\n%s}\n", svc.Name, ls.String())
		}
	}
	s.ports = b.String()
}

func (s *Suite) localText() string {
	return fmt.Sprintf(`# Written by pkg/testkit: the test suite's overrides of the shipped tree.
base_dir = %s
listen = 127.0.0.1
log_path = /dev/stderr

%s
# The test's own settings.
%s
`, s.baseDir, s.ports, s.extra)
}

func (s *Suite) writeLocal() {
	s.t.Helper()
	// Written to a temporary name and renamed, as editors save: the master's
	// watcher must cope with that, and it never sees a half-written file.
	tmp := s.local + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.localText()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, s.local); err != nil {
		s.t.Fatal(err)
	}
	s.loadAddrs()
}

// loadAddrs learns every inet listener's address from the configuration as
// written, so Addr answers what the master was told.
//
// A configuration that does not load (a test breaking it on purpose)
// keeps the addresses of the last one that did.
func (s *Suite) loadAddrs() {
	addrs := map[string]string{}
	cfg, err := settings.Load(s.conf)
	if err != nil {
		return
	}
	for _, svc := range cfg.Services() {
		for _, l := range svc.Inet {
			if l.Port == 0 {
				continue
			}
			host := "127.0.0.1"
			if len(l.Addresses) > 0 && l.Addresses[0] != "*" && l.Addresses[0] != "" {
				host = strings.Trim(l.Addresses[0], "[]")
				if host == "::" {
					host = "::1"
				}
			}
			addrs[svc.Name+"/"+l.Name] = net.JoinHostPort(host, strconv.Itoa(l.Port))
		}
	}
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()
}

// Rewrite replaces the test's settings (Options.Extra) in local.conf and
// saves it the way editors do (write, rename). The master notices through
// its file watcher; send SIGHUP to reload at once. The kit's port choices
// stay; put a new port in extra to move a listener.
func (s *Suite) Rewrite(extra string) {
	s.t.Helper()
	s.extra = extra
	s.writeLocal()
}

// WriteFile writes a file of the tree (relative to its etc/), e.g. to break
// an included file on purpose.
func (s *Suite) WriteFile(rel, content string) {
	s.t.Helper()
	p := filepath.Join(s.dir, "etc", rel)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		s.t.Fatal(err)
	}
}

// Addr returns "host:port" of a service's inet listener per the
// configuration the kit last wrote; the test fails when it has none.
func (s *Suite) Addr(service, listener string) string {
	s.t.Helper()
	s.mu.Lock()
	a, ok := s.addrs[service+"/"+listener]
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("testkit: no inet_listener %s of service %s in the configuration", listener, service)
	}
	return a
}

// Start runs `cote -F -c cote.conf` and, unless Options.NoReady, waits for
// READY=1. A start that fails with "address already in use" (another
// process took a port between the kit's probe and the master's bind) is
// retried once with new ports.
func (s *Suite) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("testkit: suite already started")
	}
	s.start()
	if s.opts.NoReady {
		return
	}
	if err := s.waitReady(ReadyTimeout); err != nil {
		if !s.opts.NoPorts && s.hasExited() && s.logMatches(regexp.MustCompile(`address already in use`)) {
			s.t.Logf("testkit: a port was taken before the master bound it; retrying with new ports")
			s.cmd = nil
			os.RemoveAll(s.notifyDir)
			s.pickPorts()
			s.writeLocal()
			s.start()
			err = s.waitReady(ReadyTimeout)
		}
		if err != nil {
			s.t.Fatalf("testkit: %v", err)
		}
	}
}

func (s *Suite) start() {
	s.t.Helper()
	notifyDir, err := os.MkdirTemp("", "cn-")
	if err != nil {
		s.t.Fatal(err)
	}
	s.notifyDir = notifyDir
	notifyPath := filepath.Join(notifyDir, "n")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		s.t.Fatal(err)
	}
	go s.readNotify(nc)

	pr, pw, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(s.Bin, MasterBinary), "-F", "-c", s.conf)
	cmd.Env = append(withoutEnv(os.Environ(), "NOTIFY_SOCKET"), "NOTIFY_SOCKET="+notifyPath)
	cmd.Env = append(cmd.Env, s.opts.Env...)
	cmd.Stdout = pw
	cmd.Stderr = pw
	// The master dies with the test process even when the test binary is
	// killed by its -timeout, so no suite outlives `go test`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.mu.Lock()
	s.started = time.Now()
	s.readyAt = 0
	s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		nc.Close()
		s.t.Fatalf("testkit: start %s: %v", cmd.Path, err)
	}
	pw.Close()
	s.cmd = cmd
	s.exited = make(chan struct{})
	s.readerEnd = make(chan struct{})
	go func() {
		defer close(s.readerEnd)
		s.readLog(pr)
	}()
	go func() {
		err := cmd.Wait()
		// The log pipe may be held by a leaked grandchild; the master's own
		// output is complete once it exited and the reader drained it, but
		// do not block on that here.
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		nc.Close()
		close(s.exited)
	}()
}

func (s *Suite) readLog(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			s.addLine(strings.TrimRight(line, "\n"))
		}
		if err != nil {
			return
		}
	}
}

func (s *Suite) readNotify(c *net.UnixConn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if l == "" {
				continue
			}
			if l == "READY=1" && s.readyAt == 0 {
				s.readyAt = time.Since(s.started)
			}
			s.notes = append(s.notes, l)
		}
		s.broadcastLocked()
		s.mu.Unlock()
	}
}

func (s *Suite) addLine(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
	s.broadcastLocked()
	// Under the lock: cleanup sets quiet under it too, so no line reaches
	// t.Log after the test is over (testing panics on that).
	if !s.quiet {
		s.t.Log("cote: " + line)
	}
}

func (s *Suite) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// snapshot returns the state under the lock and the channel that closes on
// the next change.
func (s *Suite) snapshot() (lines, notes []string, changed chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines, s.notes, s.changed
}

// Pid is the master's pid.
func (s *Suite) Pid() int {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatal("testkit: suite not started")
	}
	return s.cmd.Process.Pid
}

// Signal sends sig to the master.
func (s *Suite) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := syscall.Kill(s.Pid(), sig); err != nil {
		s.t.Fatalf("testkit: kill %d %v: %v", s.Pid(), sig, err)
	}
}

// Exited is closed when the master has exited.
func (s *Suite) Exited() <-chan struct{} { return s.exited }

func (s *Suite) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// ReadyTime is the time from starting the master to its first READY=1
// (0 before it).
func (s *Suite) ReadyTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyAt
}

// WaitReady waits for READY=1, failing the test with the log on timeout or
// when the master exits first.
func (s *Suite) WaitReady() {
	s.t.Helper()
	if err := s.waitReady(ReadyTimeout); err != nil {
		s.t.Fatalf("testkit: %v", err)
	}
}

func (s *Suite) waitReady(timeout time.Duration) error {
	_, err := s.waitNote(0, "READY=1", timeout)
	return err
}

// NoteMark returns the number of notify messages so far; WaitNote(mark, ...)
// waits for one after it (a READY=1 after a reload, say).
func (s *Suite) NoteMark() int {
	_, notes, _ := s.snapshot()
	return len(notes)
}

// WaitNote waits for the notify message msg ("READY=1", "RELOADING=1")
// received after mark.
func (s *Suite) WaitNote(mark int, msg string) {
	s.t.Helper()
	if _, err := s.waitNote(mark, msg, WaitTimeout); err != nil {
		s.t.Fatalf("testkit: %v", err)
	}
}

func (s *Suite) waitNote(mark int, msg string, timeout time.Duration) (int, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		_, notes, changed := s.snapshot()
		for i := mark; i < len(notes); i++ {
			if notes[i] == msg {
				return i, nil
			}
		}
		select {
		case <-changed:
		case <-s.exited:
			// Drain what the master wrote before it died.
			s.waitReader(time.Second)
			_, notes, _ = s.snapshot()
			for i := mark; i < len(notes); i++ {
				if notes[i] == msg {
					return i, nil
				}
			}
			return 0, fmt.Errorf("master exited (%v) before %s; its log:\n%s", s.exitErrLocked(), msg, s.LogText())
		case <-timer.C:
			return 0, fmt.Errorf("no %s from the master within %v; its log:\n%s", msg, timeout, s.LogText())
		}
	}
}

func (s *Suite) exitErrLocked() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

func (s *Suite) waitReader(d time.Duration) {
	if s.readerEnd == nil {
		return
	}
	select {
	case <-s.readerEnd:
	case <-time.After(d):
	}
}

// Log returns every line the master wrote so far.
func (s *Suite) Log() []string {
	lines, _, _ := s.snapshot()
	return append([]string(nil), lines...)
}

// LogText is Log joined with newlines.
func (s *Suite) LogText() string { return strings.Join(s.Log(), "\n") }

// LogMark returns the number of log lines so far; WaitLogAfter(mark, re)
// considers only later lines.
func (s *Suite) LogMark() int { return len(s.Log()) }

func (s *Suite) logMatches(re *regexp.Regexp) bool {
	for _, l := range s.Log() {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

// WaitLog waits for a log line matching re (from the start of the log) and
// returns it; it fails the test with the log on timeout.
func (s *Suite) WaitLog(re string) string {
	s.t.Helper()
	return s.WaitLogAfter(0, re)
}

// WaitLogAfter waits for a line matching re among the lines after mark.
func (s *Suite) WaitLogAfter(mark int, re string) string {
	s.t.Helper()
	line, _, err := s.waitLog(mark, regexp.MustCompile(re), WaitTimeout)
	if err != nil {
		s.t.Fatalf("testkit: %v", err)
	}
	return line
}

// FindLog waits up to timeout for a line matching re after mark and returns
// it and its index, or an error; it does not fail the test.
func (s *Suite) FindLog(mark int, re *regexp.Regexp, timeout time.Duration) (string, int, error) {
	return s.waitLog(mark, re, timeout)
}

func (s *Suite) waitLog(mark int, re *regexp.Regexp, timeout time.Duration) (string, int, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	exited := false
	for {
		lines, _, changed := s.snapshot()
		for i := mark; i < len(lines); i++ {
			if re.MatchString(lines[i]) {
				return lines[i], i, nil
			}
		}
		if exited {
			return "", 0, fmt.Errorf("master exited (%v) without a log line matching %q; its log:\n%s", s.exitErrLocked(), re, s.LogText())
		}
		select {
		case <-changed:
		case <-s.exitedOrNever():
			s.waitReader(time.Second)
			exited = true
		case <-timer.C:
			return "", 0, fmt.Errorf("no log line matching %q within %v; the log:\n%s", re, timeout, s.LogText())
		}
	}
}

func (s *Suite) exitedOrNever() <-chan struct{} {
	if s.exited == nil {
		return nil
	}
	return s.exited
}

// Children lists the master's live child processes.
func (s *Suite) Children() []Proc { return ChildrenOf(s.Pid()) }

// ServiceChildren lists the master's children running service.
func (s *Suite) ServiceChildren(service string) []Proc {
	var out []Proc
	for _, p := range s.Children() {
		if p.Service == service {
			out = append(out, p)
		}
	}
	return out
}

// WaitChildren waits until at least n children run service and returns
// them. /proc has no change notification, so it scans on a short ticker
// bounded by WaitTimeout.
func (s *Suite) WaitChildren(service string, n int) []Proc {
	s.t.Helper()
	return s.WaitChildrenFunc(service, func(ps []Proc) bool { return len(ps) >= n })
}

// WaitChildrenFunc waits until ok accepts the children running service.
func (s *Suite) WaitChildrenFunc(service string, ok func([]Proc) bool) []Proc {
	s.t.Helper()
	tick := time.NewTicker(procPoll)
	defer tick.Stop()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		ps := s.ServiceChildren(service)
		if ok(ps) {
			return ps
		}
		select {
		case <-tick.C:
		case <-s.exited:
			s.t.Fatalf("testkit: master exited (%v) while waiting for %s processes", s.exitErrLocked(), service)
		case <-deadline.C:
			s.t.Fatalf("testkit: %s processes: have %v after %v", service, ps, WaitTimeout)
		}
	}
}

// WaitCreds waits until pid runs with want (a new process drops its
// privileges shortly after exec) and fails the test with the last mismatch.
func (s *Suite) WaitCreds(pid int, want Creds) {
	s.t.Helper()
	tick := time.NewTicker(procPoll)
	defer tick.Stop()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		err := CheckCreds(pid, want)
		if err == nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			s.t.Fatalf("testkit: pid %d credentials after %v: %v", pid, WaitTimeout, err)
		}
	}
}

// RSS sums VmRSS over the master and its children.
func (s *Suite) RSS() (uint64, error) {
	total, err := RSS(s.Pid())
	if err != nil {
		return 0, err
	}
	for _, p := range s.Children() {
		n, err := RSS(p.PID)
		if err != nil {
			continue // exited since the listing
		}
		total += n
	}
	return total, nil
}

// Run runs `cote ARGS... -c cote.conf` to completion (config, reload, stop,
// or a start that must fail) and returns its combined output and exit code.
func (s *Suite) Run(args ...string) (string, int) {
	s.t.Helper()
	args = append(args, "-c", s.conf)
	cmd := exec.Command(filepath.Join(s.Bin, MasterBinary), args...)
	// No NOTIFY_SOCKET from the environment: a master started this way
	// must not notify anyone else's supervisor.
	cmd.Env = append(withoutEnv(os.Environ(), "NOTIFY_SOCKET"), s.opts.Env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(ReadyTimeout):
		// A start that should have failed is running: SIGTERM lets the
		// master take its children down with it.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(StopTimeout):
			cmd.Process.Kill()
			<-done
		}
		s.t.Fatalf("testkit: cote %v did not finish within %v:\n%s", args, ReadyTimeout, out)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("testkit: cote %v: %v", args, err)
	}
	return string(out), code
}

// Wait waits for the master to exit on its own and returns its exit code
// (-1 when a signal ended it).
func (s *Suite) Wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.t.Fatalf("testkit: master still running after %v", timeout)
	}
	s.waitReader(time.Second)
	return s.cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM to the master and waits for it and every child it had
// to exit. It returns the master's exit error (nil for status 0).
func (s *Suite) Stop() error {
	s.t.Helper()
	if s.cmd == nil {
		return nil
	}
	err := s.stop()
	if err != nil {
		s.t.Error(err)
	}
	return s.exitErrLocked()
}

// stop is Stop without failing the test: it returns what went wrong.
func (s *Suite) stop() error {
	if s.hasExited() {
		s.waitReader(time.Second)
		return nil
	}
	children := s.Children()
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	var errs []error
	select {
	case <-s.exited:
	case <-time.After(StopTimeout):
		errs = append(errs, fmt.Errorf("testkit: master pid %d ignored SIGTERM for %v; killed", s.cmd.Process.Pid, StopTimeout))
		syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	for _, c := range children {
		if err := WaitExit(c.PID, StopTimeout); err != nil {
			syscall.Kill(c.PID, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("testkit: %s child %d outlived the master: %w", c.Service, c.PID, err))
		}
	}
	s.waitReader(5 * time.Second)
	return errors.Join(errs...)
}

func (s *Suite) cleanup() {
	if s.cmd != nil {
		if err := s.stop(); err != nil {
			s.t.Error(err)
		}
	}
	s.mu.Lock()
	s.quiet = true
	s.mu.Unlock()
	if s.notifyDir != "" {
		os.RemoveAll(s.notifyDir)
	}
}

// ServiceNames returns the sorted names of the services the loaded
// configuration enables.
func (s *Suite) ServiceNames() []string {
	s.t.Helper()
	cfg, err := settings.Load(s.conf)
	if err != nil {
		s.t.Fatalf("testkit: load %s: %v", s.conf, err)
	}
	var out []string
	for _, svc := range cfg.Services() {
		out = append(out, svc.Name)
	}
	sort.Strings(out)
	return out
}

// Settings loads the suite's configuration as the master reads it.
func (s *Suite) Settings() *settings.Config {
	s.t.Helper()
	cfg, err := settings.Load(s.conf)
	if err != nil {
		s.t.Fatalf("testkit: load %s: %v", s.conf, err)
	}
	return cfg
}

// withoutEnv returns env without the variable name.
func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
