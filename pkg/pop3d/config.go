package pop3d

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// DefaultTimeout is the autologout timer: RFC 1939 §3 requires at least
// 10 minutes of inactivity before a server may close the connection, and
// Dovecot uses exactly that.
const DefaultTimeout = 10 * time.Minute

// DefaultUIDLFormat is Dovecot's pop3_uidl_format default: the UID and
// UIDVALIDITY as 8 hex digits each.
const DefaultUIDLFormat = "%08Xu%08Xv"

// maxBadCommands is how many failed commands a session may send before it
// is closed: Dovecot's CLIENT_MAX_BAD_COMMANDS after login (20).
const maxBadCommands = 20

// DeleteType is what QUIT does to messages marked with DELE
// (pop3_delete_type).
type DeleteType int

const (
	// DeleteExpunge removes them from the mailbox.
	DeleteExpunge DeleteType = iota
	// DeleteFlag only adds the keyword Config.DeletedFlag; messages with
	// that keyword are hidden from later POP3 sessions but stay visible
	// over IMAP.
	DeleteFlag
)

// Config is what a session needs; cmd/pop3 builds it from the settings
// with NewConfig.
type Config struct {
	// UIDLFormat is pop3_uidl_format; "" means DefaultUIDLFormat.
	UIDLFormat string
	// ReuseXUIDL takes a message's UIDL from its X-UIDL header when it
	// has one (pop3_reuse_xuidl).
	ReuseXUIDL bool
	// SaveUIDL stores each UIDL sent to the client in the mailbox where
	// none is stored (pop3_save_uidl; dovecot-uidlist P), so later
	// changes of pop3_uidl_format leave it as it was.
	SaveUIDL bool
	// NoFlagUpdates keeps RETR and TOP from setting \Seen
	// (pop3_no_flag_updates); otherwise a message retrieved in full gets
	// \Seen at QUIT, as in Dovecot.
	NoFlagUpdates bool
	// DeleteType and DeletedFlag: pop3_delete_type, pop3_deleted_flag.
	// DeletedFlag, when set, also hides the messages that carry it.
	DeleteType  DeleteType
	DeletedFlag string
	// SessionLock, when set, is called after the greeting's checks and
	// before the mailbox is read; the session holds what it returns for
	// its whole length (pop3_lock_session). ErrLocked refuses the session
	// with [IN-USE].
	SessionLock func() (release func(), err error)
	// Timeout is the autologout timer; 0 means DefaultTimeout.
	Timeout time.Duration

	uidl uidlTemplate
}

// ErrLocked is what a SessionLock returns when another session holds the
// mailbox.
var ErrLocked = errors.New("another POP3 session has the mailbox locked")

// Settings are the raw settings NewConfig reads, by Dovecot's names.
type Settings struct {
	UIDLFormat    string // pop3_uidl_format
	ReuseXUIDL    bool   // pop3_reuse_xuidl
	SaveUIDL      bool   // pop3_save_uidl
	NoFlagUpdates bool   // pop3_no_flag_updates
	DeleteType    string // pop3_delete_type: default, expunge, flag
	DeletedFlag   string // pop3_deleted_flag
}

// NewConfig checks s and returns the session configuration. Errors name
// the setting.
func NewConfig(s Settings) (Config, error) {
	cfg := Config{UIDLFormat: s.UIDLFormat, ReuseXUIDL: s.ReuseXUIDL, SaveUIDL: s.SaveUIDL, NoFlagUpdates: s.NoFlagUpdates, DeletedFlag: s.DeletedFlag}
	if cfg.DeletedFlag != "" && !storage.ValidKeyword(cfg.DeletedFlag) {
		return Config{}, fmt.Errorf("pop3_deleted_flag = %q: must be an IMAP keyword such as $POP3Deleted", s.DeletedFlag)
	}
	switch s.DeleteType {
	case "", "default":
		// Dovecot: flag when a flag is configured, else expunge.
		if cfg.DeletedFlag != "" {
			cfg.DeleteType = DeleteFlag
		}
	case "expunge":
		cfg.DeleteType = DeleteExpunge
	case "flag":
		if cfg.DeletedFlag == "" {
			return Config{}, errors.New("pop3_delete_type = flag needs pop3_deleted_flag (a keyword such as $POP3Deleted)")
		}
		cfg.DeleteType = DeleteFlag
	default:
		return Config{}, fmt.Errorf("pop3_delete_type = %q: must be default, expunge or flag", s.DeleteType)
	}
	if err := cfg.compile(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// compile parses UIDLFormat once; NewSession calls it for a Config built
// by hand.
func (c *Config) compile() error {
	if c.uidl.tmpl != "" {
		return nil
	}
	f := c.UIDLFormat
	if f == "" {
		f = DefaultUIDLFormat
	}
	t, err := parseUIDLFormat(f)
	if err != nil {
		return err
	}
	c.uidl = t
	return nil
}

// uidlTemplate is pop3_uidl_format rewritten into settings.Expand's long
// variable names.
type uidlTemplate struct {
	tmpl  string
	files bool // uses %f or %g: needs storage.POP3Info
}

// uidlVars are Dovecot 2.3's pop3_uidl_format variables (pop3-client.c)
// that a Maildir has: %v UIDVALIDITY, %u UID, %f the file name up to
// ":2," (MAIL_FETCH_STORAGE_ID) and %g the message GUID (extension G of
// dovecot-uidlist, else that file name); storage.POP3Info carries %f and
// %g.
var uidlVars = map[byte]string{'v': "uidvalidity", 'u': "uid", 'f': "filename", 'g': "guid"}

// uidlPerMessage are the variables that tell messages apart: a format
// needs one, or every message would get the same UIDL.
var uidlPerMessage = []string{"{uid}", "{filename}", "{guid}"}

// uidlUnsupported are variables Dovecot knows that no Maildir has: %m is
// the header MD5 that only Dovecot's mbox stores (on a Maildir Dovecot's
// UIDL command fails with "Header MD5 not found"), so it is refused when
// the settings are read instead.
var uidlUnsupported = map[byte]string{
	'm': "the header MD5, which only Dovecot's mbox format stores; Dovecot's pop3 fails on it with a Maildir too",
}

// parseUIDLFormat translates Dovecot's one-letter variables into
// %{long} names, keeping width and modifiers, and checks the result
// expands.
func parseUIDLFormat(f string) (uidlTemplate, error) {
	var b strings.Builder
	s := f
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
		j := 0
		for j < len(s) && (s[j] == '-' || s[j] == '.' || (s[j] >= '0' && s[j] <= '9')) {
			j++
		}
		for j < len(s) && strings.IndexByte("LUEXRHNMDT", s[j]) >= 0 {
			j++
		}
		if j >= len(s) {
			return uidlTemplate{}, fmt.Errorf("pop3_uidl_format = %q ends inside a %%-variable", f)
		}
		b.WriteString(s[:j])
		c := s[j]
		s = s[j+1:]
		switch {
		case c == '%':
			b.WriteByte('%')
		case c == '{':
			return uidlTemplate{}, fmt.Errorf("pop3_uidl_format = %q: use the one-letter variables %%v %%u %%f %%g", f)
		case uidlVars[c] != "":
			b.WriteString("{" + uidlVars[c] + "}")
		case uidlUnsupported[c] != "":
			return uidlTemplate{}, fmt.Errorf("pop3_uidl_format = %q: %%%c (%s) is not supported; use %%v, %%u, %%f or %%g", f, c, uidlUnsupported[c])
		default:
			return uidlTemplate{}, fmt.Errorf("pop3_uidl_format = %q: unknown variable %%%c (use %%v, %%u, %%f or %%g)", f, c)
		}
	}
	t := uidlTemplate{tmpl: b.String()}
	t.files = strings.Contains(t.tmpl, "{filename}") || strings.Contains(t.tmpl, "{guid}")
	perMessage := false
	for _, v := range uidlPerMessage {
		perMessage = perMessage || strings.Contains(t.tmpl, v)
	}
	if !perMessage {
		// Without a per-message value every message would get the
		// same UIDL.
		return uidlTemplate{}, fmt.Errorf("pop3_uidl_format = %q must contain %%u, %%f or %%g so each message has its own UIDL", f)
	}
	if _, err := t.expand(1, 1, storage.POP3Info{GUID: "g", FileName: "f"}); err != nil {
		return uidlTemplate{}, fmt.Errorf("pop3_uidl_format = %q: %v", f, err)
	}
	return t, nil
}

func (t uidlTemplate) expand(uidValidity, uid uint32, in storage.POP3Info) (string, error) {
	return settings.Expand(t.tmpl, settings.Vars{
		"uidvalidity": strconv.FormatUint(uint64(uidValidity), 10),
		"uid":         strconv.FormatUint(uint64(uid), 10),
		"filename":    in.FileName,
		"guid":        in.GUID,
	})
}
