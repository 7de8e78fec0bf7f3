package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cote-mail/cote/pkg/settings"
)

// TestSessionConfigMetadata: imap_metadata (at the top or in protocol
// imap {}, as Dovecot reads it) turns on METADATA.
func TestSessionConfigMetadata(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want bool
	}{
		{"default", "", false},
		{"top", "imap_metadata = yes\n", true},
		{"protocol imap", "protocol imap {\n  imap_metadata = yes\n}\n", true},
		{"off", "imap_metadata = no\n", false},
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
			if err != nil {
				t.Fatal(err)
			}
			if got.Metadata != tc.want {
				t.Errorf("Metadata %v, want %v", got.Metadata, tc.want)
			}
		})
	}
}
