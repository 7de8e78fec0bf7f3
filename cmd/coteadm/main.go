// Command coteadm is cote's administration tool, like doveadm. It reads the
// configuration through pkg/settings and talks to the running master over
// its control socket. Verbs are cobra subcommands grouped by noun (log,
// pw, queue, user, who; later kick, mailbox).
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cote-mail/cote/pkg/master"
	"github.com/cote-mail/cote/pkg/settings"
)

const defaultConfig = "/etc/cote/cote.conf"

// subcommands are added by the other files of this command (user, who),
// each a constructor given the -c flag's variable.
var subcommands []func(cfgPath *string) *cobra.Command

func main() {
	var cfgPath string
	root := &cobra.Command{
		Use:           "coteadm",
		Short:         "cote administration",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", defaultConfig, "configuration file")

	logCmd := &cobra.Command{Use: "log", Short: "log files of the running suite"}
	logCmd.AddCommand(&cobra.Command{
		Use:   "reopen",
		Short: "reopen the log files (after logrotate renamed them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return control(cfgPath, master.CtlReopenLogs)
		},
	})
	root.AddCommand(logCmd)
	root.AddCommand(newPwCmd())
	for _, sub := range subcommands {
		root.AddCommand(sub(&cfgPath))
	}

	if err := root.Execute(); err != nil {
		// A verb that printed its own per-item errors (queue delete ID...) is not repeated.
		var done errReported
		if !errors.As(err, &done) {
			fmt.Fprintln(os.Stderr, "coteadm:", err)
		}
		os.Exit(exitStatus(err))
	}
}

// control sends one request to the master of the configuration at cfgPath
// and prints its data lines.
func control(cfgPath, verb string, args ...string) error {
	cfg, err := settings.Load(cfgPath)
	if err != nil {
		return err
	}
	sock := filepath.Join(cfg.Root.Get("base_dir"), master.ControlSocketName)
	c, err := master.DialControl(sock)
	if err != nil {
		return fmt.Errorf("cannot reach the master at %s: %w", sock, err)
	}
	defer c.Close()
	r, err := c.Do(verb, args...)
	if err != nil {
		return err
	}
	for _, d := range r.Data {
		fmt.Println(d)
	}
	return r.Error()
}
