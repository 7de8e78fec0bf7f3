package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/settings"
)

// exitNoUser is doveadm user's exit status for a user the userdb does not
// know (EX_NOUSER from sysexits.h), so scripts written for doveadm work.
const exitNoUser = 67

// lookupService is the service= a lookup names, as doveadm sends
// "doveadm": userdb settings may depend on it.
const lookupService = "coteadm"

// adminTimeout bounds one request to a service of the running suite.
const adminTimeout = 30 * time.Second

// errNoUser makes main exit with exitNoUser.
type errNoUser struct{ user string }

func (e errNoUser) Error() string { return fmt.Sprintf("userdb lookup: user %s doesn't exist", e.user) }

func init() {
	subcommands = append(subcommands, userCmd)
}

func userCmd(cfgPath *string) *cobra.Command {
	var field string
	var list bool
	cmd := &cobra.Command{
		Use:   "user [-f FIELD] USER | user -l [MASK]",
		Short: "show what the userdb returns for a user, or list users (like doveadm user)",
		Long: "user USER prints the userdb fields of USER from the auth service (auth-userdb socket).\n" +
			"With -f only the value of that field is printed. user -l [MASK] lists the users of\n" +
			"the userdbs that can be iterated (passwd-file, passwd), optionally those matching\n" +
			"MASK (* and ? wildcards); a USER with a wildcard lists too, as doveadm does.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(*cfgPath)
			if err != nil {
				return err
			}
			sock := filepath.Join(cfg.Root.Get("base_dir"), "auth-userdb")
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			m, err := authproto.DialMaster(ctx, sock)
			if err != nil {
				return fmt.Errorf("cannot reach the auth service at %s: %w", sock, err)
			}
			defer m.Close()
			out := cmd.OutOrStdout()
			if list || (len(args) == 1 && strings.ContainsAny(args[0], "*?")) {
				mask := ""
				if len(args) == 1 {
					mask = args[0]
				}
				return m.List(ctx, mask, func(user string) error {
					_, err := fmt.Fprintln(out, user)
					return err
				})
			}
			if len(args) != 1 {
				return errors.New("user: USER is required (or -l to list)")
			}
			return printUser(ctx, out, m, args[0], field)
		},
	}
	cmd.Flags().StringVarP(&field, "field", "f", "", "print only the value of this field")
	cmd.Flags().BoolVarP(&list, "list", "l", false, "list users (optionally matching MASK)")
	return cmd
}

// printUser prints a userdb lookup as doveadm user does: a header line and
// "field<TAB>value" lines, the user name first; or one value with -f.
func printUser(ctx context.Context, out io.Writer, m *authproto.Master, user, field string) error {
	name, fields, err := m.User(ctx, user, lookupService, nil)
	if errors.Is(err, authproto.ErrNotFound) {
		return errNoUser{user}
	}
	if err != nil {
		return fmt.Errorf("userdb lookup of %s: %w", user, err)
	}
	if field != "" {
		if field == "user" {
			_, err := fmt.Fprintln(out, name)
			return err
		}
		v, ok := fields.Get(field)
		if !ok {
			return fmt.Errorf("userdb lookup of %s: no field %q", user, field)
		}
		_, err := fmt.Fprintln(out, v)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "field\tvalue\nuser\t%s\n", name)
	for _, f := range fields {
		fmt.Fprintf(&b, "%s\t%s\n", f.Key, f.Value)
	}
	_, err = io.WriteString(out, b.String())
	return err
}

// exitStatus maps a command's error to coteadm's exit status.
func exitStatus(err error) int {
	var nu errNoUser
	if errors.As(err, &nu) {
		return exitNoUser
	}
	return 1
}
