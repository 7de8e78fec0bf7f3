package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const authDBs = "passdb {\n  driver = static\n  args = nopassword\n}\nuserdb {\n  driver = static\n  args = uid=1\n}\n"

// TestAuthServiceDefinitions: auth runs only with a passdb, auth-worker
// only with a passdb that needs root; the built-in unix listeners take the
// configuration's mode, user and group; process_limit stays 1.
func TestAuthServiceDefinitions(t *testing.T) {
	tests := []struct {
		name, conf string
		want       []string // enabled auth services
	}{
		{"no passdb", "protocols = imap\n", nil},
		{"passdb", "protocols = imap\n" + authDBs, []string{"auth"}},
		{"no protocols", "protocols = none\n" + authDBs, nil},
		{"shadow needs the worker", "protocols = imap\npassdb {\n  driver = shadow\n}\nuserdb {\n  driver = passwd\n}\n", []string{"auth", "auth-worker"}},
		{"pam in a filter", "protocols = imap\nprotocol imap {\n  passdb {\n    driver = pam\n  }\n}\nuserdb {\n  driver = passwd\n}\n", []string{"auth", "auth-worker"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := writeConf(t, map[string]string{"cote.conf": tc.conf})
			var got []string
			for _, s := range c.Services() {
				if strings.HasPrefix(s.Name, "auth") {
					got = append(got, s.Name)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("auth services = %v, want %v", got, tc.want)
			}
		})
	}

	c := writeConf(t, map[string]string{"cote.conf": "protocols = imap\nbase_dir = /srv/c\n" + authDBs +
		"service auth {\n  unix_listener auth-client {\n    mode = 0660\n    user = postfix\n    group = postfix\n  }\n  unix_listener extra {\n    mode = 0600\n  }\n}\n"})
	var auth Service
	for _, s := range c.Services() {
		if s.Name == "auth" {
			auth = s
		}
	}
	var lines []string
	for _, u := range auth.Unix {
		lines = append(lines, strings.Join([]string{u.Name, u.Path, modeString(u.Mode), u.User, u.Group}, " "))
	}
	want := []string{
		"auth-client /srv/c/auth-client 0660 postfix postfix",
		"login/auth-client /srv/c/login/auth-client 0666  ",
		"auth-master /srv/c/auth-master 0600 vmail ",
		"auth-userdb /srv/c/auth-userdb 0666 cote ",
		"auth-smtp /srv/c/auth-smtp 0600 cote-smtp ",
		"extra /srv/c/extra 0600  ",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("auth listeners:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if auth.ProcessLimit != 1 || auth.User != "cote" {
		t.Errorf("auth: process_limit %d user %q", auth.ProcessLimit, auth.User)
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "cote.conf")
	if err := os.WriteFile(p, []byte("protocols = imap\n"+authDBs+"service auth {\n  process_limit = 2\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "process_limit: service auth must be a single process") {
		t.Errorf("process_limit = 2: %v", err)
	}
}

func modeString(m uint32) string { return fmt.Sprintf("%04o", m) }
