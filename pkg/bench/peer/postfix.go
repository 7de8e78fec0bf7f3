package peer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PostfixOptions describe a private Postfix instance.
type PostfixOptions struct {
	// Dir holds everything of the instance: conf/ (main.cf, master.cf),
	// queue/ (queue_directory, owned by root as Postfix wants it), data/
	// (data_directory, owned by postfix) and the maillog file.
	Dir string
	// Domain is the virtual mailbox domain whose mail goes to LMTPAddr;
	// Recipients (full addresses) are the only ones smtpd accepts for it,
	// as a server that knows its users does.
	Domain     string
	Recipients []string
	// LMTPAddr ("host:port") receives the domain's mail over LMTP (the
	// private Dovecot's listener). Empty: mail stays queued (deferred),
	// which the acceptance figure does not depend on.
	LMTPAddr string
}

// Postfix is a running private Postfix.
type Postfix struct {
	// SMTPAddr is smtpd's loopback listener (the port 25 role).
	SMTPAddr string
	Conf     string // the configuration directory given to postfix -c
	Dir      string
	bin      string
}

// postfixMasterCf: one smtpd on loopback plus the internal services a
// delivery needs (REFERENCE-PEERS.md); the columns are master.cf(5)'s.
const postfixMasterCf = `%s inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
lmtp unix - - n - - lmtp
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`

// StartPostfix writes main.cf and master.cf below o.Dir and runs
// `postfix -c DIR/conf start`, never touching /etc/postfix. `postfix
// start` returns once its master has daemonized, which may be before
// smtpd's listener accepts, so StartPostfix waits until the port does.
func StartPostfix(o PostfixOptions) (*Postfix, error) {
	bin, err := exec.LookPath("postfix")
	if err != nil {
		bin = "/usr/sbin/postfix"
		if _, serr := exec.LookPath(bin); serr != nil {
			return nil, fmt.Errorf("postfix is not installed (apt-get install postfix): %w", err)
		}
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return nil, fmt.Errorf("the postfix user is missing: %w", err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	if o.Domain == "" {
		return nil, errors.New("postfix: no domain")
	}
	var rcpts []string
	for _, r := range o.Recipients {
		if strings.ContainsAny(r, " ,{}=\r\n") {
			return nil, fmt.Errorf("postfix: bad recipient %q", r)
		}
		rcpts = append(rcpts, r+"=ok")
	}
	if len(rcpts) == 0 {
		return nil, errors.New("postfix: no recipients")
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		return nil, err
	}
	conf, queue, data := filepath.Join(o.Dir, "conf"), filepath.Join(o.Dir, "queue"), filepath.Join(o.Dir, "data")
	for _, d := range []string{conf, queue, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chown(data, uid, gid); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Postfix{SMTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Conf: conf, Dir: o.Dir, bin: bin}
	transport := "lmtp:inet:" + o.LMTPAddr
	if o.LMTPAddr == "" {
		transport = "error:no LMTP server configured"
	}
	// The durability Postfix gives by default (its queue file fsynced
	// before the 250) is what is measured; nothing here weakens it.
	mainCf := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
maillog_file = %s
maillog_file_prefixes = %s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.bench.example
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_banner = $myhostname ESMTP
virtual_mailbox_domains = %s
virtual_mailbox_maps = inline:{ %s }
virtual_transport = %s
`, queue, data, filepath.Join(o.Dir, "maillog"), o.Dir, o.Domain, strings.Join(rcpts, ", "), transport)
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(fmt.Sprintf(postfixMasterCf, p.SMTPAddr)), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command(bin, "-c", conf, "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix -c %s start: %v: %s%s", conf, err, out, p.Log())
	}
	// The master daemonizes before smtpd's socket is necessarily
	// listening: wait until it accepts (milliseconds; the bound is for a
	// loaded machine).
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.SMTPAddr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("postfix smtpd did not start listening on %s: %s", p.SMTPAddr, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop runs `postfix -c DIR stop` and waits (10 s at most) for the master
// to exit, so the caller may remove the directory.
func (p *Postfix) Stop() error {
	pid := 0
	if raw, err := os.ReadFile(filepath.Join(p.Dir, "queue", "pid", "master.pid")); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
	}
	out, err := exec.Command(p.bin, "-c", p.Conf, "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postfix stop: %v: %s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); pid > 0 && time.Now().Before(deadline); {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("postfix master %d still running 10 s after stop", pid)
	}
	return nil
}

// Log returns the instance's maillog.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}
