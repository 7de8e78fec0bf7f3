package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cote-mail/cote/pkg/mailq"
	"github.com/cote-mail/cote/pkg/queue"
	"github.com/cote-mail/cote/pkg/settings"
)

func init() {
	subcommands = append(subcommands, queueCmd)
}

// queueDir reads queue_directory from the configuration. The admin verbs work on the spool
// directly (pkg/queue's admin functions take the daemon's per-file locks), so they need no
// running queue service: only the rights of mail_owner or root on the spool.
func queueDir(cfgPath string) (string, error) {
	cfg, err := settings.Load(cfgPath)
	if err != nil {
		return "", err
	}
	return cfg.Root.Get("queue_directory"), nil
}

func queueCmd(cfgPath *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "the mail queue (like postqueue and postsuper)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "list queued messages in postqueue -p (mailq) format",
		Long: "list prints every message of the spool: queue ID with its state mark (* active,\n" +
			"! held, blank deferred, # corrupt), body size, arrival time and sender, then each\n" +
			"recipient not yet delivered under the reason of its last failed attempt.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := queueDir(*cfgPath)
			if err != nil {
				return err
			}
			ents, err := queue.List(dir)
			if err != nil {
				return err
			}
			return mailq.Format(cmd.OutOrStdout(), ents, time.Local)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "flush",
		Short: "retry every deferred message now (postqueue -f)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := queueDir(*cfgPath)
			if err != nil {
				return err
			}
			n, err := queue.Flush(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d deferred message(s) moved to the active queue\n", n)
			return nil
		},
	})
	for _, v := range []struct {
		use, short, done string
		op               func(dir, id string) error
	}{
		{"delete", "remove messages from the queue without a bounce (postsuper -d)", "removed", queue.Delete},
		{"hold", "put messages on hold: never delivered until released (postsuper -h)", "placed on hold", queue.Hold},
		{"release", "release held messages for immediate delivery (postsuper -H)", "released from hold", queue.Release},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   v.use + " ID...",
			Short: v.short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				dir, err := queueDir(*cfgPath)
				if err != nil {
					return err
				}
				// Every ID is tried, as postsuper does; the first error is the exit status.
				var first error
				for _, id := range args {
					if err := v.op(dir, id); err != nil {
						if errors.Is(err, queue.ErrNotFound) {
							err = fmt.Errorf("%s: no such message in the queue", id)
						} else if errors.Is(err, queue.ErrBusy) {
							err = fmt.Errorf("%s: being delivered right now; try again", id)
						}
						cmd.PrintErrln("coteadm:", err)
						if first == nil {
							first = err
						}
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", id, v.done)
				}
				if first != nil {
					return errReported{first}
				}
				return nil
			},
		})
	}
	return cmd
}

// errReported is an error already printed: main exits 1 without printing it again.
type errReported struct{ error }
