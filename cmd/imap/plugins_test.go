package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cote-mail/cote/pkg/settings"
)

// TestSessionConfigPlugins: imap_quota and imap_zlib in mail_plugins (in
// protocol imap {} as Dovecot's examples put them) turn on QUOTA and
// COMPRESS; imap_quota without quota is refused, as Dovecot refuses it.
func TestSessionConfigPlugins(t *testing.T) {
	const quotaPlugin = "plugin {\n  quota = maildir:User quota\n}\n"
	tests := []struct {
		name            string
		conf            string
		quota, compress bool
		wantErr         bool
	}{
		{"none", "", false, false, false},
		{"quota alone", "mail_plugins = quota\n" + quotaPlugin, false, false, false},
		{"imap_quota", "mail_plugins = quota\n" + quotaPlugin + "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n", true, false, false},
		{"imap_zlib", "protocol imap {\n  mail_plugins = imap_zlib\n}\n", false, true, false},
		{"imap_quota without quota", "mail_plugins = imap_quota\n", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "cote.conf")
			if err := os.WriteFile(conf, []byte("protocols = imap\nbase_dir = "+dir+"\n"+tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := settings.Load(conf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sessionConfig(cfg.Protocol("imap"), nil)
			if tc.wantErr {
				if err == nil {
					t.Fatal("accepted, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Quota != tc.quota || got.Compress != tc.compress {
				t.Errorf("Quota %v Compress %v, want %v %v", got.Quota, got.Compress, tc.quota, tc.compress)
			}
		})
	}
}
