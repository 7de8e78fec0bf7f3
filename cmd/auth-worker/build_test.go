//go:build !pam

package main

import (
	"os"
	"os/exec"
	"testing"
)

// pamHeader is what a PAM build needs (Debian: libpam0g-dev).
const pamHeader = "/usr/include/security/pam_appl.h"

// TestPAMBuild runs the PAM tests (pam_test.go, build tag pam) with cgo, so
// a plain `go test ./...` covers the PAM build whenever the machine can
// make it.
func TestPAMBuild(t *testing.T) {
	if _, err := os.Stat(pamHeader); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: apt-get install libpam0g-dev", pamHeader)
		}
		t.Skipf("%s missing (apt-get install libpam0g-dev)", pamHeader)
	}
	if testing.Short() {
		t.Skip("builds with cgo")
	}
	cmd := exec.Command("go", "test", "-count=1", "-tags", "pam", "-run", "TestPAM$|TestNoNewPrivsReexec", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("pam tests: %v", err)
	}
}
