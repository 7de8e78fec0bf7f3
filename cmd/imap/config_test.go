package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/settings"
)

func TestSessionConfig(t *testing.T) {
	tests := []struct {
		name      string
		conf      string
		line      int
		keepalive time.Duration
		nonSync   int64
		appendLim int64
		wantErr   bool
	}{
		{"dovecot defaults", "", 64 * 1024, 2 * time.Minute, 0, 0, false},
		{"set", "imap_max_line_length = 1M\nimap_idle_notify_interval = 30 secs\nimap_literal_minus = yes\n",
			1 << 20, 30 * time.Second, imap.LiteralMinusMax, 0, false},
		{"quota_max_mail_size", "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_max_mail_size = 10M\n}\n",
			64 * 1024, 2 * time.Minute, 0, 10 << 20, false},
		{"protocol filter", "protocol imap {\n  imap_max_line_length = 8k\n}\n", 8 * 1024, 2 * time.Minute, 0, 0, false},
		{"line length unlimited refused", "imap_max_line_length = unlimited\n", 0, 0, 0, 0, true},
		{"zero keepalive refused", "imap_idle_notify_interval = 0\n", 0, 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "cote.conf")
			if err := os.WriteFile(conf, []byte("protocols = imap\nbase_dir = "+dir+"\n"+tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := settings.Load(conf)
			if tc.wantErr {
				if err == nil {
					t.Fatal("settings accepted, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := sessionConfig(cfg.Protocol("imap"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Limits.MaxLine != tc.line || got.Keepalive != tc.keepalive || got.Limits.MaxNonSync != tc.nonSync || got.AppendLimit != tc.appendLim {
				t.Errorf("got line %d keepalive %v nonsync %d appendlimit %d, want %d %v %d %d",
					got.Limits.MaxLine, got.Keepalive, got.Limits.MaxNonSync, got.AppendLimit, tc.line, tc.keepalive, tc.nonSync, tc.appendLim)
			}
		})
	}
}
