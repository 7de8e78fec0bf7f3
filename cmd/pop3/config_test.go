package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cote-mail/cote/pkg/pop3d"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

func TestSessionConfig(t *testing.T) {
	tests := []struct {
		name       string
		conf       string
		deleteType pop3d.DeleteType
		noFlags    bool
		wantErr    bool
	}{
		{"dovecot defaults", "", pop3d.DeleteExpunge, false, false},
		{"flag", "pop3_deleted_flag = \"$POP3Deleted\"\npop3_no_flag_updates = yes\n", pop3d.DeleteFlag, true, false},
		{"protocol filter", "protocol pop3 {\n  pop3_delete_type = flag\n  pop3_deleted_flag = \"$D\"\n}\n", pop3d.DeleteFlag, false, false},
		{"flag without keyword", "pop3_delete_type = flag\n", 0, false, true},
		{"unsupported variable", "pop3_uidl_format = %u%m\n", 0, false, true},
		{"file name and guid", "pop3_uidl_format = %f-%g\n", pop3d.DeleteExpunge, false, false},
		{"no uid", "pop3_uidl_format = %v\n", 0, false, true},
		{"bad delete type", "pop3_delete_type = move\n", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "cote.conf")
			if err := os.WriteFile(conf, []byte("protocols = imap\nbase_dir = "+dir+"\n"+tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := settings.Load(conf)
			if err == nil {
				var pc pop3d.Config
				pc, err = sessionConfig(cfg.Protocol("pop3"))
				if err == nil && (pc.DeleteType != tc.deleteType || pc.NoFlagUpdates != tc.noFlags) {
					t.Errorf("got %+v", pc)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestInboxDir(t *testing.T) {
	tests := []struct {
		name string
		cfg  storage.UserConfig
		want string
	}{
		{"maildir root", storage.UserConfig{Home: "/h", MailLocation: "maildir:~/Maildir"}, "/h/Maildir"},
		{"control", storage.UserConfig{Home: "/h", MailLocation: "maildir:~/Maildir:CONTROL=~/ctl:INBOX=~/in"}, "/h/ctl"},
		{"inbox", storage.UserConfig{Home: "/h", MailLocation: "maildir:~/Maildir:INBOX=~/in"}, "/h/in"},
		{"namespace location", storage.UserConfig{Home: "/h", MailLocation: "maildir:~/Maildir",
			Namespaces: []storage.NamespaceConfig{{Inbox: true, Location: "maildir:~/Other"}}}, "/h/Other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inboxDir(tc.cfg)
			if err != nil || got != tc.want {
				t.Errorf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}
