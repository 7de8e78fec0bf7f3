// Command cote-sendmail is the sendmail(8) interface of the cote mail suite, compatible with
// Postfix's: it can be linked as /usr/sbin/sendmail (and as mailq, which lists the queue).
// It submits a message over ESMTP to base_dir/pickup, a unix socket served by the queue
// service, which identifies the invoking user with SO_PEERCRED: the envelope sender is that
// user's <login>@myhostname unless -f names another. The configuration (-C, else
// $COTE_CONFIG, else /etc/cote/cote.conf) gives base_dir, myhostname, message_size_limit
// and queue_directory.
//
// Modes: -bm (default: read a message from stdin and queue it), -bs (SMTP on stdin and
// stdout, proxied to pickup), -bp (list the queue, as `coteadm queue list`), -q (flush the
// deferred queue); -bp and -q work on queue_directory and so need root or mail_owner.
//
// Message handling, done here once because pickup does none of it (as Postfix's cleanup
// does for sendmail): lines ending in a bare LF are sent with CRLF; a lone "." ends the
// message unless -i/-oi; -t adds the To, Cc and Bcc (or Resent-*) addresses to the
// recipients; Bcc, Resent-Bcc and Content-Length fields are removed; a missing From (with
// the -F, $NAME or passwd full name), Date or Message-ID is added.
//
// Exit status follows sysexits.h as Postfix's sendmail: 64 bad usage, 66 unreadable input, 69 a permanent refusal or unsupported mode, 75 the queue is not
// reachable or refused temporarily (retry later), 77 no permission on the spool, 78 a
// configuration that does not load.
//
// It must not import the mail store, auth or the master: it is a plain client of pickup
// plus pkg/queue's admin functions.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/cote-mail/cote/pkg/mailq"
	"github.com/cote-mail/cote/pkg/queue"
)

// sysexits.h
const (
	exOK          = 0
	exUsage       = 64
	exNoInput     = 66
	exUnavailable = 69
	exSoftware    = 70
	exTempFail    = 75
	exNoPerm      = 77
	exConfig      = 78
)

const defaultConfig = "/etc/cote/cote.conf"

// exitError carries the exit status of a failure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// options is the parsed command line.
type options struct {
	mode       byte // 'm' deliver, 's' SMTP on stdin, 'p' list, 'q' flush
	extract    bool // -t
	ignoreDots bool // -i, -oi
	sender     string
	senderSet  bool
	fullName   string
	config     string
	rcpts      []string
	warnings   []string // ignored options, with the reason
}

// Options taking a value (attached or as the next argument), as in Postfix's getopt string.
const valueOpts = "ABCFLNORVXbefhopr"

func parseArgs(prog string, args []string) (*options, error) {
	o := &options{mode: 'm'}
	switch filepath.Base(prog) {
	case "mailq":
		o.mode = 'p'
	case "newaliases":
		return nil, newaliasesErr
	}
	ignore := func(opt, why string) {
		o.warnings = append(o.warnings, fmt.Sprintf("-%s option ignored: %s", opt, why))
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.rcpts = append(o.rcpts, args[i+1:]...)
			break
		}
		if a == "-" {
			return nil, fail(exUsage, "recipient \"-\" (put recipients beginning with '-' after --)")
		}
		if a[0] != '-' {
			o.rcpts = append(o.rcpts, a)
			continue
		}
	cluster:
		for j := 1; j < len(a); j++ {
			c := a[j]
			if c == 'q' {
				if err := o.queueRun(a[j+1:], ignore); err != nil {
					return nil, err
				}
				break
			}
			if strings.IndexByte(valueOpts, c) >= 0 {
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return nil, fail(exUsage, "option -%c requires an argument", c)
					}
					i++
					v = args[i]
				}
				if err := o.valueOpt(c, v, ignore); err != nil {
					return nil, err
				}
				break cluster
			}
			switch c {
			case 't':
				o.extract = true
			case 'i':
				o.ignoreDots = true
			case 'I':
				return nil, newaliasesErr
			case 'G', 'U', 'm', 'n', 'x', 'c':
				ignore(string(c), "has no effect in cote")
			case 'v':
				ignore("v", "no delivery report is mailed; see the queue log")
			default:
				return nil, fail(exUsage, "unknown option -%c", c)
			}
		}
	}
	return o, nil
}

var newaliasesErr = fail(exUnavailable, "newaliases: cote reads alias_maps as text; there is no database to rebuild")

func (o *options) valueOpt(c byte, v string, ignore func(opt, why string)) error {
	switch c {
	case 'b':
		switch v {
		case "m":
			o.mode = 'm'
		case "s":
			o.mode = 's'
		case "p":
			o.mode = 'p'
		case "i":
			return newaliasesErr
		case "d", "D":
			return fail(exUsage, "-b%s: cote-sendmail runs no daemon; start the cote master", v)
		case "v":
			return fail(exUnavailable, "-bv: address verification mode is not supported")
		default:
			return fail(exUsage, "unsupported mode -b%s", v)
		}
	case 'B':
		switch strings.ToUpper(v) {
		case "7BIT", "8BITMIME":
			// go-smtp's client always declares BODY=8BITMIME to pickup, which records it.
		default:
			return fail(exUsage, "-B %s: body type must be 7BIT or 8BITMIME", v)
		}
	case 'C':
		o.config = v
	case 'F':
		o.fullName = v
	case 'f', 'r':
		o.sender, o.senderSet = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">"), true
	case 'o':
		switch {
		case v == "i":
			o.ignoreDots = true
		case v == "7" || v == "8" || v == "m" || strings.HasPrefix(v, "B"):
			// Body type and "me too": nothing to do (see -B).
		case strings.HasPrefix(v, "e"):
			ignore("o"+v, "errors are reported by the exit status")
		case strings.HasPrefix(v, "d"):
			ignore("o"+v, "pickup always queues before delivery")
		case strings.HasPrefix(v, "A"):
			ignore("o"+v, "aliases are expanded by the MTA with alias_maps")
		default:
			ignore("o"+v, "not a cote setting")
		}
	case 'N':
		ignore("N", "pickup does not take DSN parameters; the queue's defaults apply")
	case 'R':
		ignore("R", "pickup does not take DSN parameters; bounces return full messages")
	case 'V':
		ignore("V", "pickup does not take DSN parameters")
	case 'A', 'L', 'O', 'X', 'e', 'h', 'p':
		ignore(string(c), "has no effect in cote")
	}
	return nil
}

// queueRun handles -q[value]: -q flushes; -qRsite and -qSsite flush everything (the deferred
// queue is not indexed by site); -qINTERVAL is ignored (the queue daemon retries on its own
// schedule), as Postfix ignores it.
func (o *options) queueRun(v string, ignore func(opt, why string)) error {
	switch {
	case v == "":
		o.mode = 'q'
	case v[0] == 'R' || v[0] == 'S':
		ignore("q"+v, "the whole deferred queue is flushed")
		o.mode = 'q'
	case v[0] >= '0' && v[0] <= '9':
		ignore("q"+v, "the queue service retries on its own schedule (minimal_backoff_time)")
		o.mode = 'n' // nothing to do
	default:
		return fail(exUsage, "unsupported option -q%s", v)
	}
	return nil
}

// env is what a run needs from the configuration.
type env struct {
	baseDir, queueDir, host string
	maxSize                 int64
}

func loadEnv(o *options) (*env, error) {
	path := o.config
	if path == "" {
		path = os.Getenv("COTE_CONFIG")
	}
	if path == "" {
		path = defaultConfig
	}
	cfg, err := loadSettings(path)
	if err != nil {
		return nil, fail(exConfig, "%v", err)
	}
	host, _, err := queue.Hostnames(cfg.Root)
	if err != nil {
		return nil, fail(exConfig, "%v", err)
	}
	return &env{baseDir: cfg.Root.Get("base_dir"), queueDir: cfg.Root.Get("queue_directory"), host: host,
		maxSize: int64(cfg.Root.Size("message_size_limit"))}, nil
}

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	report := func(err error) int {
		fmt.Fprintln(stderr, "cote-sendmail:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return exSoftware
	}
	o, err := parseArgs(argv[0], argv[1:])
	if err != nil {
		return report(err)
	}
	// Ignored options are noted on a terminal only, as Postfix logs them: a cron job's
	// mailed output must not grow a warning on every run.
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		for _, w := range o.warnings {
			fmt.Fprintln(stderr, "cote-sendmail: warning:", w)
		}
	}
	e, err := loadEnv(o)
	if err != nil {
		return report(err)
	}
	switch o.mode {
	case 'p':
		err = listQueue(e, stdout)
	case 'q':
		err = flushQueue(e)
	case 's':
		err = smtpOnStdin(e, stdin, stdout)
	case 'm':
		err = submit(o, e, stdin)
	}
	if err != nil {
		return report(err)
	}
	return exOK
}

func spoolErr(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fail(exNoPerm, "%v (the queue is readable by root and mail_owner only)", err)
	}
	return fail(exUnavailable, "%v", err)
}

func listQueue(e *env, out io.Writer) error {
	ents, err := queue.List(e.queueDir)
	if err != nil {
		return spoolErr(err)
	}
	return mailq.Format(out, ents, time.Local)
}

func flushQueue(e *env) error {
	if _, err := queue.Flush(e.queueDir); err != nil {
		return spoolErr(err)
	}
	return nil
}

// dialPickup connects to base_dir/pickup; failing that, the message cannot be queued now.
func dialPickup(e *env) (*net.UnixConn, error) {
	path := filepath.Join(e.baseDir, "pickup")
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fail(exTempFail, "cannot reach the mail queue at %s: %v", path, err)
	}
	return c, nil
}

// loginName is the invoking user's name, as pickup finds it from SO_PEERCRED.
func loginName() string {
	uid := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "uid" + uid
}

// defaultFullName is $NAME, else the passwd entry's GECOS name (its first comma field).
func defaultFullName() string {
	if n := os.Getenv("NAME"); n != "" {
		return n
	}
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		n, _, _ := strings.Cut(u.Name, ",")
		return strings.TrimSpace(n)
	}
	return ""
}

func qualify(a, host string) string {
	if a != "" && !strings.Contains(a, "@") {
		return a + "@" + host
	}
	return a
}

func submit(o *options, e *env, stdin io.Reader) error {
	lines, err := readMessage(stdin, o.ignoreDots, e.maxSize)
	if err != nil {
		if errors.Is(err, errTooBig) {
			return fail(exUnavailable, "%v (%d bytes)", err, e.maxSize)
		}
		return fail(exNoInput, "reading the message: %v", err)
	}
	var rcpts []string
	for _, a := range o.rcpts {
		rcpts = append(rcpts, parseAddrList(a)...)
	}
	if o.extract {
		hdr, _, _ := splitHeader(lines)
		rcpts = append(rcpts, headerRecipients(hdr)...)
	}
	if len(rcpts) == 0 {
		if o.extract {
			return fail(exUsage, "no recipient addresses found in the message header")
		}
		return fail(exUsage, "recipient addresses must be given as arguments or with -t")
	}
	// An empty -f ("-f <>") asks for the null sender, which pickup never queues: it means the
	// user's default address there, so the From: added here names that too.
	sender := qualify(o.sender, e.host)
	if sender == "" {
		sender = loginName() + "@" + e.host
	}
	fullName := o.fullName
	if fullName == "" {
		fullName = defaultFullName()
	}
	msg := fixup{sender: sender, fullName: fullName, host: e.host, now: time.Now()}.apply(lines)

	conn, err := dialPickup(e)
	if err != nil {
		return err
	}
	c := gosmtp.NewClient(conn)
	defer c.Close()
	opts := &gosmtp.MailOptions{Size: int64(len(msg))}
	for _, a := range append([]string{o.sender}, rcpts...) {
		if !isASCII(a) {
			opts.UTF8 = true
		}
	}
	if err := c.Mail(o.sender, opts); err != nil {
		return smtpErr("sender "+o.sender, err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return smtpErr("recipient "+r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("message", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("message", err)
	}
	c.Quit()
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// smtpErr maps pickup's reply to the exit status: 4xx (and a broken connection) is
// temporary, 5xx permanent.
func smtpErr(what string, err error) error {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		code := exUnavailable
		if se.Code/100 == 4 {
			code = exTempFail
		}
		return fail(code, "%s: %d %s", what, se.Code, se.Message)
	}
	return fail(exTempFail, "%s: %v", what, err)
}
