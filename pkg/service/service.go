package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cote-mail/cote/pkg/ipc"
	cotelog "github.com/cote-mail/cote/pkg/log"
	"github.com/cote-mail/cote/pkg/settings"
)

// DefaultClientLimit is used when a Runtime's Service has no client_limit
// (a Runtime built by New for a service the configuration does not define).
// It is Dovecot's default_client_limit.
const DefaultClientLimit = 1000

// Listener is one inherited listening socket and the flags the master gave it.
type Listener struct {
	ipc.ListenerSpec
	net.Listener
}

// Runtime is what a service's run function gets: its settings, logger and
// listeners, and the connection to the master (status and control pipes).
type Runtime struct {
	Name      string           // $COTE_SERVICE
	Settings  *settings.Config // from the fd-3 snapshot (settings.Unmarshal)
	Service   settings.Service // this service's entry of Settings.Services()
	Log       *zap.Logger
	Listeners []*Listener

	status *statusWriter // writes to the status pipe; a no-op without a master

	// stopCh is closed on control "stop" or EOF on the control pipe;
	// shutdownCh on control "shutdown". Each is closed once.
	stopCh       chan struct{}
	stopOnce     sync.Once
	shutdownCh   chan struct{}
	shutdownOnce sync.Once

	serving atomic.Bool // Serve runs at most once

	// onOverflow is called on control "overflow"; nil ignores the line.
	// Atomic: the run function sets it while watchControl already reads.
	onOverflow atomic.Pointer[func() bool]

	// Test seams, nil in production: sleep waits out an accept backoff
	// (returns false when stop closed first); hook reports internal events.
	sleep func(d time.Duration, stop <-chan struct{}) bool
	hook  func(event string)
}

// New builds a Runtime without a master (tests, and `-D` debug runs): no
// status or control pipes, so only ctx cancellation ends Serve. Service is
// name's entry of cfg.Services() when there is one, else a definition with
// DefaultClientLimit and no service_count.
func New(name string, cfg *settings.Config, log *zap.Logger, ls []*Listener) *Runtime {
	if log == nil {
		log = zap.NewNop()
	}
	rt := &Runtime{
		Name:       name,
		Settings:   cfg,
		Service:    settings.Service{Name: name, ClientLimit: DefaultClientLimit},
		Log:        log,
		Listeners:  ls,
		stopCh:     make(chan struct{}),
		shutdownCh: make(chan struct{}),
	}
	if cfg != nil {
		if svc, ok := findService(cfg, name); ok {
			rt.Service = svc
		}
	}
	rt.status = newStatusWriter(nil, log)
	return rt
}

func findService(cfg *settings.Config, name string) (settings.Service, bool) {
	for _, s := range cfg.Services() {
		if s.Name == name {
			return s, true
		}
	}
	return settings.Service{}, false
}

// attach connects rt to a master: status lines go to status, control lines
// are read from control until EOF. Main uses fds 4 and 5; tests use pipes.
func (rt *Runtime) attach(status io.Writer, control io.Reader) {
	rt.status = newStatusWriter(status, rt.Log)
	go rt.watchControl(control)
}

// watchControl reads control lines until EOF. EOF or a read error means the
// master is gone (or broken): stop accepting and finish the clients.
func (rt *Runtime) watchControl(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		m, err := ipc.ReadMessage(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rt.Log.Warn("control pipe: read failed; stopping", zap.Error(err))
			} else {
				rt.Log.Debug("control pipe: closed by the master; stopping")
			}
			rt.stop()
			return
		}
		switch m.Verb {
		case ipc.ControlStop:
			rt.stop()
		case ipc.ControlShutdown:
			rt.shutdown()
		case ipc.ControlOverflow:
			rt.overflow()
		default:
			rt.Log.Warn("control pipe: unexpected message", zap.String("message", m.String()))
		}
	}
}

// OnOverflow sets the function called when the master says "overflow":
// the service is at process_limit, every slot of every process is taken
// and a client waits on a listener. A login service points it at its
// eviction of the oldest unauthenticated client; f reports whether a
// client was evicted (its slot frees when its handler returns). Without
// a function the line is logged and ignored. Safe to call at any time.
func (rt *Runtime) OnOverflow(f func() bool) {
	if f == nil {
		rt.onOverflow.Store(nil)
		return
	}
	rt.onOverflow.Store(&f)
}

// overflow runs the OnOverflow function, in the control goroutine: an
// eviction only sets a deadline on the evicted connection, so it is quick.
func (rt *Runtime) overflow() {
	f := rt.onOverflow.Load()
	if f == nil {
		rt.Log.Debug("control pipe: overflow, but this service evicts no clients")
		rt.event("overflow-ignored")
		return
	}
	if (*f)() {
		rt.event("overflow-evicted")
	} else {
		rt.Log.Debug("control pipe: overflow, but no client could be evicted")
		rt.event("overflow-none")
	}
}

// event reports an internal event to the test hook.
func (rt *Runtime) event(ev string) {
	if rt.hook != nil {
		rt.hook(ev)
	}
}

func (rt *Runtime) stop()     { rt.stopOnce.Do(func() { close(rt.stopCh) }) }
func (rt *Runtime) shutdown() { rt.shutdownOnce.Do(func() { close(rt.shutdownCh) }) }

// Main is the whole life of a service process. In this order: apply the
// restriction record from $COTE_RESTRICT (skip when $COTE_NO_PRIVSEP=1), read
// the settings snapshot from fd 3, build the logger (log.NewService), wrap
// fds 6.. as listeners per $COTE_LISTENERS, start watching fd 5, call run,
// and exit with status 0 (or 1 after logging run's error).
//
// SIGINT, SIGHUP and SIGPIPE are ignored; SIGTERM cancels run's context
// (the same as control "shutdown" for Serve).
func Main(run func(ctx context.Context, rt *Runtime) error) {
	os.Exit(mainStatus(run))
}

func mainStatus(run func(ctx context.Context, rt *Runtime) error) int {
	name := os.Getenv(ipc.EnvService)
	if name == "" {
		name = "service"
	}
	fail := func(err error) int {
		// No logger yet (or the logger failed): plain text on stderr, which
		// the master's log sink keeps verbatim at error level.
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}

	// The master owns these signals; a service must survive a Ctrl-C sent
	// to a terminal's process group and a write to a dead master's pipe.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()

	if os.Getenv(ipc.EnvNoPrivsep) != "1" {
		raw, ok := os.LookupEnv(ipc.EnvRestrict)
		if !ok {
			return fail(fmt.Errorf("%s is not set: refusing to run without a restriction record (not started by the master?)", ipc.EnvRestrict))
		}
		r, err := ipc.ParseRestrict(raw)
		if err != nil {
			return fail(err)
		}
		if err := drop(r); err != nil {
			return fail(err)
		}
	}

	cfg, err := readSettings()
	if err != nil {
		return fail(err)
	}
	log := cotelog.NewService(zapcore.InfoLevel).With(zap.String("service", name))
	defer func() { _ = log.Sync() }()

	svc, ok := findService(cfg, name)
	if !ok {
		return fail(fmt.Errorf("service %q is not in the settings snapshot", name))
	}
	ls, err := inheritListeners(os.Getenv(ipc.EnvListeners))
	if err != nil {
		return fail(err)
	}
	rt := &Runtime{
		Name:       name,
		Settings:   cfg,
		Service:    svc,
		Log:        log,
		Listeners:  ls,
		stopCh:     make(chan struct{}),
		shutdownCh: make(chan struct{}),
	}
	rt.attach(os.NewFile(ipc.FDStatus, "status"), os.NewFile(ipc.FDControl, "control"))

	if err := run(ctx, rt); err != nil {
		log.Error("service failed", zap.Error(err))
		return 1
	}
	return 0
}

// readSettings reads and decodes the snapshot on fd 3, then closes it.
func readSettings() (*settings.Config, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(ipc.FDSettings, &st); err != nil {
		return nil, fmt.Errorf("fd %d (settings snapshot): %w (not started by the master?)", ipc.FDSettings, err)
	}
	f := os.NewFile(ipc.FDSettings, "settings")
	defer f.Close()
	data, err := ipc.ReadSnapshot(f)
	if err != nil {
		return nil, err
	}
	cfg, err := settings.Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("settings snapshot: %w", err)
	}
	return cfg, nil
}

// inheritListeners wraps fds 6.. as listeners, in the order spec names them.
func inheritListeners(spec string) ([]*Listener, error) {
	specs, err := ipc.ParseListeners(spec)
	if err != nil {
		return nil, err
	}
	out := make([]*Listener, 0, len(specs))
	for i, s := range specs {
		fd := ipc.FDListen + i
		f := os.NewFile(uintptr(fd), s.Name)
		ln, err := net.FileListener(f)
		// FileListener dups the descriptor; the original is not needed.
		f.Close()
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, fmt.Errorf("listener %s (fd %d): %w", s.Name, fd, err)
		}
		out = append(out, &Listener{ListenerSpec: s, Listener: ln})
	}
	return out, nil
}
