package passwd

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestShadowHashes makes a throwaway system user, sets its password with
// chpasswd in each method libxcrypt offers on Debian and RHEL, and checks
// the hash /etc/shadow then holds verifies under the CRYPT default scheme,
// as the shadow passdb will use it.
func TestShadowHashes(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root, and CI runs as root")
		}
		t.Skip("this test needs root (useradd, chpasswd, /etc/shadow)")
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (apt-get install passwd)", tool)
			}
			t.Skipf("%s is missing (apt-get install passwd)", tool)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "cotepw" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})

	const password = "Tr0ub4dor&3 ünïcode"
	for _, tc := range []struct {
		method, prefix string
		required       bool // the platforms cote targets all have it
	}{
		{"YESCRYPT", "$y$", true},
		{"SHA512", "$6$", true},
		{"SHA256", "$5$", true},
		{"MD5", "$1$", false},
		{"DES", "", false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			cmd := exec.Command("chpasswd", "-c", tc.method)
			cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				if tc.required {
					t.Fatalf("chpasswd -c %s: %v: %s", tc.method, err, out)
				}
				t.Skipf("chpasswd -c %s: %v: %s", tc.method, err, out)
			}
			h := shadowHash(t, name)
			if !strings.HasPrefix(h, tc.prefix) || (tc.prefix == "" && len(h) != 13) {
				t.Fatalf("chpasswd -c %s wrote %q", tc.method, h)
			}
			ok, err := Verify(h, "CRYPT", name, password)
			if err != nil || !ok {
				t.Errorf("Verify(%s hash) = %v, %v; want true", tc.method, ok, err)
			}
			ok, err = Verify(h, "CRYPT", name, "X"+password)
			if err != nil || ok {
				t.Errorf("Verify(%s hash, wrong) = %v, %v; want false", tc.method, ok, err)
			}
		})
	}
}

func shadowHash(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) > 1 && fields[0] == name {
			return fields[1]
		}
	}
	t.Fatalf("%s not in /etc/shadow", name)
	return ""
}
