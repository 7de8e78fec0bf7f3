package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPw builds this command once and runs `coteadm pw` against the real
// doveadm.
func TestPw(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "coteadm")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("HashesVerifyUnderDoveadm", func(t *testing.T) { testPwHashesVerifyUnderDoveadm(t, bin) })
	t.Run("VerifiesDoveadmHashes", func(t *testing.T) { testPwVerifiesDoveadmHashes(t, bin) })
	t.Run("ListAndErrors", func(t *testing.T) { testPwListAndErrors(t, bin) })
	t.Run("Terminal", func(t *testing.T) { testPwTerminal(t, bin) })
}

func run(t *testing.T, stdin, name string, args ...string) (stdout string, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return strings.TrimSpace(out.String()), nil
}

func doveadmBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("doveadm")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("doveadm is not installed (apt-get install dovecot-core)")
	}
	t.Skip("doveadm is not installed (apt-get install dovecot-core)")
	return ""
}

func testPwHashesVerifyUnderDoveadm(t *testing.T, bin string) {
	dove := doveadmBin(t)
	const user = "bob@example.org"
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		prefix string
	}{
		{"default scheme", []string{"-p", "pw one"}, "", "{CRYPT}$2y$05$"},
		{"SHA512-CRYPT", []string{"-s", "SHA512-CRYPT", "-p", "pw one"}, "", "{SHA512-CRYPT}$6$"},
		{"rounds", []string{"-s", "SHA256-CRYPT", "-r", "7000", "-p", "pw one"}, "", "{SHA256-CRYPT}$5$rounds=7000$"},
		{"lower-case scheme", []string{"-s", "ssha512", "-p", "pw one"}, "", "{SSHA512}"},
		{"encoding suffix", []string{"-s", "SHA256.hex", "-p", "pw one"}, "", "{SHA256.HEX}"},
		{"DIGEST-MD5 with user", []string{"-s", "DIGEST-MD5", "-u", user, "-p", "pw one"}, "", "{DIGEST-MD5}"},
		{"password from a pipe", []string{"-s", "SCRAM-SHA-256"}, "pw one\n", "{SCRAM-SHA-256}4096,"},
		{"argon2id", []string{"-s", "ARGON2ID", "-p", "pw one"}, "", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := run(t, tc.stdin, bin, append([]string{"pw"}, tc.args...)...)
			if err != nil {
				t.Fatalf("coteadm pw: %v: %s", err, h)
			}
			if !strings.HasPrefix(h, tc.prefix) {
				t.Fatalf("coteadm pw = %q, want prefix %q", h, tc.prefix)
			}
			out, err := run(t, "", dove, "pw", "-t", h, "-p", "pw one", "-u", user)
			if err != nil || out != h+" (verified)" {
				t.Errorf("doveadm pw -t %q: %v: %s", h, err, out)
			}
			if out, err := run(t, "", dove, "pw", "-t", h, "-p", "pw two", "-u", user); err == nil {
				t.Errorf("doveadm pw -t %q verified a wrong password: %s", h, out)
			}
		})
	}
}

func testPwVerifiesDoveadmHashes(t *testing.T, bin string) {
	dove := doveadmBin(t)
	for _, scheme := range []string{"SHA512-CRYPT", "CRYPT", "SSHA", "PBKDF2", "CRAM-MD5"} {
		t.Run(scheme, func(t *testing.T) {
			h, err := run(t, "", dove, "pw", "-s", scheme, "-p", "s3cret")
			if err != nil {
				t.Fatalf("doveadm pw: %v: %s", err, h)
			}
			out, err := run(t, "", bin, "pw", "-t", h, "-p", "s3cret")
			if err != nil || out != h+" (verified)" {
				t.Errorf("coteadm pw -t: %v: %q", err, out)
			}
			if out, err := run(t, "s3cret\n", bin, "pw", "-t", h); err != nil || out != h+" (verified)" {
				t.Errorf("coteadm pw -t, password piped: %v: %q", err, out)
			}
			if out, err := run(t, "", bin, "pw", "-t", h, "-p", "wrong"); err == nil || !strings.Contains(out, "password mismatch") {
				t.Errorf("coteadm pw -t with a wrong password: %v: %q", err, out)
			}
		})
	}
}

func testPwListAndErrors(t *testing.T, bin string) {
	out, err := run(t, "", bin, "pw", "-l")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SHA512-CRYPT", "ARGON2ID", "SCRAM-SHA-256", "PLAIN", "OTP"} {
		if !strings.Contains(" "+out+" ", " "+s+" ") {
			t.Errorf("coteadm pw -l = %q, missing %s", out, s)
		}
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"OTP refused", []string{"-s", "OTP", "-p", "x"}, "", "one-time passwords"},
		{"unknown scheme", []string{"-s", "NOPE", "-p", "x"}, "", "unknown password scheme"},
		{"DIGEST-MD5 without -u", []string{"-s", "DIGEST-MD5", "-p", "x"}, "", "user name"},
		{"rounds without meaning", []string{"-s", "SHA", "-r", "5", "-p", "x"}, "", "no rounds"},
		{"no password on stdin", []string{}, "", "no password"},
		{"malformed -t", []string{"-t", "{SHA}!!", "-p", "x"}, "", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.stdin, bin, append([]string{"pw"}, tc.args...)...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("coteadm pw %v = %v, %q; want an error with %q", tc.args, err, out, tc.want)
			}
		})
	}
}

// testPwTerminal runs `coteadm pw` on a pseudo-terminal: it must prompt
// twice and keep echo off, so the password never appears on the screen.
func testPwTerminal(t *testing.T, bin string) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "pw", "-s", "SHA256-CRYPT")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()

	// Read the terminal until the process exits (then reads fail with
	// EIO), answering each prompt.
	var screen bytes.Buffer
	buf := make([]byte, 512)
	answered := 0
	for {
		k, err := ptmx.Read(buf)
		screen.Write(buf[:k])
		if err != nil {
			break
		}
		if strings.Count(screen.String(), "password: ") > answered {
			answered++
			if _, err := ptmx.Write([]byte("hidden pw\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("coteadm pw on a terminal: %v: %q", err, screen.String())
	}
	out := screen.String()
	if answered != 2 {
		t.Errorf("prompted %d times, want 2: %q", answered, out)
	}
	if strings.Contains(out, "hidden pw") {
		t.Errorf("the password was echoed: %q", out)
	}
	i := strings.Index(out, "{SHA256-CRYPT}")
	if i < 0 {
		t.Fatalf("no hash on the terminal: %q", out)
	}
	h := strings.TrimSpace(out[i:])
	if dove, err := exec.LookPath("doveadm"); err == nil {
		if v, err := run(t, "", dove, "pw", "-t", h, "-p", "hidden pw"); err != nil {
			t.Errorf("doveadm pw -t %q: %v: %s", h, err, v)
		}
	}
}
