package passwd

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Tests here run the real doveadm (Debian package dovecot-core) as the
// reference: every hash it makes must verify here, and every hash made
// here must verify under `doveadm pw -t`.

const testUser = "alice@example.com"

// doveadmPath finds doveadm, skipping the test where it is missing, or
// failing under CI (CI=true), where `make test` installs it. (testkit has
// the same helper; passwd's tests stay free of it so testkit may one day
// import passwd without a cycle.)
func doveadmPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("doveadm")
	if err == nil {
		return p
	}
	msg := "doveadm is not installed (apt-get install dovecot-core)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s", msg)
	}
	t.Skip(msg)
	return ""
}

// doveadm runs `doveadm pw args...` and returns its trimmed stdout.
func doveadm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(doveadmPath(t), append([]string{"pw"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// doveadm reads no configuration for pw, but give it an empty one so
	// a broken /etc/dovecot cannot fail the test.
	cmd.Env = append(os.Environ(), "DOVECOT_CONFIG=/dev/null")
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(out.String()), &doveadmError{err, strings.TrimSpace(errb.String())}
	}
	return strings.TrimSpace(out.String()), nil
}

type doveadmError struct {
	err    error
	stderr string
}

func (e *doveadmError) Error() string { return e.err.Error() + ": " + e.stderr }

func doveadmHash(t testing.TB, scheme, password string, rounds string) string {
	t.Helper()
	args := []string{"-s", scheme, "-p", password, "-u", testUser}
	if rounds != "" {
		args = append(args, "-r", rounds)
	}
	h, err := doveadm(t, args...)
	if err != nil {
		t.Fatalf("doveadm pw -s %s: %v", scheme, err)
	}
	return h
}

func doveadmSchemes(t testing.TB) []string {
	t.Helper()
	out, err := doveadm(t, "-l")
	if err != nil {
		t.Fatalf("doveadm pw -l: %v", err)
	}
	return strings.Fields(out)
}

// testPasswords cover ASCII, 8-bit UTF-8 and a password longer than
// bcrypt's 72 bytes, DES's 8 characters and an HMAC block.
var testPasswords = []string{
	"secret",
	"pässwörd with spaces",
	strings.Repeat("0123456789", 8) + "xyz",
}

func TestSchemesMatchDoveadm(t *testing.T) {
	want := doveadmSchemes(t)
	got := Schemes()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Schemes() = %v\ndoveadm pw -l = %v", got, want)
	}
}

func TestVerifyDoveadmHashes(t *testing.T) {
	for _, s := range doveadmSchemes(t) {
		if s == "OTP" {
			continue
		}
		t.Run(s, func(t *testing.T) {
			for _, pw := range testPasswords {
				if s == "ARGON2ID" && pw != testPasswords[0] {
					// 64 MiB per hash; one password is enough.
					continue
				}
				h := doveadmHash(t, s, pw, "")
				if s == "PLAIN-TRUNC" {
					// doveadm writes the bare password, which its own
					// verifier refuses: so does Verify.
					if _, err := Verify(h, "", testUser, pw); err == nil {
						t.Errorf("Verify(%q) accepted a PLAIN-TRUNC value without length", h)
					}
					continue
				}
				checkVerify(t, h, pw)
			}
		})
	}
}

// checkVerify asserts stored verifies password and refuses wrong ones.
func checkVerify(t *testing.T, stored, password string) {
	t.Helper()
	ok, err := Verify(stored, "", testUser, password)
	if err != nil || !ok {
		t.Errorf("Verify(%q, %q) = %v, %v; want true", stored, password, ok, err)
	}
	for _, wrong := range []string{password + "x", "", strings.ToUpper(password)} {
		// DES reads 8 characters, bcrypt 72 bytes and PLAIN-TRUNC its
		// length: a "wrong" password equal within that prefix is right.
		if n := truncLen(stored); n > 0 && len(wrong) >= n && len(password) >= n && wrong[:n] == password[:n] {
			continue
		}
		if wrong == password {
			continue
		}
		ok, err := Verify(stored, "", testUser, wrong)
		if err != nil || ok {
			t.Errorf("Verify(%q, wrong %q) = %v, %v; want false", stored, wrong, ok, err)
		}
	}
}

// truncLen is how many bytes of a password the stored value depends on,
// 0 for all of them.
func truncLen(stored string) int {
	switch {
	case strings.HasPrefix(stored, "{DES-CRYPT}"):
		return 8
	case strings.Contains(stored, "$2y$"), strings.Contains(stored, "$2a$"), strings.Contains(stored, "$2b$"):
		return 72
	case strings.HasPrefix(stored, "{PLAIN-TRUNC}"):
		n, _, _ := strings.Cut(strings.TrimPrefix(stored, "{PLAIN-TRUNC}"), "-")
		v, _ := strconv.Atoi(n)
		return v
	}
	return 0
}

func TestVerifyDoveadmEncodings(t *testing.T) {
	const pw = "secret"
	for _, s := range doveadmSchemes(t) {
		if s == "OTP" || s == "PLAIN-TRUNC" || strings.HasPrefix(s, "ARGON2") {
			continue
		}
		for _, suffix := range []string{".b64", ".hex", ".BASE64"} {
			t.Run(s+suffix, func(t *testing.T) {
				checkVerify(t, doveadmHash(t, s+suffix, pw, ""), pw)
			})
		}
	}
}

func TestVerifyDoveadmRounds(t *testing.T) {
	const pw = "secret"
	for _, tc := range []struct{ scheme, rounds string }{
		{"SHA256-CRYPT", "1200"},
		{"SHA512-CRYPT", "6000"},
		{"BLF-CRYPT", "6"},
		{"CRYPT", "4"},
		{"PBKDF2", "6000"},
		{"ARGON2I", "3"},
	} {
		t.Run(tc.scheme+"/"+tc.rounds, func(t *testing.T) {
			checkVerify(t, doveadmHash(t, tc.scheme, pw, tc.rounds), pw)
		})
	}
}

// doveadmVerifies runs `doveadm pw -t stored -p password -u user`.
func doveadmVerifies(t *testing.T, stored, password string) bool {
	t.Helper()
	out, err := doveadm(t, "-t", stored, "-p", password, "-u", testUser)
	if err != nil {
		return false
	}
	if !strings.HasSuffix(out, "(verified)") {
		t.Fatalf("doveadm pw -t: unexpected output %q", out)
	}
	return true
}

func TestHashVerifiesUnderDoveadm(t *testing.T) {
	for _, s := range Schemes() {
		if s == "OTP" {
			continue
		}
		t.Run(s, func(t *testing.T) {
			for _, pw := range testPasswords {
				if s == "ARGON2ID" && pw != testPasswords[0] {
					continue
				}
				h, err := Hash(s, testUser, pw, Options{})
				if err != nil {
					t.Fatalf("Hash: %v", err)
				}
				if !strings.HasPrefix(h, "{"+s+"}") {
					t.Errorf("Hash = %q, want prefix {%s}", h, s)
				}
				if !doveadmVerifies(t, h, pw) {
					t.Errorf("doveadm pw -t %q -p %q: not verified", h, pw)
				}
				if doveadmVerifies(t, h, "!"+pw) {
					t.Errorf("doveadm pw -t %q verified a wrong password", h)
				}
				checkVerify(t, h, pw)
			}
		})
	}
}

func TestHashOptionsUnderDoveadm(t *testing.T) {
	const pw = "secret"
	for _, tc := range []struct {
		scheme string
		rounds int
		want   string // substring of the stored value
	}{
		{"SHA256-CRYPT", 1200, "$5$rounds=1200$"},
		{"SHA512-CRYPT", 6000, "$6$rounds=6000$"},
		{"SHA512-CRYPT", 5000, "}$6$"},
		{"SHA512-CRYPT", 10, "$6$rounds=1000$"},
		{"BLF-CRYPT", 6, "$2y$06$"},
		{"BLF-CRYPT", 1, "$2y$04$"},
		{"CRYPT", 0, "{CRYPT}$2y$05$"},
		{"PBKDF2", 6000, "$6000$"},
		{"SCRAM-SHA-1", 5000, "}5000,"},
		{"SCRAM-SHA-256", 0, "}4096,"},
		{"ARGON2I", 3, "$m=32768,t=3,p=1$"},
		{"ARGON2I", 0, "$m=32768,t=4,p=1$"},
		{"ARGON2ID", 0, "$m=65536,t=3,p=1$"},
		{"SHA.hex", 0, "{SHA.HEX}"},
		{"plain.b64", 0, "{PLAIN.B64}c2VjcmV0"},
		{"sha512-crypt.b64", 0, "{SHA512-CRYPT.B64}JDYk"},
	} {
		t.Run(tc.scheme+"/"+tc.want, func(t *testing.T) {
			h, err := Hash(tc.scheme, testUser, pw, Options{Rounds: tc.rounds})
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !strings.Contains(h, tc.want) {
				t.Errorf("Hash = %q, want it to contain %q", h, tc.want)
			}
			if !doveadmVerifies(t, h, pw) {
				t.Errorf("doveadm pw -t %q: not verified", h)
			}
			checkVerify(t, h, pw)
		})
	}
}

func TestCredentialsAgainstDoveadm(t *testing.T) {
	for _, pw := range testPasswords {
		plain := "{PLAIN}" + pw

		t.Run("CRAM-MD5", func(t *testing.T) {
			fromPlain, err := Credentials(plain, "", testUser, "CRAM-MD5")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"CRAM-MD5", "HMAC-MD5", "CRAM-MD5.b64"} {
				stored, err := Credentials(doveadmHash(t, s, pw, ""), "", testUser, "CRAM-MD5")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(fromPlain.CRAM, stored.CRAM) || len(stored.CRAM) != cramContextLen {
					t.Errorf("%s context %x, from plaintext %x", s, stored.CRAM, fromPlain.CRAM)
				}
			}
		})

		t.Run("DIGEST-MD5", func(t *testing.T) {
			fromPlain, err := Credentials(plain, "", testUser, "DIGEST-MD5")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := Credentials(doveadmHash(t, "DIGEST-MD5", pw, ""), "", testUser, "DIGEST-MD5")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fromPlain.DigestHA1, stored.DigestHA1) {
				t.Errorf("HA1 %x, from plaintext %x", stored.DigestHA1, fromPlain.DigestHA1)
			}
		})

		for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
			t.Run(mech, func(t *testing.T) {
				h := hSHA1
				if mech == "SCRAM-SHA-256" {
					h = hSHA256
				}
				stored, err := Credentials(doveadmHash(t, mech, pw, ""), "", testUser, mech)
				if err != nil {
					t.Fatal(err)
				}
				k := stored.SCRAM
				again := scramKeys(h, pw, k.Salt, k.Iterations)
				if !bytes.Equal(again.StoredKey, k.StoredKey) || !bytes.Equal(again.ServerKey, k.ServerKey) {
					t.Errorf("keys from plaintext differ from doveadm's with the same salt and iterations")
				}
				// Keys computed from a plaintext passdb, written in
				// Dovecot's format, verify under doveadm.
				fromPlain, err := Credentials(plain, "", testUser, mech)
				if err != nil {
					t.Fatal(err)
				}
				if fromPlain.SCRAM.Iterations != scramMinIterations || len(fromPlain.SCRAM.Salt) != scramSaltLen {
					t.Errorf("from plaintext: iterations %d salt %d bytes", fromPlain.SCRAM.Iterations, len(fromPlain.SCRAM.Salt))
				}
				if !doveadmVerifies(t, "{"+mech+"}"+string(formatSCRAM(fromPlain.SCRAM)), pw) {
					t.Errorf("keys from plaintext do not verify under doveadm")
				}
			})
		}
	}
}
