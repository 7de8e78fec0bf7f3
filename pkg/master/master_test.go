package master

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/log"
	"github.com/cote-mail/cote/pkg/settings"
)

// testsvc is the test service binary, built once without cgo (the privilege
// drop needs AllThreadsSyscall, which cgo disables).
var testsvc string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cote-master-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testsvc = filepath.Join(dir, "testsvc")
	// The temp dir must be reachable by nobody: the binary is exec'd as
	// root, but keep it world-readable like an installed libexec dir.
	os.Chmod(dir, 0o755)
	build := exec.Command("go", "build", "-o", testsvc, "./internal/testsvc")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testsvc: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago. The master
// needs a port in its configuration (0 disables a listener), so the test
// reserves one and releases it just before the start.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type suite struct {
	t       *testing.T
	dir     string
	conf    string
	m       *Master
	events  chan string
	ready   chan error
	logBuf  *syncBuffer
	runErr  chan error
	cancel  context.CancelFunc
	stopped bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func confText(dir, exe string, port, minAvail int, extra string) string {
	return fmt.Sprintf(`protocols = imap
base_dir = %s/run
log_path = /dev/stderr
listen = 127.0.0.1
ssl = no
default_login_user = nobody
%s
service imap-login {
  executable = %s
  process_min_avail = %d
  inet_listener imap {
    port = %d
  }
  inet_listener imaps {
    port = 0
  }
}
# protocols = imap also enables the post-login imap service; on demand
# only, so these tests see imap-login's processes alone.
service imap {
  executable = %s
  process_min_avail = 0
}
`, dir, extra, exe, minAvail, port, exe)
}

func writeConf(t *testing.T, path, text string) {
	t.Helper()
	// Save by rename, as editors do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// newSuite loads the configuration and builds the master without starting it.
func newSuite(t *testing.T, text string) (*suite, error) {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	s := &suite{t: t, dir: dir, conf: filepath.Join(dir, "cote.conf"), events: make(chan string, 1000),
		ready: make(chan error, 1), logBuf: &syncBuffer{}, runErr: make(chan error, 1)}
	writeConf(t, s.conf, strings.ReplaceAll(text, "@DIR@", dir))
	cfg, err := settings.Load(s.conf)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sink := log.NewWriterSink(s.logBuf)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("master log:\n%s", s.logBuf.String())
		}
	})
	m, err := New(Options{ConfigPath: s.conf, Config: cfg, Log: log.NewMaster(sink, zapcore.DebugLevel), Sink: sink,
		Ready: func(err error) { s.ready <- err }})
	if err != nil {
		return nil, err
	}
	m.hook = func(ev string) { s.events <- ev }
	s.m = m
	return s, nil
}

func (s *suite) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.runErr <- s.m.Run(ctx) }()
	s.t.Cleanup(func() {
		if !s.stopped {
			cancel()
			<-s.runErr
		}
	})
}

func (s *suite) waitReady() {
	s.t.Helper()
	select {
	case err := <-s.ready:
		if err != nil {
			s.t.Fatalf("not ready: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Fatal("no READY within 30s")
	}
}

// waitEvent waits for an event with the prefix and returns its argument.
func (s *suite) waitEvent(prefix string) string {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if strings.HasPrefix(ev, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(ev, prefix))
			}
		case <-deadline:
			s.t.Fatalf("no event %q within 30s", prefix)
		}
	}
}

// drainVerified returns the pids of the "verified" events queued so far.
// Ready is reported after the events of the processes it counted.
func (s *suite) drainVerified() []int {
	var pids []int
	for {
		select {
		case ev := <-s.events:
			if p, ok := strings.CutPrefix(ev, "verified "); ok {
				n, _ := strconv.Atoi(p)
				pids = append(pids, n)
			}
		default:
			return pids
		}
	}
}

func (s *suite) control(verb string) Reply {
	s.t.Helper()
	c, err := DialControl(filepath.Join(s.dir, "run", ControlSocketName))
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(verb)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func (s *suite) stop() {
	s.t.Helper()
	r := s.control(CtlStop)
	if !r.OK {
		s.t.Fatalf("stop: %+v", r)
	}
	if err := <-s.runErr; err != nil {
		s.t.Fatalf("Run: %v", err)
	}
	s.stopped = true
}

func greet(t *testing.T, port int) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, br, strings.TrimSpace(line)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (CI runs as root)")
		}
		t.Skip("needs root")
	}
}

func TestSuiteLifecycle(t *testing.T) {
	requireRoot(t)
	port := freePort(t)
	s, err := newSuite(t, confText("@DIR@", testsvc, port, 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitReady()

	// Every process dropped to nobody in the login chroot, on every thread.
	pids := s.drainVerified()
	if len(pids) != 2 {
		t.Fatalf("%d verified processes, want process_min_avail = 2", len(pids))
	}
	want := ipc.Restrict{UID: 65534, GID: 65534, Groups: []int{65534}, Chroot: filepath.Join(s.dir, "run", "login")}
	for _, pid := range pids {
		if err := want.Check(pid); err != nil {
			t.Errorf("pid %d: %v", pid, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "run", PidFileName)); err != nil {
		t.Errorf("pid file: %v", err)
	}

	c, br, hello := greet(t, port)
	defer c.Close()
	if !strings.HasPrefix(hello, "hello imap-login ") || !strings.HasSuffix(hello, " imap") {
		t.Fatalf("greeting %q", hello)
	}
	servingPid, _ := strconv.Atoi(strings.Fields(hello)[2])

	// SIGKILL of the other process brings a new one.
	var victim int
	for _, pid := range pids {
		if pid != servingPid {
			victim = pid
		}
	}
	syscall.Kill(victim, syscall.SIGKILL)
	if got := s.waitEvent("exit"); got != strconv.Itoa(victim) {
		t.Fatalf("exit of %s, want %d", got, victim)
	}
	s.waitEvent("verified")
	if !strings.Contains(s.logBuf.String(), "service imap-login: process exited unexpectedly pid="+strconv.Itoa(victim)+` status="signal: killed"`) {
		t.Errorf("crash not logged")
	}

	// Reload with a new port: the new port serves, the old one is closed,
	// and the client on the old port keeps its session.
	port2 := freePort(t)
	writeConf(t, s.conf, confText(s.dir, testsvc, port2, 2, ""))
	if r := s.control(CtlReload); !r.OK {
		t.Fatalf("reload: %+v", r)
	}
	c2, _, hello2 := greet(t, port2)
	c2.Close()
	if !strings.HasPrefix(hello2, "hello imap-login ") {
		t.Errorf("greeting on the new port: %q", hello2)
	}
	if c3, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		c3.Close()
		t.Errorf("old port %d still accepts", port)
	}
	fmt.Fprintf(c, "still here\r\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo still here\r\n" {
		t.Errorf("old session after reload: %q %v", line, err)
	}

	// An invalid edit is refused with file:line; the running config stays.
	writeConf(t, s.conf, confText(s.dir, testsvc, port2, 2, "no_such_setting = 1"))
	r := s.control(CtlReload)
	if r.OK || len(r.Data) == 0 || !strings.HasPrefix(r.Data[0], s.conf+":7: no_such_setting") {
		t.Errorf("invalid reload: %+v", r)
	}
	c4, _, _ := greet(t, port2)
	c4.Close()

	st := s.control(CtlStatus)
	// One line per service: imap (on demand, idle) and imap-login.
	if !st.OK || len(st.Data) != 2 || !strings.HasPrefix(st.Data[1], "service imap-login processes=") {
		t.Errorf("status: %+v", st)
	}

	s.stop()
	if _, err := os.Stat(filepath.Join(s.dir, "run", PidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "run", ControlSocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	for pid := range s.m.procs {
		t.Errorf("process %d still tracked after stop", pid)
	}
}

func TestFsnotifyReload(t *testing.T) {
	port := freePort(t)
	s, err := newSuite(t, confText("@DIR@", testsvc, port, 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitReady()
	writeConf(t, s.conf, confText(s.dir, testsvc, port, 1, "login_greeting = changed"))
	s.waitEvent("reloaded")
	writeConf(t, s.conf, confText(s.dir, testsvc, port, 1, "no_such_setting = 1"))
	s.waitEvent("reload-failed")
	if !strings.Contains(s.logBuf.String(), s.conf+":7: no_such_setting") {
		t.Error("the failed reload did not log the error with file:line")
	}
	s.stop()
}

func TestThrottleCrashingService(t *testing.T) {
	port := freePort(t)
	s, err := newSuite(t, confText("@DIR@", testsvc+" -crash", port, 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	select {
	case err := <-s.ready:
		var nr *NotReadyError
		want := "service imap-login: throttling: process exits at once; next start in 2s"
		if !errors.As(err, &nr) || err.Error() != want {
			t.Fatalf("ready report %v, want %q", err, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no throttle report")
	}
	// The next start waits out the delay: exactly one more spawn follows,
	// then a second throttle (4s) without a second warning.
	s.waitEvent("spawned")
	s.waitEvent("throttled")
	if n := strings.Count(s.logBuf.String(), "throttling: process exits at once"); n != 1 {
		t.Errorf("%d throttle warnings, want one per episode", n)
	}
	if !strings.Contains(s.logBuf.String(), "testsvc: crashing on purpose") {
		t.Error("the child's stderr was not relayed")
	}
	s.cancel()
	if err := <-s.runErr; err != nil {
		t.Fatal(err)
	}
	s.stopped = true
}

func TestMissingBinaryThrottled(t *testing.T) {
	port := freePort(t)
	s, err := newSuite(t, confText("@DIR@", "/nonexistent/imap-login", port, 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	err = <-s.ready
	if err == nil || !strings.Contains(err.Error(), "throttling") {
		t.Fatalf("ready report %v", err)
	}
	if !strings.Contains(s.logBuf.String(), "service imap-login: executable /nonexistent/imap-login: not found or not executable") {
		t.Errorf("missing binary not reported with its path")
	}
	s.cancel()
	<-s.runErr
	s.stopped = true
}

func TestPrivilegeCheckKills(t *testing.T) {
	requireRoot(t)
	port := freePort(t)
	s, err := newSuite(t, confText("@DIR@", testsvc+" -nodrop", port, 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	pid := s.waitEvent("spawned")
	if got := s.waitEvent("exit"); got != pid {
		t.Fatalf("exit %s, want %s", got, pid)
	}
	if !strings.Contains(s.logBuf.String(), "service imap-login: process failed the privilege check; killing it pid="+pid) {
		t.Error("privilege check failure not logged")
	}
	s.waitEvent("throttled")
	s.cancel()
	<-s.runErr
	s.stopped = true
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	s, err := newSuite(t, confText("@DIR@", testsvc, port, 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	err = s.m.Run(context.Background())
	want := "service imap-login: inet_listener imap: 127.0.0.1:" + strconv.Itoa(port) + ": address already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("Run: %v\nwant %s", err, want)
	}
	if rep := <-s.ready; rep == nil || rep.Error() != want {
		t.Errorf("ready report %v", rep)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "run", PidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after a failed start: %v", err)
	}
	s.stopped = true

	// A second master on a live pid file refuses to start.
	s2, err := newSuite(t, confText("@DIR@", testsvc, freePort(t), 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s2.dir, "run"), 0o755)
	os.WriteFile(filepath.Join(s2.dir, "run", PidFileName), []byte(strconv.Itoa(os.Getppid())+"\n"), 0o644)
	err = s2.m.Run(context.Background())
	if want := fmt.Sprintf("cote is already running (pid %d)", os.Getppid()); err == nil || err.Error() != want {
		t.Fatalf("Run: %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(s2.dir, "run", PidFileName)); err != nil {
		t.Errorf("the live master's pid file was removed: %v", err)
	}
	s2.stopped = true
}

func TestNewRejectsRootLogin(t *testing.T) {
	requireRoot(t)
	_, err := newSuite(t, confText("@DIR@", testsvc, freePort(t), 1, "")+"service imap-login {\n  user = root\n}\n")
	if err == nil || !strings.HasSuffix(err.Error(), "service imap-login: user root: login and mail processes must not run as root") {
		t.Fatalf("New: %v", err)
	}
}

func TestOnDemandServiceCount(t *testing.T) {
	port := freePort(t)
	// No spare processes: the first client makes the master spawn one.
	// service_count = 1 recycles it after that client.
	text := strings.Replace(confText("@DIR@", testsvc, port, 0, ""), "  process_min_avail = 0\n",
		"  process_min_avail = 0\n  service_count = 1\n", 1)
	s, err := newSuite(t, text)
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitReady()
	if pids := s.drainVerified(); len(pids) != 0 {
		t.Fatalf("processes %v started before any client", pids)
	}
	c, _, hello := greet(t, port)
	if !strings.HasPrefix(hello, "hello imap-login ") {
		t.Fatalf("greeting %q", hello)
	}
	pid := strings.Fields(hello)[2]
	c.Close()
	// After its one client the process says "done" and exits normally.
	if got := s.waitEvent("exit"); got != pid {
		t.Fatalf("exit %s, want %s", got, pid)
	}
	if strings.Contains(s.logBuf.String(), "unexpectedly") {
		t.Error("a service_count exit was logged as a crash")
	}

	// The next client gets a new process, spawned on demand again.
	c2, _, hello2 := greet(t, port)
	if pid2 := strings.Fields(hello2)[2]; pid2 == pid {
		t.Fatalf("same process %s served after service_count = 1", pid)
	}
	c2.Close()
	s.waitEvent("exit")
	s.stop()
}

func TestIdleKill(t *testing.T) {
	port := freePort(t)
	text := strings.Replace(confText("@DIR@", testsvc, port, 0, ""), "  process_min_avail = 0\n",
		"  process_min_avail = 0\n  idle_kill = 1s\n", 1)
	s, err := newSuite(t, text)
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitReady()
	c, _, hello := greet(t, port)
	pid := strings.Fields(hello)[2]
	c.Close()
	// All slots free again, above process_min_avail = 0: told to stop
	// after idle_kill, a normal exit.
	if got := s.waitEvent("exit"); got != pid {
		t.Fatalf("exit %s, want %s", got, pid)
	}
	if strings.Contains(s.logBuf.String(), "unexpectedly") {
		t.Error("an idle_kill exit was logged as a crash")
	}
	s.stop()
}

func TestSdNotify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := SdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := pc.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q %v", buf[:n], err)
	}
	// Abstract socket names start with @.
	abstract := "@cote-test-" + strconv.Itoa(os.Getpid())
	pa, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + abstract[1:], Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	t.Setenv("NOTIFY_SOCKET", abstract)
	if err := SdNotify("STOPPING=1"); err != nil {
		t.Fatal(err)
	}
	pa.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err = pa.Read(buf)
	if err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Fatalf("abstract: got %q %v", buf[:n], err)
	}
}
