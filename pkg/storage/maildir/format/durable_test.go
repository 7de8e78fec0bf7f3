package format

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"first", "second, longer", ""} {
		if err := WriteFileAtomic(dir, "f", []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "f"))
		if err != nil || string(got) != content {
			t.Fatalf("read %q %v, want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing"), "f", nil, 0o600); err == nil {
		t.Error("write into missing dir succeeded")
	}
}

func TestCreateMaildir(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name   string
		dir    string
		folder bool
	}{
		{"root", "Maildir", false},
		{"folder", "Maildir/.&AMQ-rger.Sub", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(root, tc.dir)
			if err := CreateMaildir(path, tc.folder, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"cur", "new", "tmp"} {
				if fi, err := os.Stat(filepath.Join(path, sub)); err != nil || !fi.IsDir() {
					t.Errorf("%s: %v", sub, err)
				}
			}
			_, err := os.Stat(filepath.Join(path, MaildirFolderName))
			if (err == nil) != tc.folder {
				t.Errorf("maildirfolder present=%v, want %v", err == nil, tc.folder)
			}
			if err := CreateMaildir(path, tc.folder, 0o700); !errors.Is(err, fs.ErrExist) {
				t.Errorf("second create: %v", err)
			}
		})
	}
}
