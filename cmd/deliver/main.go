// Command deliver is cote's LDA (installed as /usr/libexec/cote/deliver),
// for MTAs that pipe a message to a program: Sendmail's local mailer,
// Postfix's mailbox_command, Exim's pipe transport. It takes dovecot-lda's
// options:
//
//	-d user         the user to deliver to (default: the invoking user)
//	-a address      the recipient address (Delivered-To; default: user)
//	-f sender       the envelope sender (Return-Path)
//	-m mailbox      the mailbox to save into (INBOX when missing, unless
//	                lda_mailbox_autocreate)
//	-e              write the reason of a rejection or failure to stderr
//	-c config       the configuration file (default /etc/cote/cote.conf)
//	-o key=value    override a root setting (repeatable)
//
// The message is read from stdin (bare LFs become CRLF; a leading mbox
// "From " line is dropped and gives the sender when -f is absent). The
// user is looked up on base_dir/auth-userdb. Exit status as dovecot-lda:
// 0 delivered, 64 usage, 67 unknown user, 75 temporary failure (retry),
// 77 rejected (over quota without quota_full_tempfail), 78 bad
// configuration. cote never sends rejection mails itself: a rejection is
// the exit status 77, and the MTA bounces.
//
// Privileges: it runs as the invoking user. Run by root, it delivers by
// re-executing itself with the user's uid and gid (the userdb's, else
// mail_uid/mail_gid) through SysProcAttr.Credential: a Go process cannot
// safely setuid itself. In that helper mode (pkg/delivery.EnvJob set, as
// cmd/lmtp also uses it when it runs as root) it reads its job from the
// environment and the message from stdin.
//
// Build it with CGO_ENABLED=0.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/config"
	"github.com/cote-mail/cote/pkg/delivery"
	cotelog "github.com/cote-mail/cote/pkg/log"
	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// DefaultConfig is read when -c is not given.
const DefaultConfig = "/etc/cote/cote.conf"

// lookupTimeout bounds the userdb lookup.
const lookupTimeout = 30 * time.Second

func main() {
	if js, ok := os.LookupEnv(delivery.EnvJob); ok {
		log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cotelog.ServiceEncoderConfig()), zapcore.AddSync(os.Stderr), zap.InfoLevel))
		d := &delivery.Deliverer{Drivers: drivers(log), Log: log}
		os.Exit(delivery.ServeHelper(js, os.Stdin, os.Stdout, d))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stderr))
}

func drivers(log *zap.Logger) map[string]storage.Driver {
	md := maildir.New(log)
	md.SetCharsetDecoder(charset.Decode) // cached previews of every charset
	return map[string]storage.Driver{"maildir": md.Open}
}

// overrides collects -o key=value.
type overrides []string

func (o *overrides) String() string { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("-o %q: want key=value", v)
	}
	*o = append(*o, v)
	return nil
}

// lda is one invocation.
type lda struct {
	stderr  io.Writer
	toErr   bool // -e
	log     *zap.Logger
	closeFn func()
}

// fail reports a failure reason and returns code.
func (l *lda) fail(code int, reason string, fields ...zap.Field) int {
	if l.log != nil {
		l.log.Error(reason, fields...)
	}
	if l.toErr || l.log == nil {
		fmt.Fprintln(l.stderr, reason)
	}
	return code
}

func run(args []string, stdin *os.File, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	userName := fs.String("d", "", "user to deliver to")
	address := fs.String("a", "", "recipient address")
	sender := fs.String("f", "", "envelope sender")
	mailbox := fs.String("m", "", "mailbox to save into")
	toErr := fs.Bool("e", false, "write rejection reasons to stderr")
	confPath := fs.String("c", DefaultConfig, "configuration file")
	var ovr overrides
	fs.Var(&ovr, "o", "key=value setting override (repeatable)")
	if err := fs.Parse(args); err != nil {
		return delivery.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "deliver: unexpected argument %q\n", fs.Arg(0))
		return delivery.ExitUsage
	}
	l := &lda{stderr: stderr, toErr: *toErr}
	cfg, err := loadConfig(*confPath, ovr)
	if err != nil {
		return l.fail(delivery.ExitConfig, "deliver: configuration: "+err.Error())
	}
	root := cfg.Protocol("lda")
	l.log, l.closeFn = openLog(root, stderr)
	defer l.closeFn()
	opts, err := delivery.LoadOptions(root)
	if err != nil {
		return l.fail(delivery.ExitConfig, "deliver: "+err.Error())
	}
	// lmtp_* settings are LMTP's: the LDA adds no Received header and
	// saves to the detail mailbox only through -m, as dovecot-lda.
	opts.AddReceived, opts.SaveToDetail = false, false

	name := *userName
	if name == "" {
		u, err := user.Current()
		if err != nil {
			return l.fail(delivery.ExitTempFail, "deliver: who am I: "+err.Error())
		}
		name = u.Username
	}
	l.log = l.log.With(zap.String("user", name))
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	m, err := authproto.DialMaster(ctx, root.Get("base_dir")+"/auth-userdb")
	if err != nil {
		return l.fail(delivery.ExitTempFail, "deliver: userdb: "+err.Error())
	}
	canon, fields, err := m.User(ctx, name, "lda", nil)
	m.Close()
	switch {
	case errors.Is(err, authproto.ErrNotFound):
		return l.fail(delivery.ExitNoUser, "deliver: unknown user: "+name)
	case err != nil:
		return l.fail(delivery.ExitTempFail, "deliver: userdb lookup: "+err.Error())
	}
	if canon != "" {
		name = canon
	}
	fm := fields.Map()
	_, hasUID := fm["uid"]
	_, hasGID := fm["gid"]
	ucfg, err := mailuser.ForProcess(root, mailuser.Process{}, name, fm, mailuser.Session{Service: "lda", ID: strconv.Itoa(os.Getpid())})
	if err != nil {
		return l.fail(delivery.ExitTempFail, "deliver: user configuration: "+err.Error())
	}

	spool, size, from, err := spoolMessage(stdin)
	if err != nil {
		return l.fail(delivery.ExitTempFail, "deliver: reading the message: "+err.Error())
	}
	defer spool.Close()
	env := delivery.Envelope{From: strings.TrimSuffix(strings.TrimPrefix(*sender, "<"), ">"), Rcpt: *address, Mailbox: *mailbox}
	if env.Rcpt == "" {
		env.Rcpt = name
	}
	if *sender == "" {
		env.From = from
		env.NoReturnPath = from == ""
	}

	var got string
	if os.Geteuid() == 0 {
		// Root: deliver through a copy of this program running as the user.
		if !hasUID || !hasGID {
			uid, gid, err := mailIDs(root, fm, hasUID)
			if err != nil {
				return l.fail(delivery.ExitTempFail, "deliver: "+err.Error())
			}
			if !hasUID {
				ucfg.UID = uid
			}
			if !hasGID {
				ucfg.GID = gid
			}
		}
		cred, err := delivery.Credential(ucfg)
		if err != nil {
			return l.fail(delivery.ExitTempFail, "deliver: "+err.Error())
		}
		exe, err := os.Executable()
		if err != nil {
			return l.fail(delivery.ExitTempFail, "deliver: "+err.Error())
		}
		got, err = delivery.RunHelper(exe, cred, delivery.Job{User: ucfg, Env: env, Options: opts}, spool)
		return l.outcome(got, size, err)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if (hasUID && ucfg.UID != uid) || (hasGID && ucfg.GID != gid) {
		return l.fail(delivery.ExitTempFail, fmt.Sprintf("deliver: user %s has uid %d gid %d but deliver runs as %d:%d and cannot switch: run it as that user or as root", name, ucfg.UID, ucfg.GID, uid, gid))
	}
	ucfg.UID, ucfg.GID = uid, gid
	d := &delivery.Deliverer{Options: opts, Drivers: drivers(l.log), Log: l.log}
	got, err = d.Deliver(ucfg, env, delivery.Message{R: spool, Size: size})
	return l.outcome(got, size, err)
}

// outcome logs the result of a delivery and returns the exit status.
func (l *lda) outcome(mailbox string, size int64, err error) int {
	if err == nil {
		l.log.Info("saved mail", zap.String("mailbox", mailbox), zap.Int64("size", size))
		return delivery.ExitOK
	}
	var f *delivery.Failure
	reason := err.Error()
	if errors.As(err, &f) {
		reason = f.Text
		if f.Err != nil {
			l.log.Error("delivery failed", zap.Error(f.Err))
		}
	}
	code := delivery.ExitCode(err)
	if code == delivery.ExitNoPerm {
		return l.fail(code, "rejected: "+reason)
	}
	return l.fail(code, "deliver: "+reason)
}

// loadConfig reads path and applies the -o overrides as root settings
// written after the file's own.
func loadConfig(path string, ovr overrides) (*settings.Config, error) {
	tree, err := config.ParseFile(path, config.Options{Default: func(name string) (string, bool) {
		d := settings.Default(settings.KindRoot, name)
		return d, d != ""
	}, DeferFiles: true})
	if err != nil {
		return nil, err
	}
	for _, o := range ovr {
		k, v, _ := strings.Cut(o, "=")
		if tree.Root == nil {
			tree.Root = &config.Node{Section: true}
		}
		tree.Root.Children = append(tree.Root.Children, &config.Node{Pos: config.Pos{File: "-o"}, Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return settings.FromTree(tree)
}

// openLog logs to the configured log_path; when that cannot be opened by
// the invoking user (a root-owned log file), to stderr.
func openLog(root *settings.Section, stderr io.Writer) (*zap.Logger, func()) {
	sink, err := cotelog.OpenSink(cotelog.Options{
		Path: root.Get("log_path"), InfoPath: root.Get("info_log_path"), DebugPath: root.Get("debug_log_path"),
		Facility: root.Get("syslog_facility"), Timestamp: root.Get("log_timestamp"), Ident: root.Get("instance_name"),
	})
	if err != nil {
		sink = cotelog.NewWriterSink(stderr)
	}
	w := &sinkWriter{sink: sink, pid: os.Getpid()}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(cotelog.ServiceEncoderConfig()), w, zap.InfoLevel)
	return zap.New(core), func() { sink.Close() }
}

// sinkWriter feeds zap's JSON lines to the sink as service "deliver".
type sinkWriter struct {
	sink *cotelog.Sink
	pid  int
}

func (w *sinkWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.sink.Write(cotelog.ParseLine([]byte(line), "deliver", w.pid, time.Now()))
	}
	return len(p), nil
}

func (w *sinkWriter) Sync() error { return nil }

// mailIDs gives the ids of a user whose userdb has no uid or gid:
// mail_uid and mail_gid (mail_uid's primary group), or the primary group
// of the userdb uid.
func mailIDs(root *settings.Section, fields map[string]string, hasUID bool) (int, int, error) {
	var u *user.User
	var err error
	if hasUID {
		u, err = user.LookupId(fields["uid"])
	} else {
		name := root.Get("mail_uid")
		if u, err = user.Lookup(name); err != nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("user ids: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if g := root.Get("mail_gid"); g != "" && !hasUID {
		grp, err := user.LookupGroup(g)
		if err != nil {
			if grp, err = user.LookupGroupId(g); err != nil {
				return 0, 0, fmt.Errorf("mail_gid: %w", err)
			}
		}
		gid, _ = strconv.Atoi(grp.Gid)
	}
	return uid, gid, nil
}

// spoolMessage copies stdin into an unlinked temporary file with CRLF
// line endings, dropping a leading mbox "From sender date" line and
// returning its sender.
func spoolMessage(stdin io.Reader) (*os.File, int64, string, error) {
	f, err := os.CreateTemp("", "cote-deliver-*")
	if err != nil {
		return nil, 0, "", err
	}
	os.Remove(f.Name())
	br := bufio.NewReaderSize(stdin, 64<<10)
	var from string
	if head, _ := br.Peek(5); string(head) == "From " {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			f.Close()
			return nil, 0, "", err
		}
		if fields := strings.Fields(line); len(fields) >= 2 {
			from = strings.Trim(fields[1], "<>")
		}
	}
	w := bufio.NewWriterSize(f, 64<<10)
	n, err := delivery.CopyCRLF(w, br)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		f.Close()
		return nil, 0, "", err
	}
	return f, n, from, nil
}
