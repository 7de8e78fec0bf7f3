package format

import (
	"errors"
	"strings"
	"testing"
)

func TestFolderDir(t *testing.T) {
	tests := []struct {
		name string
		in   string
		sep  byte
		dir  string
		back string // FolderName(dir); "" means in
	}{
		{"inbox", "INBOX", '/', "", ""},
		{"inbox any case", "inbox", '/', "", "INBOX"},
		{"simple", "Sent", '/', ".Sent", ""},
		{"hierarchy", "Ärger/Sub", '/', ".&AMQ-rger.Sub", ""},
		{"cjk", "日本語", '/', ".&ZeVnLIqe-", ""},
		{"inbox child", "inbox/Sub", '/', ".INBOX.Sub", "INBOX/Sub"},
		{"dot separator", "a.b", '.', ".a.b", ""},
		{"ampersand", "R&D", '/', ".R&-D", ""},
		{"space", "Sent Messages", '/', ".Sent Messages", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := FolderDir(tc.in, tc.sep)
			if err != nil || dir != tc.dir {
				t.Fatalf("FolderDir(%q) = %q, %v, want %q", tc.in, dir, err, tc.dir)
			}
			back := tc.back
			if back == "" {
				back = tc.in
			}
			got, err := FolderName(dir, tc.sep)
			if err != nil || got != back {
				t.Errorf("FolderName(%q) = %q, %v, want %q", dir, got, err, back)
			}
		})
	}
}

func TestValidateNameRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		sep  byte
	}{
		{"empty", "", '/'},
		{"dot with slash separator", "x.y", '/'},
		{"slash with dot separator", "x/y", '.'},
		{"dotdot", "..", '/'},
		{"leading separator", "/a", '/'},
		{"trailing separator", "a/", '/'},
		{"double separator", "a//b", '/'},
		{"newline", "a\nb", '/'},
		{"nul", "a\x00b", '/'},
		{"invalid utf-8", "a\xffb", '/'},
		{"level too long", strings.Repeat("x", MaxLevelLength+1), '/'},
		{"dir name too long", strings.Repeat("abcdefghij/", 25) + "x", '/'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateName(tc.in, tc.sep); !errors.Is(err, ErrInvalidName) {
				t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", tc.in, err)
			}
		})
	}
}

func TestFolderNameRefuses(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		sep  byte
	}{
		{"not a folder", "cur", '/'},
		{"dotdot", "..", '/'},
		{"empty level", ".a..b", '/'},
		{"trailing dot", ".a.", '/'},
		{"bad mutf7", ".&AMQ", '/'},
		{"raw utf-8 on disk", ".Ärger", '/'},
		{"contains separator", ".a/b", '/'},
		{"bare INBOX dir", ".INBOX", '/'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := FolderName(tc.dir, tc.sep); !errors.Is(err, ErrInvalidName) {
				t.Errorf("FolderName(%q) = %q, %v, want ErrInvalidName", tc.dir, got, err)
			}
		})
	}
}
