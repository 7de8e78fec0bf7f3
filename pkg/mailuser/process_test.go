package mailuser

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestForProcess(t *testing.T) {
	c := load(t, "mail_location = maildir:/var/vmail/%d/%n:INDEX=%s-%r\n")
	root := c.Protocol("imap")
	sess := Session{Service: "imap", ID: "s1", Remote: netip.MustParseAddr("192.0.2.7")}
	tests := []struct {
		name    string
		p       Process
		fields  map[string]string
		wantLoc string
		wantErr string
		wantUID string
	}{
		{name: "same uid", p: Process{UID: 0, GID: 0, Check: true},
			fields:  map[string]string{"uid": "0", "gid": "0", "home": "/h"},
			wantLoc: "maildir:/var/vmail/example.com/alice:INDEX=imap-192.0.2.7", wantUID: "0"},
		{name: "uid by name", p: Process{UID: 0, GID: 0, Check: true},
			fields:  map[string]string{"uid": "root", "home": "/h"},
			wantLoc: "maildir:/var/vmail/example.com/alice:INDEX=imap-192.0.2.7", wantUID: "0"},
		{name: "other uid refused", p: Process{UID: 0, GID: 0, Check: true},
			fields: map[string]string{"uid": "4242", "home": "/h"}, wantErr: "userdb uid=4242 (4242), but imap runs as 0"},
		{name: "other uid without privilege separation", p: Process{UID: 0, GID: 0},
			fields:  map[string]string{"uid": "4242", "home": "/h"},
			wantLoc: "maildir:/var/vmail/example.com/alice:INDEX=imap-192.0.2.7", wantUID: "4242"},
		{name: "unknown uid name", p: Process{Check: true},
			fields: map[string]string{"uid": "no-such-user-here", "home": "/h"}, wantErr: "userdb uid=no-such-user-here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ForProcess(root, tc.p, "alice@example.com", tc.fields, sess)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MailLocation != tc.wantLoc {
				t.Errorf("MailLocation = %q, want %q", cfg.MailLocation, tc.wantLoc)
			}
			if tc.fields["uid"] != tc.wantUID {
				t.Errorf("uid field = %q, want %q (resolved to a number)", tc.fields["uid"], tc.wantUID)
			}
		})
	}
	noWhere := load(t, "")
	if _, err := ForProcess(noWhere.Protocol("imap"), Process{}, "bob", map[string]string{}, sess); err == nil ||
		!strings.Contains(err.Error(), "says where the mail is") {
		t.Errorf("no home, mail or mail_location: err = %v", err)
	}
}

func TestMakeHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "example.com", "alice")
	if err := MakeHome(home); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(home)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("home: %v, %v", st, err)
	}
	if err := MakeHome(home); err != nil {
		t.Fatalf("existing home: %v", err)
	}
	if err := MakeHome("relative/home"); err != nil {
		t.Fatalf("relative home is left alone: %v", err)
	}
}
