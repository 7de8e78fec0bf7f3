package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cote-mail/cote/pkg/bench"
	"github.com/cote-mail/cote/pkg/bench/imapc"
)

// imapFlags say how to reach an IMAP server and as whom.
type imapFlags struct {
	host, caFile, serverName string
	port                     int
	useTLS, insecure         bool
	users, password          string
	userCount                int
	timeout                  time.Duration
}

func (f *imapFlags) add(cmd *cobra.Command, prefix string) {
	fl := cmd.Flags()
	fl.StringVar(&f.host, prefix+"host", "127.0.0.1", "IMAP server host")
	fl.IntVar(&f.port, prefix+"port", 0, "IMAP server port (default 143, or 993 with --tls)")
	fl.BoolVar(&f.useTLS, "tls", false, "implicit TLS (imaps)")
	fl.BoolVar(&f.insecure, "insecure", false, "do not verify the server certificate")
	fl.StringVar(&f.caFile, "ca", "", "PEM file of the CA that signed the server certificate")
	fl.StringVar(&f.serverName, "server-name", "", "name to verify the certificate against (default the host)")
	fl.StringVar(&f.users, "users", "user%d", "user name template with %d, a file of users, or one user")
	fl.IntVar(&f.userCount, "user-count", 100, "how many users a %d template numbers")
	fl.StringVar(&f.password, "password", "", "password of every user (a users file may give its own)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-command timeout")
}

func (f *imapFlags) addr() string {
	port := f.port
	if port == 0 {
		port = 143
		if f.useTLS {
			port = 993
		}
	}
	return net.JoinHostPort(f.host, strconv.Itoa(port))
}

func (f *imapFlags) dial() (imapc.Options, error) {
	o := imapc.Options{Timeout: f.timeout}
	if f.useTLS {
		tc, err := tlsConfig(f.host, f.serverName, f.caFile, f.insecure)
		if err != nil {
			return o, err
		}
		o.TLS = tc
	}
	return o, nil
}

func (f *imapFlags) creds() ([]bench.Credential, error) {
	return loadUsers(f.users, f.userCount, f.password)
}

func newLMTPCmd() *cobra.Command {
	return newDeliveryCmd("lmtp", "durable LMTP deliveries per second", `Each simulated client keeps one LMTP session (RFC 2033) and delivers
messages of --size bytes back to back: MAIL, RCPT, DATA pipelined, one 250
per recipient awaited. A delivery counts when every recipient's 250 has
arrived, the point at which the server promises the message is on disk.
--clients is the number of parallel sessions. --addr is host:port or
unix:PATH.`,
		"127.0.0.1:24", "LMTP server, host:port or unix:PATH", "bench@example.org",
		func(c bench.LMTPConfig) (bench.Workload, error) { return bench.NewLMTP(c) })
}

// expand turns a %d template into n names, or returns the one name.
func expand(spec string, n int) ([]string, error) {
	if !strings.Contains(spec, "%d") {
		return []string{spec}, nil
	}
	if n < 1 {
		return nil, errors.New("a %d template needs a count of at least 1")
	}
	out := make([]string, n)
	for i := range out {
		out[i] = strings.ReplaceAll(spec, "%d", strconv.Itoa(i+1))
	}
	return out, nil
}

func newSMTPCmd() *cobra.Command {
	return newDeliveryCmd("smtp", "durable SMTP acceptances (250s) per second", `Each simulated client keeps one SMTP session (RFC 5321) to a port 25
listener and sends messages of --size bytes back to back: MAIL, RCPT, DATA
pipelined, then the data and its one reply. A message counts at the 250
after the data, when the server has taken responsibility for it (it is in
a durable queue). --clients is the number of parallel sessions.`,
		"127.0.0.1:25", "SMTP server, host:port", "bench@remote.example",
		func(c bench.LMTPConfig) (bench.Workload, error) { return bench.NewSMTP(c) })
}

// newDeliveryCmd is the lmtp and smtp subcommands: the same flags and
// message stream, a different protocol and port.
func newDeliveryCmd(use, short, long, defAddr, addrHelp, defFrom string, mk func(bench.LMTPConfig) (bench.Workload, error)) *cobra.Command {
	var (
		rf                  runFlags
		addr, rcpts, from   string
		rcptCount, per, siz int
		timeout             time.Duration
	)
	cmd := &cobra.Command{
		Use:           use,
		Short:         short,
		Long:          long,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := expand(rcpts, rcptCount)
			if err != nil {
				return err
			}
			w, err := mk(bench.LMTPConfig{Addr: addr, Recipients: list, PerMessage: per, From: from, Size: siz, Timeout: timeout})
			if err != nil {
				return err
			}
			return rf.run(cmd, w)
		},
	}
	rf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", defAddr, addrHelp)
	fl.StringVar(&rcpts, "rcpt", "user%d@example.org", "recipient template with %d, or one address")
	fl.IntVar(&rcptCount, "rcpt-count", 100, "how many recipients a %d template numbers")
	fl.IntVar(&per, "per-message", 1, "recipients in each transaction")
	fl.StringVar(&from, "from", defFrom, "envelope sender")
	fl.IntVar(&siz, "size", 4096, "message size in bytes")
	fl.DurationVar(&timeout, "timeout", 30*time.Second, "per-reply timeout")
	return cmd
}

func newPOP3Cmd() *cobra.Command {
	var (
		rf runFlags
		im imapFlags
	)
	cmd := &cobra.Command{
		Use:   "pop3",
		Short: "POP3 download of whole mailboxes (MB/s and messages/s)",
		Long: `Each simulated client logs in over POP3 (USER/PASS) as the next user,
asks STAT, RETRs every message and QUITs, again and again; nothing is
deleted. Every RETR is checked and the octets must add up to what STAT
announced. Reports downloads/s, RETRs/s (messages/s) and MB/s. --tls is
implicit TLS (pop3s, port 995).`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			creds, err := im.creds()
			if err != nil {
				return err
			}
			dial, err := im.dial()
			if err != nil {
				return err
			}
			port := im.port
			if port == 0 {
				port = 110
				if im.useTLS {
					port = 995
				}
			}
			w, err := bench.NewPOP3(bench.POP3Config{Addr: net.JoinHostPort(im.host, strconv.Itoa(port)), TLS: dial.TLS, Users: creds, Timeout: im.timeout})
			if err != nil {
				return err
			}
			return rf.run(cmd, w)
		},
	}
	rf.add(cmd)
	im.add(cmd, "")
	cmd.Flags().Lookup("host").Usage = "POP3 server host"
	cmd.Flags().Lookup("port").Usage = "POP3 server port (default 110, or 995 with --tls)"
	cmd.Flags().Lookup("tls").Usage = "implicit TLS (pop3s)"
	return cmd
}

func newVisibleCmd() *cobra.Command {
	var (
		rf         runFlags
		im         imapFlags
		smtp       string
		lmtp, rcpt string
		size       int
		wait       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "visible",
		Short: "time from a delivery's 250 to the message showing up over IMAP",
		Long: `Each simulated client logs in over IMAP as the first user, selects INBOX
and enters IDLE; then it delivers a message over LMTP to --rcpt and
measures the time from the 250 to the EXISTS announcing it ("visible"),
one message after the other. One client is the measurement. With --smtp
the message is submitted over SMTP instead (a port 25 listener) and the
figure covers the server's whole path: smtpd, queue, LMTP, store.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			creds, err := im.creds()
			if err != nil {
				return err
			}
			dial, err := im.dial()
			if err != nil {
				return err
			}
			w, err := bench.NewVisible(bench.VisibleConfig{LMTPAddr: lmtp, SMTPAddr: smtp, IMAPAddr: im.addr(), Dial: dial, User: creds[0], Rcpt: rcpt, Size: size, Wait: wait})
			if err != nil {
				return err
			}
			return rf.run(cmd, w)
		},
	}
	rf.add(cmd)
	im.add(cmd, "")
	fl := cmd.Flags()
	fl.StringVar(&lmtp, "lmtp", "127.0.0.1:24", "LMTP server, host:port or unix:PATH")
	fl.StringVar(&smtp, "smtp", "", "submit over SMTP to this host:port (a port 25 listener) instead of LMTP: SMTP 250 to visible, through the server's queue")
	fl.StringVar(&rcpt, "rcpt", "", "address to deliver to (default the IMAP user name)")
	fl.IntVar(&size, "size", 4096, "message size in bytes")
	fl.DurationVar(&wait, "wait", 10*time.Second, "longest a message may take to show up")
	cmd.Flags().Lookup("clients").DefValue = "1"
	cmd.Flags().Set("clients", "1")
	return cmd
}

func newIdleCmd() *cobra.Command {
	var (
		im        imapFlags
		conns     int
		parallel  int
		pid       int
		pidFile   string
		jsonOut   bool
		holdFor   time.Duration
		noRaiseNF bool
	)
	cmd := &cobra.Command{
		Use:   "idle",
		Short: "N connections in IDLE and the server's memory per connection",
		Long: `Opens --conns connections (--parallel at a time), each logging in as the
next user, selecting INBOX and entering IDLE; then sums VmRSS over the
server's whole process tree (--pid or --pidfile: its master) half way and
at the end, and reports the growth over the second half per connection. RLIMIT_NOFILE is raised to its hard limit
first (the connections need a descriptor each).`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !noRaiseNF {
				limit, err := bench.RaiseNoFile()
				if err != nil {
					return err
				}
				if uint64(conns)+64 > limit {
					return fmt.Errorf("--conns %d needs more descriptors than RLIMIT_NOFILE allows (%d)", conns, limit)
				}
			}
			if pidFile != "" {
				raw, err := os.ReadFile(pidFile)
				if err != nil {
					return err
				}
				if pid, err = strconv.Atoi(strings.TrimSpace(string(raw))); err != nil {
					return fmt.Errorf("%s: %w", pidFile, err)
				}
			}
			creds, err := im.creds()
			if err != nil {
				return err
			}
			dial, err := im.dial()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, set, err := bench.OpenIdle(ctx, bench.IdleConfig{Addr: im.addr(), Dial: dial, Users: creds, Conns: conns, Parallel: parallel, Pid: pid})
			if err != nil {
				return err
			}
			defer set.Close()
			if holdFor > 0 {
				t := time.NewTimer(holdFor)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
			out := cmd.OutOrStdout()
			if jsonOut {
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
		},
	}
	im.add(cmd, "")
	fl := cmd.Flags()
	fl.IntVar(&conns, "conns", 1000, "connections to open")
	fl.IntVar(&parallel, "parallel", 32, "connections being opened at once")
	fl.IntVar(&pid, "pid", 0, "the server's master pid (its process tree's RSS is measured)")
	fl.StringVar(&pidFile, "pidfile", "", "file holding the server's master pid")
	fl.BoolVar(&jsonOut, "json", false, "print one JSON result object")
	fl.DurationVar(&holdFor, "hold", 0, "keep the connections open this long before reporting")
	fl.BoolVar(&noRaiseNF, "no-raise-nofile", false, "leave RLIMIT_NOFILE as it is")
	return cmd
}

func newBigMailboxCmd() *cobra.Command {
	var (
		rf       runFlags
		im       imapFlags
		count    int
		mailbox  string
		write    string
		owner    string
		dataSeed uint64
	)
	cmd := &cobra.Command{
		Use:   "bigmailbox",
		Short: "SELECT, FETCH 1:* (FLAGS) and SEARCH on a large mailbox",
		Long: `With --write DIR, writes --count generated messages into the Maildir DIR
(before the server starts; the same --data-seed gives the same files) and
exits. Otherwise each simulated client logs in as the first user and
repeats SELECT, FETCH 1:* (FLAGS), SEARCH UNSEEN and SEARCH SUBJECT on
--mailbox, which must hold exactly --count messages; "select1" is the
run's first SELECT (it builds the index on a fresh server).`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if write != "" {
				uid, gid := os.Getuid(), os.Getgid()
				if owner != "" {
					u, err := user.Lookup(owner)
					if err != nil {
						return err
					}
					uid, _ = strconv.Atoi(u.Uid)
					gid, _ = strconv.Atoi(u.Gid)
				}
				return bench.WriteMaildir(write, dataSeed, count, uid, gid)
			}
			creds, err := im.creds()
			if err != nil {
				return err
			}
			dial, err := im.dial()
			if err != nil {
				return err
			}
			w, err := bench.NewBigMailbox(bench.BigMailboxConfig{Addr: im.addr(), Dial: dial, User: creds[0], Mailbox: mailbox, Count: count})
			if err != nil {
				return err
			}
			return rf.run(cmd, w)
		},
	}
	rf.add(cmd)
	im.add(cmd, "")
	fl := cmd.Flags()
	fl.IntVar(&count, "count", 10000, "messages in the mailbox")
	fl.StringVar(&mailbox, "mailbox", "INBOX", "the large mailbox")
	fl.StringVar(&write, "write", "", "write the generated mailbox into this Maildir and exit")
	fl.StringVar(&owner, "owner", "", "with --write: user owning the files (default the caller)")
	fl.Uint64Var(&dataSeed, "data-seed", 1, "seed of the generated messages")
	cmd.Flags().Set("clients", "1")
	return cmd
}

func newFsyncCmd() *cobra.Command {
	var (
		dir  string
		size int
		d    time.Duration
	)
	cmd := &cobra.Command{
		Use:           "fsync",
		Short:         "the disk's durable Maildir deliveries per second (new file, fsync, rename, directory fsync)",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rate, err := bench.FsyncRate(dir, size, d)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fsync %s: %.0f new-file+fsync+rename+dir-fsync per second (%d bytes each)\n", dir, rate, size)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", os.TempDir(), "directory on the disk to measure")
	fl.IntVar(&size, "size", 4096, "bytes written per file")
	fl.DurationVar(&d, "duration", 2*time.Second, "how long to measure")
	return cmd
}
