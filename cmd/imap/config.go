package main

import (
	"fmt"
	"slices"

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
// or 0, as in Dovecot); mail_plugins' imap_quota and imap_zlib turn on
// QUOTA and COMPRESS; imap_metadata turns on METADATA; imap_capability
// changes what CAPABILITY lists. The other limits (literal count, nesting depth)
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
	// mail_plugins as Dovecot reads it (usually set in protocol imap {}):
	// imap_quota answers the QUOTA commands and needs quota, as in
	// Dovecot; imap_zlib offers COMPRESS=DEFLATE.
	plugins := sec.List("mail_plugins")
	quota := slices.Contains(plugins, "imap_quota")
	if quota && !slices.Contains(plugins, "quota") {
		return imapd.Config{}, fmt.Errorf("mail_plugins: imap_quota needs quota: use mail_plugins = $mail_plugins quota imap_quota")
	}
	return imapd.Config{
		Limits:      lim,
		AppendLimit: appendLimit,
		Keepalive:   sec.Duration("imap_idle_notify_interval"),
		Quota:       quota,
		Compress:    slices.Contains(plugins, "imap_zlib"),
		Metadata:    sec.Bool("imap_metadata"),
		Capability:  sec.Get("imap_capability"),
		Log:         log,
	}, nil
}
