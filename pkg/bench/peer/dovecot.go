package peer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// DovecotOptions describe a private Dovecot instance.
type DovecotOptions struct {
	// Dir holds everything of the instance (configuration, runtime
	// directory, logs, homes). Its ancestors must be searchable by the
	// mail user, as the homes lie below it.
	Dir string
	// Users are created in a passwd-file with the password Password.
	Users    []string
	Password string
	// MailUser owns the homes and runs the mail processes; empty means
	// "nobody".
	MailUser string
	// Extra is appended to the configuration (for a test's own settings).
	Extra string
	// LMTP adds an LMTP listener on loopback (Dovecot.LMTPAddr).
	LMTP bool
	// POP3 adds pop3 (Dovecot.POP3Addr) and, with TLSCert, pop3s
	// (Dovecot.POP3SAddr) listeners; login processes in performance
	// mode like imap-login's.
	POP3 bool
	// TLSCert and TLSKey, PEM files, add an imaps listener with them
	// (Dovecot.IMAPSAddr).
	TLSCert, TLSKey string
}

// Dovecot is a running private Dovecot.
type Dovecot struct {
	Conf     string // the configuration file
	IMAPAddr string // plain IMAP listener, 127.0.0.1:port
	// IMAPSAddr and LMTPAddr are set when the options asked for them.
	IMAPSAddr string
	LMTPAddr  string
	POP3Addr  string
	POP3SAddr string
	// PidFile holds the master's pid.
	PidFile  string
	HomeRoot string // homes are HomeRoot/<user>
	LogPath  string
}

// dovecotConf is REFERENCE-PEERS.md's private instance: its own base_dir,
// loopback only, a passwd-file of PLAIN passwords, a static userdb, and
// login processes in performance mode (service_count = 0 and spare
// processes) so that a comparison with cote's defaults is fair.
const dovecotConf = `instance_name = {{name}}
base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/dovecot.log
listen = 127.0.0.1
protocols = {{protocols}}
ssl = {{ssl}}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
mail_location = maildir:~/Maildir
mail_fsync = optimized
first_valid_uid = 1
default_client_limit = 4000
default_process_limit = 1000
passdb {
  driver = passwd-file
  args = scheme=PLAIN {{dir}}/passwd
}
userdb {
  driver = static
  args = uid={{uid}} gid={{gid}} home={{dir}}/home/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{port}}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = {{imapsport}}
  }
  service_count = 0
  process_min_avail = {{cores}}
}
`

// StartDovecot writes the configuration and starts `dovecot -c FILE`.
// Dovecot's master binds its listeners before it detaches, so when the
// command has returned the port accepts connections.
func StartDovecot(o DovecotOptions) (*Dovecot, error) {
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		return nil, fmt.Errorf("dovecot is not installed (apt-get install dovecot-imapd): %w", err)
	}
	if o.MailUser == "" {
		o.MailUser = "nobody"
	}
	u, err := user.Lookup(o.MailUser)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	var ports [5]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	port := ports[0]
	d := &Dovecot{
		Conf:     filepath.Join(o.Dir, "dovecot.conf"),
		IMAPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		HomeRoot: filepath.Join(o.Dir, "home"),
		LogPath:  filepath.Join(o.Dir, "dovecot.log"),
		PidFile:  filepath.Join(o.Dir, "run", "master.pid"),
	}
	protocols, ssl, imapsPort, extra := "imap", "no", 0, ""
	if o.TLSCert != "" {
		ssl, imapsPort = "yes", ports[1]
		d.IMAPSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(imapsPort))
		extra += fmt.Sprintf("ssl_cert = <%s\nssl_key = <%s\n", o.TLSCert, o.TLSKey)
	}
	if o.LMTP {
		protocols += " lmtp"
		d.LMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
		// lmtp_save_to_detail_mailbox and quota stay off: a plain
		// delivery into INBOX, as cote's lmtp does.
		extra += fmt.Sprintf("service lmtp {\n  inet_listener lmtp {\n    address = 127.0.0.1\n    port = %d\n  }\n}\n", ports[2])
	}
	if o.POP3 {
		protocols += " pop3"
		d.POP3Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3]))
		pop3s := ""
		if o.TLSCert != "" {
			d.POP3SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[4]))
			pop3s = fmt.Sprintf("  inet_listener pop3s {\n    address = 127.0.0.1\n    port = %d\n    ssl = yes\n  }\n", ports[4])
		}
		extra += fmt.Sprintf("service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = %d\n  }\n%s  service_count = 0\n  process_min_avail = %d\n}\n", ports[3], pop3s, runtime.NumCPU())
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.HomeRoot, 0o755); err != nil {
		return nil, err
	}
	var pw bytes.Buffer
	for _, name := range o.Users {
		if strings.ContainsAny(name+o.Password, ":\n") {
			return nil, fmt.Errorf("user %q: no ':' or line break allowed in passwd-file entries", name)
		}
		fmt.Fprintf(&pw, "%s:{PLAIN}%s::::::\n", name, o.Password)
		home := filepath.Join(d.HomeRoot, name)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(home, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "passwd"), pw.Bytes(), 0o644); err != nil {
		return nil, err
	}
	conf := strings.NewReplacer(
		"{{name}}", "bench-"+strconv.Itoa(port),
		"{{dir}}", o.Dir,
		"{{uid}}", strconv.Itoa(uid),
		"{{gid}}", strconv.Itoa(gid),
		"{{port}}", strconv.Itoa(port),
		"{{imapsport}}", strconv.Itoa(imapsPort),
		"{{protocols}}", protocols,
		"{{ssl}}", ssl,
		"{{cores}}", strconv.Itoa(runtime.NumCPU()),
	).Replace(dovecotConf) + extra + o.Extra
	if err := os.WriteFile(d.Conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// The daemonized master inherits the command's stdout and stderr: a
	// pipe there would never reach EOF, so they go to a file.
	outPath := filepath.Join(o.Dir, "dovecot.out")
	out, err := os.Create(outPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, "-c", d.Conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(outPath)
		return nil, fmt.Errorf("dovecot -c %s: %v: %s%s", d.Conf, err, msg, d.Log())
	}
	return d, nil
}

// Stop stops the instance and waits for its master to exit (doveadm stop
// waits for the master).
func (d *Dovecot) Stop() error {
	out, err := exec.Command("doveadm", "-c", d.Conf, "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("doveadm stop: %v: %s", err, out)
	}
	return nil
}

// Pid returns the master's pid (its process tree is the whole instance).
func (d *Dovecot) Pid() (int, error) {
	raw, err := os.ReadFile(d.PidFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// Log returns the instance's log.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(d.LogPath)
	return string(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
