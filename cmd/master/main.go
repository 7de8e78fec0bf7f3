// Command cote is the master: it reads cote.conf, binds every listener and
// supervises the service processes (pkg/master). `cote reload`, `cote stop`
// and `cote config` talk to a running master or print the configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cote-mail/cote/pkg/log"
	"github.com/cote-mail/cote/pkg/master"
	"github.com/cote-mail/cote/pkg/settings"
)

const defaultConfig = "/etc/cote/cote.conf"

// exitError carries an exit status; its message is already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	var cfgPath string
	var foreground bool
	root := &cobra.Command{
		Use:           "cote",
		Short:         "cote mail server master",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return start(cfgPath, foreground)
		},
	}
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", defaultConfig, "configuration file")
	root.Flags().BoolVarP(&foreground, "foreground", "F", false, "stay in the foreground (do not daemonize)")

	root.AddCommand(&cobra.Command{
		Use:   "reload",
		Short: "reload the configuration of the running master",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return reload(cfgPath)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "stop",
		Short: "stop the running master and wait for it to exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return stop(cfgPath)
		},
	})
	var mode settings.DumpMode
	cfgCmd := &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			return cfg.Dump(os.Stdout, mode)
		},
	}
	cfgCmd.Flags().BoolVarP(&mode.NonDefault, "non-default", "n", false, "only settings that differ from the defaults")
	cfgCmd.Flags().BoolVarP(&mode.All, "all", "a", false, "every setting with its effective value")
	cfgCmd.Flags().BoolVarP(&mode.Secrets, "secrets", "P", false, "show secret values (keys, passwords)")
	root.AddCommand(cfgCmd)

	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "cote:", err)
		os.Exit(1)
	}
}

// load reads the configuration and prints every error line
// ("file:line: setting: problem") on failure.
func load(path string) (*settings.Config, error) {
	cfg, err := settings.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return nil, exitError{1}
	}
	return cfg, nil
}

func start(cfgPath string, foreground bool) error {
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return err
	}
	if !foreground {
		if err := master.Daemonize([]string{"-F", "-c", abs}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitError{1}
		}
		return nil
	}
	report := master.DaemonReporter()
	fail := func(err error) error {
		report(err)
		fmt.Fprintln(os.Stderr, err)
		return exitError{1}
	}
	cfg, err := settings.Load(abs)
	if err != nil {
		return fail(err)
	}
	sink, err := log.OpenSink(log.Options{
		Path:      cfg.Root.Get("log_path"),
		InfoPath:  cfg.Root.Get("info_log_path"),
		DebugPath: cfg.Root.Get("debug_log_path"),
		Facility:  cfg.Root.Get("syslog_facility"),
		Timestamp: cfg.Root.Get("log_timestamp"),
		Ident:     cfg.Root.Get("instance_name"),
	})
	if err != nil {
		return fail(err)
	}
	defer sink.Close()
	logger := log.NewMaster(sink, zapcore.InfoLevel)
	defer logger.Sync()
	m, err := master.New(master.Options{ConfigPath: abs, Config: cfg, Log: logger, Sink: sink, Ready: report})
	if err != nil {
		logger.Error("start failed", zap.Error(err))
		return fail(err)
	}
	if err := m.Run(context.Background()); err != nil {
		logger.Error("start failed", zap.Error(err))
		fmt.Fprintln(os.Stderr, err)
		return exitError{1}
	}
	return nil
}

// baseDir returns base_dir of the configuration; a broken configuration
// must not keep `cote stop` from stopping a master, so it falls back on
// the default with a note.
func baseDir(cfgPath string) string {
	cfg, err := settings.Load(cfgPath)
	if err != nil {
		def := settings.Default("", "base_dir")
		fmt.Fprintf(os.Stderr, "cote: %s has errors; using base_dir %s\n", cfgPath, def)
		return def
	}
	return cfg.Root.Get("base_dir")
}

func reload(cfgPath string) error {
	base := baseDir(cfgPath)
	c, err := master.DialControl(filepath.Join(base, master.ControlSocketName))
	if err != nil {
		return signalMaster(base, syscall.SIGHUP, err)
	}
	defer c.Close()
	r, err := c.Do(master.CtlReload)
	if err != nil {
		return err
	}
	if !r.OK {
		for _, d := range r.Data {
			fmt.Fprintln(os.Stderr, d)
		}
		fmt.Fprintln(os.Stderr, "cote:", r.Text)
		return exitError{1}
	}
	return nil
}

func stop(cfgPath string) error {
	base := baseDir(cfgPath)
	c, err := master.DialControl(filepath.Join(base, master.ControlSocketName))
	if err != nil {
		if err := signalMaster(base, syscall.SIGTERM, err); err != nil {
			return err
		}
		return waitGone(base)
	}
	defer c.Close()
	r, err := c.Do(master.CtlStop)
	if err != nil {
		return err
	}
	if err := r.Error(); err != nil {
		return err
	}
	c.WaitClosed()
	return nil
}

// signalMaster is the fallback when the control socket does not answer:
// the pid file names the master.
func signalMaster(base string, sig syscall.Signal, ctlErr error) error {
	pidFile := filepath.Join(base, master.PidFileName)
	pid, live, err := master.ReadPidFile(pidFile)
	if err != nil {
		return err
	}
	if !live {
		return fmt.Errorf("cote is not running (control socket: %v)", ctlErr)
	}
	return syscall.Kill(pid, sig)
}

// waitGone waits up to a minute for the master of the pid file to exit.
// The master has no other channel to say so once its socket is gone.
func waitGone(base string) error {
	pidFile := filepath.Join(base, master.PidFileName)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, live, _ := master.ReadPidFile(pidFile); !live {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("cote did not exit within a minute")
}
