package main

import (
	"github.com/cote-mail/cote/pkg/pop3d"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// sessionConfig builds the session configuration from the pop3
// protocol's view of the settings (Dovecot's names and defaults).
// pop3_lock_session is applied per login (its lock lives in the user's
// INBOX directory).
func sessionConfig(sec *settings.Section) (pop3d.Config, error) {
	return pop3d.NewConfig(pop3d.Settings{
		UIDLFormat:    sec.Get("pop3_uidl_format"),
		ReuseXUIDL:    sec.Bool("pop3_reuse_xuidl"),
		SaveUIDL:      sec.Bool("pop3_save_uidl"),
		NoFlagUpdates: sec.Bool("pop3_no_flag_updates"),
		DeleteType:    sec.Get("pop3_delete_type"),
		DeletedFlag:   sec.Get("pop3_deleted_flag"),
	})
}

// inboxDir is where the INBOX's control files live, as Dovecot places
// dovecot-pop3-session.lock: the CONTROL directory of the inbox
// namespace's location if set, else its INBOX path, else its root (a
// Maildir++ INBOX is the root).
func inboxDir(cfg storage.UserConfig) (string, error) {
	loc := cfg.MailLocation
	for _, ns := range cfg.Namespaces {
		if ns.Inbox && ns.Location != "" {
			loc = ns.Location
		}
	}
	l, err := storage.ParseLocation(loc, cfg.Home)
	if err != nil {
		return "", err
	}
	for _, p := range []string{"CONTROL", "INBOX"} {
		if d := l.Params[p]; d != "" {
			return d, nil
		}
	}
	return l.Path, nil
}
