package settings

import (
	"bufio"
	_ "embed"
	"sort"
	"strings"
	"time"
)

// Type is the syntax of a setting's value.
type Type int

const (
	TString   Type = iota
	TBool          // yes | no
	TUint          // decimal integer >= 0 (Min raises the floor)
	TSize          // 256M, 1 G, unlimited
	TTime          // 1 min, 30 secs, 2s
	TEnum          // one of Enum
	TList          // space or comma separated words
	TMode          // octal file mode, 0600
	TUser          // a user or group name (or numeric id)
	TPath          // a file system path
	TAddrList      // listen addresses: "*", "::", IPs, host names
	TNetList       // IPs and CIDR networks
)

func (t Type) String() string {
	return [...]string{"string", "bool", "uint", "size", "time", "enum", "list", "octal mode", "user", "path", "addresses", "networks"}[t]
}

// Flag marks how a setting is treated beyond its type.
type Flag uint8

const (
	// Secret values are hidden by Dump unless DumpMode.Secrets.
	Secret Flag = 1 << iota
	// Compat marks a Dovecot setting cote does not implement: accepted at
	// Dovecot's default, an error (or, with Warn, one warning) otherwise.
	Compat
	// Warn marks a setting accepted with one warning because its value
	// cannot matter to cote (WarnWhy says why).
	Warn
)

// Section kinds.
const (
	KindRoot         = ""
	KindService      = "service"
	KindInetListener = "inet_listener"
	KindUnixListener = "unix_listener"
	KindFifoListener = "fifo_listener"
	KindProtocol     = "protocol"
	KindLocal        = "local"
	KindRemote       = "remote"
	KindLocalName    = "local_name"
	KindPassdb       = "passdb"
	KindUserdb       = "userdb"
	KindNamespace    = "namespace"
	KindMailbox      = "mailbox"
	KindPlugin       = "plugin"
	KindDict         = "dict"
)

// isFilter reports whether kind is a filter section, whose settings are
// root settings that apply only where the filter matches.
func isFilter(kind string) bool {
	switch kind {
	case KindProtocol, KindLocal, KindRemote, KindLocalName:
		return true
	}
	return false
}

// childKinds lists the section kinds allowed inside each kind.
var childKinds = map[string][]string{
	KindRoot:      {KindService, KindProtocol, KindLocal, KindRemote, KindLocalName, KindPassdb, KindUserdb, KindNamespace, KindPlugin, KindDict},
	KindProtocol:  {KindProtocol, KindLocal, KindRemote, KindLocalName, KindPassdb, KindUserdb, KindPlugin},
	KindLocal:     {KindProtocol, KindLocal, KindRemote, KindLocalName, KindPassdb, KindUserdb, KindPlugin},
	KindRemote:    {KindProtocol, KindLocal, KindRemote, KindLocalName, KindPassdb, KindUserdb, KindPlugin},
	KindLocalName: {KindProtocol, KindLocal, KindRemote, KindLocalName, KindPlugin},
	KindService:   {KindInetListener, KindUnixListener, KindFifoListener},
	KindNamespace: {KindMailbox},
}

// Setting is one row of the schema.
type Setting struct {
	Name    string
	Type    Type
	Default string
	Doc     string
	Kinds   []string // section kinds it may appear in; KindRoot includes the filters
	Enum    []string // TEnum values; for TList, the allowed words (nil: any)
	Flags   Flag
	Min     uint64 // TUint: smallest allowed value
	Max     uint64 // TUint: largest allowed value, 0 = none
	// MinHint completes the "must be > 0" message ("remove it to use
	// default_process_limit").
	MinHint string
	WarnWhy string // for Warn: the one-line reason
	// Check validates beyond the type; it returns a problem or "".
	Check func(v string) string
	// WarnIf returns a warning for an accepted value, or "".
	WarnIf func(v string) string
}

func (s *Setting) has(f Flag) bool { return s.Flags&f != 0 }

var (
	root      = []string{KindRoot}
	svc       = []string{KindService}
	inet      = []string{KindInetListener}
	listeners = []string{KindUnixListener, KindFifoListener}
	authdbs   = []string{KindPassdb, KindUserdb}
	passdb    = []string{KindPassdb}
	userdb    = []string{KindUserdb}
	ns        = []string{KindNamespace}
	mbox      = []string{KindMailbox}
)

// dovecotCipherList is Dovecot 2.3's default ssl_cipher_list.
const dovecotCipherList = "ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH"

// schema is the one table of every setting cote implements, plus the section
// keys of Dovecot that it accepts at their default (Compat). Root-level
// Dovecot settings not listed here come from dovecot_defaults.txt.
var schema = []Setting{
	// Root: processes and paths.
	{Name: "protocols", Type: TList, Default: "imap pop3 lmtp", Kinds: root, Enum: []string{"imap", "pop3", "lmtp", "smtp", "submission", "none"},
		Doc: "protocols to serve; smtp is cote's MTA (smtpd and queue)"},
	{Name: "listen", Type: TAddrList, Default: "*, ::", Kinds: root, Doc: "addresses inet listeners bind when they set no address"},
	{Name: "base_dir", Type: TPath, Default: "/run/cote", Kinds: root, Doc: "runtime directory: pid file, control socket, internal sockets, login chroot"},
	{Name: "instance_name", Type: TString, Default: "cote", Kinds: root, Doc: "name of this instance: the syslog tag of its log lines"},
	{Name: "login_greeting", Type: TString, Default: "cote ready.", Kinds: root, Doc: "greeting sent to clients before login"},
	{Name: "shutdown_clients", Type: TBool, Default: "yes", Kinds: root, Doc: "close client connections when the master stops"},
	{Name: "default_process_limit", Type: TUint, Default: "100", Min: 1, Kinds: root, Doc: "process_limit of services that set none"},
	{Name: "default_client_limit", Type: TUint, Default: "1000", Min: 1, Kinds: root, Doc: "client_limit of services that set none"},
	{Name: "default_idle_kill", Type: TTime, Default: "1 min", Kinds: root, Doc: "idle_kill of services that set none"},
	{Name: "default_vsz_limit", Type: TSize, Default: "256M", Kinds: root, Doc: "vsz_limit (RLIMIT_DATA and GOMEMLIMIT) of services that set none"},
	{Name: "default_login_user", Type: TUser, Default: "cotenull", Kinds: root, Doc: "unprivileged user of login processes"},
	{Name: "default_internal_user", Type: TUser, Default: "cote", Kinds: root, Doc: "user of internal services (auth, anvil)"},
	// Virtual users share one uid (ARCHITECTURE.md, "Mail users"): the
	// imap service runs as mail_uid, so one process serves many users.
	// Dovecot's default is empty (each user's uid from the userdb, the
	// post-login process switching to it); cote does not do that yet, so
	// its default is the vmail user scripts/mkusers.sh creates, and a
	// userdb uid or gid that differs from the process's refuses the login.
	{Name: "mail_uid", Type: TUser, Default: "vmail", Kinds: root, Doc: "user the mail processes (imap) run as; a userdb uid must equal it"},
	{Name: "mail_gid", Type: TUser, Default: "", Kinds: root, Doc: "group of the mail processes, empty for mail_uid's primary group; a userdb gid must equal it"},

	// Root: logging.
	{Name: "log_path", Type: TPath, Default: "syslog", Kinds: root, Doc: `log destination: "syslog", "/dev/stderr" or a file`},
	{Name: "info_log_path", Type: TPath, Default: "", Kinds: root, Doc: "informational log destination, empty for log_path"},
	{Name: "debug_log_path", Type: TPath, Default: "", Kinds: root, Doc: "debug log destination, empty for info_log_path"},
	{Name: "syslog_facility", Type: TEnum, Default: "mail", Kinds: root, Doc: "syslog facility when logging to syslog",
		Enum: []string{"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}},
	{Name: "log_timestamp", Type: TString, Default: "%Y-%m-%dT%H:%M:%S.%L%:z ", Kinds: root, Doc: "strftime prefix of lines written to log files (%L: milliseconds, %:z: +hh:mm)"},

	// Root: TLS.
	{Name: "ssl", Type: TEnum, Default: "yes", Enum: []string{"yes", "no", "required"}, Kinds: root, Doc: "TLS: no, yes, or required before plaintext authentication"},
	{Name: "ssl_cert", Type: TString, Default: "", Kinds: root, Doc: "PEM certificate chain, usually <file"},
	{Name: "ssl_key", Type: TString, Default: "", Kinds: root, Flags: Secret, Doc: "PEM private key, usually <file"},
	{Name: "ssl_key_password", Type: TString, Default: "", Kinds: root, Flags: Secret, Doc: "password of an encrypted ssl_key"},
	{Name: "ssl_min_protocol", Type: TEnum, Default: "TLSv1.2", Enum: []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "ANY"}, Kinds: root, Doc: "oldest TLS version accepted"},
	{Name: "ssl_cipher_list", Type: TString, Default: dovecotCipherList, Kinds: root, Doc: "TLS 1.2 and older cipher suites, OpenSSL syntax"},
	{Name: "ssl_prefer_server_ciphers", Type: TBool, Default: "no", Kinds: root, Doc: "has no effect: Go's crypto/tls orders suites itself",
		WarnIf: func(v string) string {
			if b, _ := ParseBool(v); b {
				return "has no effect: Go's crypto/tls chooses the cipher suite order itself"
			}
			return ""
		}},
	{Name: "ssl_dh", Type: TString, Default: "", Kinds: root, Flags: Compat | Warn, WarnWhy: "not used: Go negotiates no DHE cipher suites", Doc: "DH parameters; unused by cote"},

	// Root: authentication and login.
	{Name: "login_trusted_networks", Type: TNetList, Default: "", Kinds: root, Doc: "networks whose proxies may forward client addresses and log in over plaintext"},
	{Name: "auth_mechanisms", Type: TList, Default: "plain", Kinds: root, Doc: "SASL mechanisms offered",
		Enum: []string{"plain", "login", "cram-md5", "digest-md5", "scram-sha-1", "scram-sha-256", "external", "anonymous", "apop", "ntlm", "gssapi", "gss-spnego", "otp", "xoauth2", "oauthbearer", "winbind", "rpa", "skey"}},
	{Name: "auth_failure_delay", Type: TTime, Default: "2 secs", Kinds: root, Doc: "delay before every failed authentication reply"},
	{Name: "auth_username_format", Type: TString, Default: "%Lu", Kinds: root, Doc: "user name as the databases see it (%-variables of the name the client sent)"},
	{Name: "auth_default_realm", Type: TString, Default: "", Kinds: root, Doc: "domain added to user names without @"},
	{Name: "auth_username_chars", Type: TString, Default: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@", Kinds: root, Doc: "characters allowed in user names, empty for any"},
	{Name: "auth_worker_max_count", Type: TUint, Default: "30", Min: 1, Kinds: root, Doc: "most shadow/PAM requests the auth-worker runs at once"},
	{Name: "disable_plaintext_auth", Type: TBool, Default: "yes", Kinds: root, Doc: "refuse plaintext authentication without TLS (except from trusted networks and loopback)"},

	// Root: mail.
	{Name: "mail_location", Type: TString, Default: "", Kinds: root, Check: checkMailLocation, Doc: "mail store: maildir:~/Maildir"},
	{Name: "mail_plugins", Type: TList, Default: "", Kinds: root, Enum: []string{"quota", "imap_quota", "imap_zlib"},
		Doc: "mail plugins: quota (plugin { quota = maildir:User quota; quota_rule = *:storage=1G }, read by pkg/mailuser); imap_quota (with quota: IMAP QUOTA, RFC 9208) and imap_zlib (COMPRESS=DEFLATE, RFC 4978), read by cmd/imap"},
	{Name: "mail_max_userip_connections", Type: TUint, Default: "10", Kinds: root,
		Doc: "most post-login sessions of one user from one IP per protocol (counted by anvil); 0 = no limit"},

	// Root: local delivery (pkg/delivery: cmd/lmtp and cmd/deliver).
	{Name: "recipient_delimiter", Type: TString, Default: "+", Kinds: root, Doc: "characters separating a recipient's user from its detail (user+detail@domain); empty for none"},
	{Name: "lmtp_add_received_header", Type: TBool, Default: "yes", Kinds: root, Doc: "lmtp adds a Received header to each delivered message"},
	{Name: "lmtp_save_to_detail_mailbox", Type: TBool, Default: "no", Kinds: root, Doc: "lmtp delivers user+detail to the mailbox named detail when it exists (or lda_mailbox_autocreate), else INBOX"},
	{Name: "lmtp_rcpt_check_quota", Type: TBool, Default: "no", Kinds: root, Doc: "lmtp refuses a recipient already over quota at RCPT instead of after DATA"},
	{Name: "lda_mailbox_autocreate", Type: TBool, Default: "no", Kinds: root, Doc: "create a missing target mailbox (deliver -m, detail mailbox) instead of delivering to INBOX"},
	{Name: "lda_mailbox_autosubscribe", Type: TBool, Default: "no", Kinds: root, Doc: "subscribe to a mailbox lda_mailbox_autocreate created"},
	{Name: "quota_full_tempfail", Type: TBool, Default: "no", Kinds: root, Doc: "over quota is a temporary failure (452 4.2.2, deliver exit 75) instead of a rejection (552 5.2.2)"},

	// Root: the MTA's receiving side (pkg/smtpd, cmd/smtpd), with Postfix's
	// names and defaults unless noted. Lists may use $myhostname and
	// $mydomain, expanded by pkg/smtpd.
	{Name: "myhostname", Type: TString, Default: "", Kinds: root, Doc: "this host's fully qualified name in SMTP (banner, HELO, Received:); empty for the system's host name"},
	{Name: "mydomain", Type: TString, Default: "", Kinds: root, Doc: "this host's domain; empty for myhostname without its first label"},
	{Name: "mydestination", Type: TList, Default: "$myhostname, localhost.$mydomain, localhost", Kinds: root, Doc: "domains whose recipients are alias_maps entries or userdb users, looked up as user@domain as lmtp does (Postfix's local class)"},
	{Name: "virtual_mailbox_domains", Type: TList, Default: "", Kinds: root, Doc: "domains whose userdb users get mail (Postfix's virtual class)"},
	{Name: "relay_domains", Type: TList, Default: "", Kinds: root, Doc: "domains smtpd accepts mail for from anyone and relays (\".example.com\" covers subdomains)"},
	{Name: "mynetworks", Type: TNetList, Default: "127.0.0.0/8, ::1/128", Kinds: root, Doc: "trusted clients: they may relay, skip the pre-greeting check, the connection limits and the bare-LF check"},
	{Name: "alias_maps", Type: TList, Default: "", Kinds: root, Doc: "/etc/aliases-format text files for local-class domains (hash:/texthash: prefixes read the source file); Postfix's default is hash:/etc/aliases"},
	{Name: "virtual_alias_maps", Type: TList, Default: "", Kinds: root, Doc: "Postfix virtual(5) text files: user@domain, @domain and bare domain (virtual alias domain) patterns"},
	{Name: "smtpd_client_connection_count_limit", Type: TUint, Default: "50", Kinds: root, Doc: "concurrent SMTP connections per client IP, counted by anvil (mynetworks exempt); 0 = no limit"},
	{Name: "smtpd_client_connection_rate_limit", Type: TUint, Default: "0", Kinds: root, Doc: "SMTP connections per client IP per anvil_rate_time_unit, counted by anvil (mynetworks exempt); 0 = no limit"},
	{Name: "anvil_rate_time_unit", Type: TTime, Default: "60s", Kinds: root, Doc: "the window of smtpd_client_connection_rate_limit"},
	{Name: "smtpd_helo_required", Type: TBool, Default: "yes", Kinds: root, Doc: "MAIL needs HELO/EHLO first; cote always requires it, so no is refused as a configuration error"},
	{Name: "message_size_limit", Type: TSize, Default: "10240000", Kinds: root, Doc: "largest message smtpd accepts, Received: header included (SIZE); 0 = no limit"},
	{Name: "smtpd_recipient_limit", Type: TUint, Default: "1000", Kinds: root, Doc: "most recipients per message; 0 = no limit"},
	{Name: "smtpd_hard_error_limit", Type: TUint, Default: "3", Kinds: root, Doc: "refused commands (any 4xx/5xx reply) after which the client gets 421 and is disconnected (Postfix's default is 20); 0 = no limit"},
	{Name: "smtpd_forbid_bare_newline", Type: TEnum, Default: "yes", Enum: []string{"no", "normalize", "yes"}, Kinds: root, Doc: "message lines ending in a bare LF: yes refuses the message (521 5.5.2) and disconnects, normalize stores CRLF, no stores them as sent; mynetworks exempt (Postfix 3.9's default is normalize)"},
	{Name: "postscreen_greet_wait", Type: TTime, Default: "6s", Kinds: root, Doc: "port 25 clients outside mynetworks must stay silent this long after the first banner line or get 554 5.5.1; 0 disables"},
	{Name: "smtpd_sender_must_match_login", Type: TBool, Default: "yes", Kinds: root, Doc: "on submission, MAIL FROM must be the authenticated user's address (login, or login@ a local or virtual domain); the null sender is allowed"},

	// Root: the mail queue (pkg/queue, cmd/queue), with Postfix's names and
	// defaults unless noted.
	{Name: "mail_owner", Type: TUser, Default: "cote-smtp", Kinds: root, Doc: "user smtpd and the queue run as; owner of queue_directory"},
	{Name: "queue_directory", Type: TPath, Default: "/var/spool/cote", Kinds: root, Doc: "the mail spool (incoming, active, deferred, hold, corrupt), created 0700 owned by mail_owner by the master"},
	{Name: "relayhost", Type: TString, Default: "", Kinds: root, Doc: "send all remote mail through this host: host[:port] (its MX) or [host][:port] (no MX lookup); empty for the MX of each domain"},
	{Name: "minimal_backoff_time", Type: TTime, Default: "300s", Kinds: root, Doc: "first retry delay of a deferred message; each later one doubles, up to maximal_backoff_time"},
	{Name: "maximal_backoff_time", Type: TTime, Default: "4000s", Kinds: root, Doc: "longest retry delay of a deferred message"},
	{Name: "maximal_queue_lifetime", Type: TTime, Default: "5d", Kinds: root, Doc: "a message still undelivered this long after arrival is bounced (Status 4.4.7)"},
	{Name: "bounce_queue_lifetime", Type: TTime, Default: "5d", Kinds: root, Doc: "maximal_queue_lifetime of null-sender mail (bounces), which is dropped, not bounced"},
	{Name: "delay_warning_time", Type: TTime, Default: "0h", Kinds: root, Doc: "send the sender one delay report (Action: delayed) after this long; 0 for none"},
	{Name: "default_destination_concurrency_limit", Type: TUint, Default: "20", Min: 1, Kinds: root, Doc: "parallel deliveries to one destination (a remote domain, the relayhost, or local LMTP)"},
	{Name: "smtp_tls_security_level", Type: TEnum, Default: "may", Enum: []string{"none", "may", "encrypt"}, Kinds: root,
		Doc: "outgoing STARTTLS: none, may (when offered), encrypt (required, else deferred); certificates are not verified. Postfix's built-in default is empty (none); Debian's main.cf sets may"},
	{Name: "queue_dns_resolver", Type: TString, Default: "", Kinds: root, Doc: "cote: DNS server (ip:port) the queue asks for MX and A/AAAA records; empty for the system's resolver"},
	{Name: "queue_smtp_port", Type: TUint, Default: "25", Min: 1, Kinds: root, Doc: "cote: TCP port of remote SMTP servers (tests point it at a fake)"},

	// Root: IMAP sessions (cmd/imap).
	{Name: "imap_max_line_length", Type: TSize, Default: "64k", Kinds: root, Check: func(v string) string {
		if n, _ := ParseSize(v); n < 1024 || n > 1<<30 {
			return "must be between 1k and 1G: every command line is held in memory"
		}
		return ""
	}, Doc: "longest IMAP command line (between literals) after login; longer closes the connection"},
	{Name: "imap_idle_notify_interval", Type: TTime, Default: "2 mins", Kinds: root, Check: func(v string) string {
		if d, _ := ParseDuration(v); d < time.Second {
			return "must be at least 1 sec"
		}
		return ""
	}, Doc: "interval of the \"* OK Still here\" keepalive during IDLE"},
	{Name: "imap_literal_minus", Type: TBool, Default: "no", Kinds: root,
		Doc: "advertise LITERAL- instead of LITERAL+: non-synchronizing literals over 4096 bytes close the connection (RFC 7888)"},
	{Name: "imap_capability", Type: TString, Default: "", Kinds: root, Check: checkImapCapability,
		Doc: "override the IMAP CAPABILITY response (before and after login): +NAME... adds to cote's list, anything else replaces it; what commands do is unchanged"},
	{Name: "imap_metadata", Type: TBool, Default: "no", Kinds: root,
		Doc: "offer METADATA (RFC 5464): server and mailbox entries, kept by the mail store in files beside the mailboxes (Dovecot's mail_attribute_dict is not needed)"},

	// Root: POP3 sessions (cmd/pop3, pkg/pop3d checks them fully at start).
	{Name: "pop3_uidl_format", Type: TString, Default: "%08Xu%08Xv", Kinds: root, Check: func(v string) string {
		if !strings.ContainsAny(v, "ufg") {
			return "must contain %u (the message UID), %f or %g so each message has its own UIDL"
		}
		return ""
	}, Doc: "POP3 UIDL: %u UID, %v UIDVALIDITY, %f Maildir file name, %g GUID, with Dovecot's modifiers (%08Xu = 8 hex digits); a UIDL stored in dovecot-uidlist wins"},
	{Name: "pop3_reuse_xuidl", Type: TBool, Default: "no", Kinds: root, Doc: "use a message's X-UIDL header as its UIDL when it has one"},
	{Name: "pop3_save_uidl", Type: TBool, Default: "no", Kinds: root, Doc: "store each UIDL sent in dovecot-uidlist (as Dovecot does), so a later pop3_uidl_format change keeps it"},
	{Name: "pop3_lock_session", Type: TBool, Default: "no", Kinds: root, Doc: "one POP3 session per mailbox at a time; a second gets -ERR [IN-USE]"},
	{Name: "pop3_no_flag_updates", Type: TBool, Default: "no", Kinds: root, Doc: "do not set \\Seen on messages retrieved over POP3"},
	{Name: "pop3_delete_type", Type: TEnum, Default: "default", Kinds: root, Enum: []string{"default", "expunge", "flag"},
		Doc: "what DELE+QUIT does: expunge, or flag (add pop3_deleted_flag); default: flag when pop3_deleted_flag is set"},
	{Name: "pop3_deleted_flag", Type: TString, Default: "", Kinds: root, Doc: "keyword marking messages deleted over POP3 (quote it: \"$POP3Deleted\"); they are hidden from POP3"},

	// service { }
	{Name: "executable", Type: TList, Kinds: svc, Check: checkExecutable, Doc: "binary (name in the libexec dir or absolute path) and arguments"},
	{Name: "user", Type: TUser, Kinds: append(svc, listeners...), Doc: "user the service runs as / owner of the socket"},
	{Name: "group", Type: TUser, Kinds: append(svc, listeners...), Doc: "primary group / group of the socket"},
	{Name: "extra_groups", Type: TList, Kinds: svc, Doc: "supplementary groups of the service"},
	{Name: "chroot", Type: TPath, Kinds: svc, Doc: "chroot directory, relative to base_dir unless absolute"},
	{Name: "protocol", Type: TString, Kinds: svc, Doc: "protocol that enables the service"},
	{Name: "type", Type: TEnum, Kinds: svc, Enum: []string{"", "config", "log", "anvil", "login", "startup", "worker"}, Doc: "service type"},
	{Name: "process_limit", Type: TUint, Min: 1, MinHint: "remove it to use default_process_limit", Kinds: svc, Doc: "most processes of the service"},
	{Name: "client_limit", Type: TUint, Min: 1, MinHint: "remove it to use default_client_limit", Kinds: svc, Doc: "most clients per process"},
	{Name: "process_min_avail", Type: TUint, Kinds: svc, Doc: "processes kept ready (default: number of CPUs for login services)"},
	{Name: "service_count", Type: TUint, Kinds: svc, Doc: "clients a process serves before it exits, 0 = unlimited"},
	{Name: "idle_kill", Type: TTime, Kinds: svc, Doc: "stop a process idle this long above process_min_avail, 0 = never"},
	{Name: "vsz_limit", Type: TSize, Kinds: svc, Doc: "memory limit (RLIMIT_DATA and GOMEMLIMIT), unlimited = none"},
	{Name: "drop_priv_before_exec", Type: TBool, Default: "no", Kinds: svc, Flags: Compat, Doc: "Dovecot only"},
	{Name: "privileged_group", Type: TString, Default: "", Kinds: svc, Flags: Compat, Doc: "Dovecot only"},

	// inet_listener { }
	{Name: "address", Type: TAddrList, Kinds: inet, Doc: "addresses to bind, default: listen"},
	{Name: "port", Type: TUint, Max: 65535, Kinds: inet, Doc: "TCP port, 0 disables the listener"},
	{Name: "ssl", Type: TBool, Default: "no", Kinds: inet, Doc: "implicit TLS on this listener"},
	{Name: "haproxy", Type: TBool, Default: "no", Kinds: inet, Check: func(v string) string {
		if b, _ := ParseBool(v); b {
			return "the PROXY protocol is not supported yet"
		}
		return ""
	}, Doc: "expect a PROXY protocol header (not supported yet)"},
	{Name: "reuse_port", Type: TBool, Default: "no", Kinds: inet, Doc: "bind with SO_REUSEPORT"},

	// unix_listener / fifo_listener { }
	{Name: "mode", Type: TMode, Default: "0600", Kinds: listeners, Doc: "socket file mode"},

	// passdb / userdb { }
	{Name: "driver", Type: TString, Kinds: authdbs, Doc: "lookup driver"},
	{Name: "args", Type: TString, Kinds: authdbs, Doc: "driver arguments"},
	{Name: "name", Type: TString, Kinds: authdbs, Doc: "name of the database"},
	{Name: "default_fields", Type: TString, Kinds: authdbs, Doc: "fields added unless the lookup returns them"},
	{Name: "override_fields", Type: TString, Kinds: authdbs, Doc: "fields that replace the lookup's"},
	{Name: "auth_verbose", Type: TEnum, Default: "default", Enum: []string{"default", "yes", "no"}, Kinds: authdbs, Doc: "per-database auth_verbose"},
	{Name: "skip", Type: TEnum, Default: "never", Enum: []string{"never", "authenticated", "unauthenticated", "found", "notfound"}, Kinds: authdbs, Doc: "when to skip this database"},
	{Name: "result_success", Type: TEnum, Default: "return-ok", Enum: resultValues, Kinds: authdbs, Doc: "what to do after a success"},
	{Name: "result_failure", Type: TEnum, Default: "continue", Enum: resultValues, Kinds: authdbs, Doc: "what to do after a failure"},
	{Name: "result_internalfail", Type: TEnum, Default: "continue", Enum: resultValues, Kinds: authdbs, Doc: "what to do after an internal failure"},
	{Name: "deny", Type: TBool, Default: "no", Kinds: passdb, Doc: "users found here are denied"},
	{Name: "master", Type: TBool, Default: "no", Kinds: passdb, Doc: "master users database"},
	{Name: "pass", Type: TBool, Default: "no", Kinds: passdb, Doc: "master user: check the user exists in the next passdb"},
	{Name: "mechanisms", Type: TList, Default: "", Kinds: passdb, Doc: "mechanisms this passdb serves"},
	{Name: "username_filter", Type: TString, Default: "", Kinds: passdb, Doc: "user names this passdb serves"},

	// namespace { }
	{Name: "type", Type: TEnum, Default: "private", Enum: []string{"private", "shared", "public"}, Kinds: ns, Check: func(v string) string {
		if v != "private" {
			return "only private namespaces are supported"
		}
		return ""
	}, Doc: "namespace type"},
	{Name: "separator", Type: TString, Default: "", Kinds: ns, Check: func(v string) string {
		if len(v) > 1 {
			return "must be a single character"
		}
		return ""
	}, Doc: "hierarchy separator"},
	{Name: "prefix", Type: TString, Default: "", Kinds: ns, Doc: "mailbox name prefix"},
	{Name: "location", Type: TString, Default: "", Kinds: ns, Check: checkMailLocation, Doc: "mail store of the namespace, default mail_location"},
	{Name: "inbox", Type: TBool, Default: "no", Kinds: ns, Doc: "this namespace holds INBOX"},
	{Name: "hidden", Type: TBool, Default: "no", Kinds: ns, Doc: "hide from NAMESPACE"},
	{Name: "list", Type: TEnum, Default: "yes", Enum: []string{"yes", "no", "children"}, Kinds: ns, Doc: "show in LIST"},
	{Name: "subscriptions", Type: TBool, Default: "yes", Kinds: ns, Doc: "keep subscriptions here"},
	{Name: "disabled", Type: TBool, Default: "no", Kinds: ns, Flags: Compat, Doc: "Dovecot only"},
	{Name: "ignore_on_failure", Type: TBool, Default: "no", Kinds: ns, Flags: Compat, Doc: "Dovecot only"},
	{Name: "order", Type: TUint, Default: "0", Kinds: ns, Flags: Compat, Doc: "Dovecot only"},
	{Name: "alias_for", Type: TString, Default: "", Kinds: ns, Flags: Compat, Doc: "Dovecot only"},

	// mailbox { }
	{Name: "special_use", Type: TList, Default: "", Kinds: mbox, Doc: "RFC 6154 special-use flags",
		Enum: []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Important`, `\Junk`, `\Sent`, `\Trash`}},
	{Name: "auto", Type: TEnum, Default: "no", Enum: []string{"no", "create", "subscribe"}, Kinds: mbox, Doc: "create (and subscribe) the mailbox automatically"},
	{Name: "autoexpunge", Type: TTime, Default: "0", Kinds: mbox, Flags: Compat, Doc: "Dovecot only"},
	{Name: "autoexpunge_max_mails", Type: TUint, Default: "0", Kinds: mbox, Flags: Compat, Doc: "Dovecot only"},
	{Name: "comment", Type: TString, Default: "", Kinds: mbox, Flags: Compat, Doc: "Dovecot only"},
	{Name: "driver", Type: TString, Default: "", Kinds: mbox, Flags: Compat, Doc: "Dovecot only"},
}

var resultValues = []string{"return-ok", "return", "return-fail", "continue", "continue-ok", "continue-fail"}

// passdbDrivers and userdbDrivers are Dovecot 2.3's drivers.
var (
	passdbDrivers = []string{"pam", "passwd", "passwd-file", "shadow", "bsdauth", "checkpassword", "ldap", "sql", "static", "dict", "imap", "oauth2", "lua"}
	userdbDrivers = []string{"passwd", "passwd-file", "static", "prefetch", "checkpassword", "ldap", "sql", "dict", "lua", "nss"}
)

// dovecotWarn lists Dovecot settings whose value cannot matter to cote:
// a non-default value is accepted with one warning that says why.
var dovecotWarn = map[string]string{
	"mail_privileged_group":     "not used: it only serves mbox dotlocks, and cote does not read mbox",
	"ssl_client_ca_dir":         "not used: cote verifies no client certificates and makes no outgoing TLS connections yet",
	"ssl_client_ca_file":        "not used: cote verifies no client certificates and makes no outgoing TLS connections yet",
	"verbose_ssl":               "not used: TLS errors are always logged",
	"mmap_disable":              "not used: cote does not mmap index files",
	"dotlock_use_excl":          "not used: cote takes no dotlocks",
	"config_cache_size":         "not used: cote has no config process",
	"version_ignore":            "not used: cote processes are always of one build",
	"login_log_format_elements": "not used: cote logs structured fields",
	"login_log_format":          "not used: cote logs structured fields",
	"mail_log_prefix":           "not used: cote logs structured fields",
	"log_core_filter":           "not used: cote writes no core dumps",
}

// schemaIndex maps "kind\x00name" to its row; root rows are also filed
// under every filter kind.
var schemaIndex = func() map[string]*Setting {
	m := make(map[string]*Setting)
	for i := range schema {
		s := &schema[i]
		for _, k := range s.Kinds {
			m[k+"\x00"+s.Name] = s
		}
	}
	for name, def := range dovecotDefaults {
		if _, ok := m["\x00"+name]; ok {
			continue
		}
		s := &Setting{Name: name, Type: TString, Default: def, Kinds: root, Flags: Compat, Doc: "Dovecot setting cote does not implement"}
		if why, ok := dovecotWarn[name]; ok {
			s.Flags |= Warn
			s.WarnWhy = why
		}
		if strings.HasPrefix(name, "mbox_") {
			s.Flags |= Warn
			s.WarnWhy = "not used: cote does not read mbox"
		}
		if strings.HasSuffix(name, "_password") {
			s.Flags |= Secret
		}
		m["\x00"+name] = s
	}
	return m
}()

// lookup returns the schema row for name in a section of kind.
func lookup(kind, name string) *Setting {
	if isFilter(kind) {
		kind = KindRoot
	}
	return schemaIndex[kind+"\x00"+name]
}

// namesOf returns every setting name allowed in kind, sorted.
func namesOf(kind string) []string {
	if isFilter(kind) {
		kind = KindRoot
	}
	var out []string
	prefix := kind + "\x00"
	for k := range schemaIndex {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k[len(prefix):])
		}
	}
	sort.Strings(out)
	return out
}

// Default returns the schema default of name in a section of kind ("" kind
// is the root). Settings without a fixed default (per-service values that
// fall back on default_*) return "".
func Default(kind, name string) string {
	if s := lookup(kind, name); s != nil {
		return s.Default
	}
	return ""
}

//go:embed dovecot_defaults.txt
var dovecotDefaultsText string

// dovecotDefaults maps Dovecot 2.3's root settings to their defaults.
// dovecot_defaults.txt is produced by gen_dovecot_defaults.sh from
// `doveconf -a` on an empty configuration.
//
//go:generate ./gen_dovecot_defaults.sh
var dovecotDefaults = func() map[string]string {
	m := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(dovecotDefaultsText))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			k, v = strings.TrimSuffix(line, " ="), ""
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		m[k] = v
	}
	return m
}()
