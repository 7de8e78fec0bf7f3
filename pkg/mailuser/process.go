package mailuser

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// Process is the identity of a mail process (imap, lmtp) that opens users'
// mail: virtual users share one uid (ARCHITECTURE.md, "Mail users"), so a
// userdb uid or gid must equal the process's when Check is set (privilege
// separation on).
type Process struct {
	UID, GID int
	Check    bool
}

// Session gives the `%` variables of mail_location that describe the
// connection: %s (service), the session id, %l and %r.
type Session struct {
	Service, ID   string
	Local, Remote netip.Addr
}

// ForProcess checks a user's userdb uid and gid against p (names are
// resolved, as Dovecot allows `uid=vmail`), builds the store configuration
// with Config and expands mail_location's variables. The returned error
// names the mismatch for the log; clients get a generic failure.
func ForProcess(root *settings.Section, p Process, name string, fields map[string]string, sess Session) (storage.UserConfig, error) {
	for _, k := range []struct {
		key  string
		want int
	}{{"uid", p.UID}, {"gid", p.GID}} {
		v, ok := fields[k.key]
		if !ok {
			continue
		}
		id, err := resolveID(k.key, v)
		if err != nil {
			return storage.UserConfig{}, err
		}
		if p.Check && id != k.want {
			return storage.UserConfig{}, fmt.Errorf("userdb %s=%s (%d), but %s runs as %d: users with their own uid are not supported; set mail_uid/mail_gid to the virtual mail user", k.key, v, id, sess.Service, k.want)
		}
		fields[k.key] = strconv.Itoa(id)
	}
	if _, ok := fields["home"]; !ok && fields["mail"] == "" && root.Get("mail_location") == "" {
		return storage.UserConfig{}, errors.New("neither a userdb home or mail field nor mail_location says where the mail is")
	}
	cfg, err := Config(root, User{Name: name, Fields: fields})
	if err != nil {
		return storage.UserConfig{}, err
	}
	// mail_location and the userdb mail field may hold %u, %d, %n, %h
	// (Dovecot's mail_location = maildir:/var/vmail/%d/%n).
	vars := settings.Vars{"user": name, "home": fields["home"], "service": sess.Service,
		"uid": fields["uid"], "gid": fields["gid"], "session": sess.ID}
	if sess.Local.IsValid() {
		vars["lip"] = sess.Local.String()
	}
	if sess.Remote.IsValid() {
		vars["rip"] = sess.Remote.String()
	}
	if cfg.MailLocation, err = settings.Expand(cfg.MailLocation, vars); err != nil {
		return storage.UserConfig{}, fmt.Errorf("mail location: %w", err)
	}
	return cfg, nil
}

// resolveID turns a userdb uid or gid (a number or a name) into a number.
// Mail processes are not chrooted, so /etc/passwd and /etc/group are
// readable.
func resolveID(key, v string) (int, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return n, nil
	}
	// Every RCPT and login of a static userdb names the same user
	// (uid=vmail): parsing /etc/passwd each time costs more than the
	// rest of the lookup. Answers are kept for idCacheTTL, so an edit of
	// /etc/passwd shows within a minute, as nscd would show it.
	ck := key + ":" + v
	idCache.Lock()
	e, ok := idCache.m[ck]
	idCache.Unlock()
	if ok && time.Since(e.at) < idCacheTTL {
		return e.id, nil
	}
	id, err := lookupID(key, v)
	if err == nil {
		idCache.Lock()
		if idCache.m == nil {
			idCache.m = map[string]idEntry{}
		}
		idCache.m[ck] = idEntry{id: id, at: time.Now()}
		idCache.Unlock()
	}
	return id, err
}

const idCacheTTL = time.Minute

type idEntry struct {
	id int
	at time.Time
}

var idCache struct {
	sync.Mutex
	m map[string]idEntry
}

func lookupID(key, v string) (int, error) {
	if key == "uid" {
		u, err := user.Lookup(v)
		if err != nil {
			return 0, fmt.Errorf("userdb uid=%s: %w", v, err)
		}
		return strconv.Atoi(u.Uid)
	}
	g, err := user.LookupGroup(v)
	if err != nil {
		return 0, fmt.Errorf("userdb gid=%s: %w", v, err)
	}
	return strconv.Atoi(g.Gid)
}

// MakeHome creates a missing home directory (and missing parents, such as
// the domain level of /var/vmail/%d/%n) with mode 0700, as Dovecot does on
// a virtual user's first login or delivery. The process runs as the mail
// user, so it can only create what that user may.
func MakeHome(home string) error {
	if home == "" || !filepath.IsAbs(home) {
		return nil
	}
	if _, err := os.Stat(home); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.MkdirAll(home, 0o700)
}
