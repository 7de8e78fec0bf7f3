// Command cote-bench is cote's load generator: it drives any IMAP or LMTP
// server by host, port, users and password and reports operations per
// second, latency percentiles and every protocol error it saw. Subcommands:
// imap (the imaptest-like mix; --mix login for logins/s), lmtp (durable
// deliveries/s), visible (from the 250 to the message in IDLE), idle (N
// connections in IDLE and the server's RSS), bigmailbox (SELECT, FETCH
// 1:* and SEARCH on a large mailbox, and --write to generate one), fsync
// (the disk's durable-delivery ceiling). See pkg/bench for the workloads;
// POP3 and SMTP workloads are further bench.Workload implementations and
// subcommands here.
//
// Exit status: 0 when the run saw no error, 3 when it completed but counted
// errors (so scripts and tests can gate on it), 1 for anything else.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/bench/imapc"
)

// errSawErrors makes the exit status 3: the run finished and its report is
// printed, but the server answered wrongly at least once.
var errSawErrors = errors.New("errors were counted")

func main() {
	root := &cobra.Command{
		Use:           "cote-bench",
		Short:         "load generator for mail servers (IMAP, POP3, LMTP and SMTP)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newIMAPCmd(), newLMTPCmd(), newSMTPCmd(), newPOP3Cmd(), newVisibleCmd(), newIdleCmd(), newBigMailboxCmd(), newFsyncCmd())
	if err := root.Execute(); err != nil {
		if errors.Is(err, errSawErrors) {
			os.Exit(3)
		}
		fmt.Fprintln(os.Stderr, "cote-bench:", err)
		os.Exit(1)
	}
}

// runFlags are the options every workload shares.
type runFlags struct {
	clients  int
	duration time.Duration
	ops      int64
	seed     uint64
	json     bool
	progress string
}

func (f *runFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.clients, "clients", 10, "simulated clients running at once")
	fl.DurationVar(&f.duration, "duration", 0, "run this long (default 10s unless --ops is given)")
	fl.Int64Var(&f.ops, "ops", 0, "stop after this many operations")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of every random choice (the same seed repeats the same run)")
	fl.BoolVar(&f.json, "json", false, "print one JSON result object instead of the table")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal and the run is long), always, never")
}

func (f *runFlags) options() (bench.Options, error) {
	o := bench.Options{Clients: f.clients, Duration: f.duration, Ops: f.ops, Seed: f.seed}
	if o.Duration == 0 && o.Ops == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Duration < 0 || o.Ops < 0 || o.Clients < 1 {
		return o, errors.New("--clients must be at least 1, --duration and --ops not negative")
	}
	switch f.progress {
	case "always":
		o.Progress = os.Stderr
	case "never":
	case "auto":
		long := o.Duration >= 5*time.Second || o.Ops >= 20000
		if long && isTerminal(os.Stderr) {
			o.Progress = os.Stderr
		}
	default:
		return o, fmt.Errorf("--progress %q: want auto, always or never", f.progress)
	}
	return o, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// run runs the workload until done or interrupted, then prints the result.
func (f *runFlags) run(cmd *cobra.Command, w bench.Workload) error {
	o, err := f.options()
	if err != nil {
		return err
	}
	// SIGINT ends the run early and still prints what was measured.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, w, o)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		res.WriteText(out)
	}
	if res.ErrorCount > 0 {
		return errSawErrors
	}
	return nil
}

func newIMAPCmd() *cobra.Command {
	var (
		rf                 runFlags
		host               string
		port               int
		useTLS, startTLS   bool
		insecure           bool
		caFile, serverName string
		users, password    string
		userCount          int
		mailbox, mix       string
		noLogout           bool
		msgs               int
		timeout            time.Duration
	)
	cmd := &cobra.Command{
		Use:           "imap",
		Short:         "imaptest-like mixed IMAP sessions",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `Each simulated client runs IMAP sessions one after the other: connect, LOGIN,
then LIST, STATUS, SELECT, FETCH (flags; envelope and bodystructure; a whole
body), SEARCH, COPY, STORE, STORE \Deleted, EXPUNGE, APPEND and LOGOUT, each
with imaptest's default probability (--mix changes them: "search=0
append=100,30"). --no-logout keeps every session selected and repeats the
selected-state commands, which measures the server without the login path.

--users is a template with %d (numbered 1..--user-count), a file with one
"user" or "user:password" a line, or one user name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if useTLS && startTLS {
				return errors.New("--tls and --starttls exclude each other")
			}
			if port == 0 {
				port = 143
				if useTLS {
					port = 993
				}
			}
			creds, err := loadUsers(users, userCount, password)
			if err != nil {
				return err
			}
			base := bench.DefaultMix()
			if rest, ok := strings.CutPrefix(mix, "login"); ok && (rest == "" || rest[0] == ' ') {
				base, mix = bench.LoginMix(), rest
			}
			m, err := bench.ParseMix(base, mix)
			if err != nil {
				return err
			}
			if noLogout {
				m[bench.OpLogout] = bench.Weight{}
			}
			cfg := bench.IMAPConfig{
				Addr:     net.JoinHostPort(host, strconv.Itoa(port)),
				Dial:     imapc.Options{StartTLS: startTLS, Timeout: timeout},
				Users:    creds,
				Mailbox:  mailbox,
				NoLogout: noLogout,
				Mix:      m,
				Msgs:     msgs,
				Seed:     rf.seed,
			}
			if useTLS || startTLS {
				tc, err := tlsConfig(host, serverName, caFile, insecure)
				if err != nil {
					return err
				}
				cfg.Dial.TLS = tc
			}
			w, err := bench.NewIMAP(cfg)
			if err != nil {
				return err
			}
			return rf.run(cmd, w)
		},
	}
	rf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&host, "host", "127.0.0.1", "server host")
	fl.IntVar(&port, "port", 0, "server port (default 143, or 993 with --tls)")
	fl.BoolVar(&useTLS, "tls", false, "implicit TLS (imaps)")
	fl.BoolVar(&startTLS, "starttls", false, "STARTTLS before LOGIN")
	fl.BoolVar(&insecure, "insecure", false, "do not verify the server certificate")
	fl.StringVar(&caFile, "ca", "", "PEM file of the CA that signed the server certificate")
	fl.StringVar(&serverName, "server-name", "", "name to verify the certificate against (default --host)")
	fl.StringVar(&users, "users", "user%d", "user name template with %d, a file of users, or one user")
	fl.IntVar(&userCount, "user-count", 100, "how many users a %d template numbers")
	fl.StringVar(&password, "password", "", "password of every user (a users file may give its own)")
	fl.StringVar(&mailbox, "mailbox", "INBOX", "mailbox the sessions select")
	fl.StringVar(&mix, "mix", "", `state weights changing the default mix, e.g. "search=0 append=100,30"; starting with "login": connect, LOGIN, LOGOUT only`)
	fl.BoolVar(&noLogout, "no-logout", false, "keep each session selected until the run ends")
	fl.IntVar(&msgs, "msgs", 30, "keep mailboxes near this many messages (imaptest's msgs)")
	fl.DurationVar(&timeout, "timeout", 30*time.Second, "per-command timeout")
	return cmd
}

// loadUsers expands --users: a %d template over 1..n, else a file of
// "user[:password]" lines when one exists at that path, else one user.
func loadUsers(spec string, n int, password string) ([]bench.Credential, error) {
	if strings.Contains(spec, "%d") {
		if n < 1 {
			return nil, errors.New("--user-count must be at least 1")
		}
		creds := make([]bench.Credential, n)
		for i := range creds {
			creds[i] = bench.Credential{User: strings.ReplaceAll(spec, "%d", strconv.Itoa(i+1)), Password: password}
		}
		return creds, nil
	}
	f, err := os.Open(spec)
	if errors.Is(err, os.ErrNotExist) {
		return []bench.Credential{{User: spec, Password: password}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var creds []bench.Credential
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok {
			pass = password
		}
		creds = append(creds, bench.Credential{User: user, Password: pass})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%s: no users", spec)
	}
	return creds, nil
}

func tlsConfig(host, serverName, caFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
