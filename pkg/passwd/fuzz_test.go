package passwd

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary stored values to Verify and Credentials:
// they must return, never panic, and a value that verifies must not also
// report an error. Seeds are in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	f.Add("{SHA512-CRYPT}$6$15b5eRWzStJ0O0ti$JDoGbpnc8Iu0bAHQ.Xr2di4Ny.fnuI3Coe4xf.6kiF6g4hfxNX3s4gT1HctC5QIGCQLiJPHSD7gqZWe3KZbNx0", "", "secret")
	f.Fuzz(func(t *testing.T, stored, defaultScheme, password string) {
		if tooCostly(stored) || tooCostly(defaultScheme) {
			t.Skip()
		}
		ok, err := Verify(stored, defaultScheme, testUser, password)
		if ok && err != nil {
			t.Fatalf("Verify = true with error %v", err)
		}
		for _, want := range []string{"PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "DIGEST-MD5"} {
			c, err := Credentials(stored, defaultScheme, testUser, want)
			if err == nil && c.Plain == "" && c.CRAM == nil && c.SCRAM == nil && c.DigestHA1 == nil && want != "PLAIN" {
				t.Fatalf("Credentials(%s) = empty without error", want)
			}
		}
	})
}

// tooCostly skips inputs that are valid but deliberately expensive (a
// stored value may ask for 2^31 bcrypt rounds or a gigabyte of argon2
// memory: that is the administrator's choice, not a parser bug), so the
// fuzzer spends its time on parsing.
func tooCostly(s string) bool {
	if strings.Contains(s, "$2") || strings.Contains(s, "$y$") || strings.Contains(s, "argon2") {
		return true
	}
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			run++
			continue
		}
		if run > 0 {
			if n, err := strconv.Atoi(s[i-run : i]); err != nil || n > 10000 {
				return true
			}
		}
		run = 0
	}
	return false
}
