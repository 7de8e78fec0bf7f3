package main

import (
	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/imapd"
	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/settings"
)

// sessionConfig builds the session engine's configuration from the imap
// protocol's view of the settings (Dovecot's names and defaults):
// imap_max_line_length caps a command line, imap_idle_notify_interval is
// the IDLE keepalive, imap_literal_minus turns LITERAL+ into LITERAL- and
// the quota plugin's quota_max_mail_size is APPENDLIMIT (none when unset
// or 0, as in Dovecot). The other limits (literal count, nesting depth)
// have no Dovecot setting and keep the engine's defaults.
func sessionConfig(sec *settings.Section, log *zap.Logger) (imapd.Config, error) {
	lim := imap.Limits{MaxLine: int(sec.Size("imap_max_line_length"))}
	if sec.Bool("imap_literal_minus") {
		lim.MaxNonSync = imap.LiteralMinusMax
	}
	appendLimit, err := mailuser.MaxMailSize(sec)
	if err != nil {
		return imapd.Config{}, err
	}
	return imapd.Config{
		Limits:      lim,
		AppendLimit: appendLimit,
		Keepalive:   sec.Duration("imap_idle_notify_interval"),
		Log:         log,
	}, nil
}
