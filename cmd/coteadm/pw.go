package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/passwd"
)

// defaultPwScheme is what `doveadm pw` uses without -s: CRYPT, which
// Dovecot 2.3 generates as bcrypt ($2y$, cost 5).
const defaultPwScheme = "CRYPT"

// maxPasswordLine bounds a password read from a pipe; nothing longer is a
// password anyone types.
const maxPasswordLine = 4096

// newPwCmd is `coteadm pw`, doveadm pw's flags and output: print a new
// stored value, verify one with -t ("HASH (verified)"), list schemes
// with -l.
func newPwCmd() *cobra.Command {
	var (
		scheme, password, user, test string
		rounds                       int
		list                         bool
	)
	cmd := &cobra.Command{
		Use:   "pw [-s SCHEME] [-p PASSWORD] [-u USER] [-r ROUNDS] [-l] [-t HASH]",
		Short: "make or check password hashes, like doveadm pw",
		Long: "Without -p the password is asked twice on a terminal (without echo), or read as one line\n" +
			"from standard input when that is not a terminal. DIGEST-MD5 needs -u user@realm.\n" +
			"-t checks HASH ({SCHEME}data; a bare value is read in -s's scheme) against the password.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list {
				fmt.Fprintln(out, strings.Join(passwd.Schemes(), " ")+" ")
				return nil
			}
			if !cmd.Flags().Changed("password") {
				var err error
				password, err = askPassword(test == "")
				if err != nil {
					return err
				}
			}
			if test != "" {
				ok, err := passwd.Verify(test, scheme, user, password)
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("password mismatch")
				}
				fmt.Fprintln(out, test+" (verified)")
				return nil
			}
			h, err := passwd.Hash(scheme, user, password, passwd.Options{Rounds: rounds})
			if err != nil {
				return err
			}
			fmt.Fprintln(out, h)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&scheme, "scheme", "s", defaultPwScheme, "password scheme (see -l)")
	f.StringVarP(&password, "password", "p", "", "the password (visible to other users in ps; omit it to be asked)")
	f.StringVarP(&user, "user", "u", "", "user name, needed by DIGEST-MD5 (user@realm)")
	f.IntVarP(&rounds, "rounds", "r", 0, "cost: crypt rounds, bcrypt cost, PBKDF2/SCRAM iterations, argon2 opslimit")
	f.BoolVarP(&list, "list", "l", false, "list the supported schemes")
	f.StringVarP(&test, "test", "t", "", "verify the password against this stored value")
	return cmd
}

// askPassword reads the password from the terminal on standard input with
// echo off, twice when confirm is set (a new hash), or one line from a
// pipe.
func askPassword(confirm bool) (string, error) {
	fd := int(os.Stdin.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		// Not a terminal: a script pipes the password in.
		return readLine(os.Stdin)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", fmt.Errorf("cannot turn terminal echo off: %w", err)
	}
	// Restore echo whatever happens, Ctrl-C included.
	restore := func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
	defer restore()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sig:
			restore()
			fmt.Fprintln(os.Stderr)
			os.Exit(128 + int(s.(syscall.Signal)))
		case <-done:
		}
	}()

	in := bufio.NewReaderSize(os.Stdin, maxPasswordLine)
	ask := func(prompt string) (string, error) {
		fmt.Fprint(os.Stderr, prompt)
		p, err := readLine(in)
		fmt.Fprintln(os.Stderr)
		return p, err
	}
	p, err := ask("Enter new password: ")
	if !confirm {
		return p, err
	}
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("empty password")
	}
	again, err := ask("Retype new password: ")
	if err != nil {
		return "", err
	}
	if again != p {
		return "", errors.New("passwords don't match")
	}
	return p, nil
}

// readLine reads one line without its line ending, refusing an
// over-long one.
func readLine(r io.Reader) (string, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, maxPasswordLine)
	}
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", fmt.Errorf("password longer than %d bytes", maxPasswordLine)
	case err == io.EOF && len(line) == 0:
		return "", errors.New("no password given")
	case err != nil && err != io.EOF:
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}
