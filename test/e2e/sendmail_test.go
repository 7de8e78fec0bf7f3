package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/queue"
	"github.com/cote-mail/cote/pkg/testkit"
)

// TestSendmail runs cote-sendmail and `coteadm queue` against a real suite (smtpd, queue,
// lmtp, imap): `cote-sendmail -t` as the unprivileged user nobody delivers to a local
// Maildir with nobody's address as the envelope sender (pickup reads it from SO_PEERCRED);
// -bs relays an SMTP dialogue; a message to an unreachable MX stays deferred, so -bp and
// coteadm list it, hold, release, flush and delete it; bad usage and a down queue give
// their exit codes.
func TestSendmail(t *testing.T) {
	dnsAddr := fakeDNS(t, map[string]string{
		"dead.example.":    "MX 10 mx.dead.example.",
		"mx.dead.example.": "A 127.0.0.1",
	})
	s := startQueueSuite(t, fmt.Sprintf(`queue_dns_resolver = %s
queue_smtp_port = %d
minimal_backoff_time = 1h
maximal_backoff_time = 1h
`, dnsAddr, testkit.FreePort(t)), "alice@example.com", "bob@example.com")
	spool := filepath.Join(s.Dir(), "spool") // startQueueSuite's queue_directory
	nobodyUID, nobodyGID, _ := testkit.UserCreds(t, "nobody")

	// The build directory is private to root: nobody runs a copy (s.Dir() is traversable).
	binDir := filepath.Join(s.Dir(), "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sendmail := filepath.Join(binDir, "sendmail")
	data, err := os.ReadFile(s.Binary("cote-sendmail"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sendmail, data, 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code           int
		stdout, stderr string
	}
	runAs := func(uid int, stdin string, name string, args ...string) result {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		cmd.Env = []string{"PATH=/usr/bin:/bin", "COTE_CONFIG=" + s.ConfigPath()}
		cmd.Dir = "/"
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(nobodyGID)}}
		}
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return result{code, o.String(), e.String()}
	}
	coteadm := func(args ...string) result {
		t.Helper()
		return runAs(0, "", s.Binary("coteadm"), append([]string{"-c", s.ConfigPath(), "queue"}, args...)...)
	}

	t.Run("t as nobody", func(t *testing.T) {
		r := runAs(nobodyUID, "To: Alice <alice@example.com>\nSubject: from nobody\n\nhello from a cron job\n", sendmail, "-t", "-i")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		waitIMAP(t, s, "alice@example.com", "from nobody", "nobody@mx.example.com")
		msg, _ := os.ReadFile(waitForMessage(t, "from nobody", filepath.Join(s.Dir(), "vmail", "example.com", "alice")))
		for _, want := range []string{"(cote pickup, from userid " + strconv.Itoa(nobodyUID) + ")", "\r\nFrom: ", "nobody@mx.example.com", "\r\nMessage-ID: <",
			"\r\nDate: ", "\r\n\r\nhello from a cron job\r\n"} {
			if !strings.Contains(string(msg), want) {
				t.Errorf("delivered message lacks %q:\n%s", want, msg)
			}
		}
	})

	t.Run("bs transcript", func(t *testing.T) {
		r := runAs(0, "EHLO localhost\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: over bs\r\n\r\nsmtp on stdin\r\n.\r\nQUIT\r\n", sendmail, "-bs")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\r\n"), "\r\n")
		var codes []string
		for _, l := range lines {
			if len(l) >= 4 && l[3] == ' ' {
				codes = append(codes, l[:3])
			}
		}
		if got := strings.Join(codes, " "); got != "220 250 250 250 354 250 221" {
			t.Errorf("reply codes %q:\n%s", got, r.stdout)
		}
		waitIMAP(t, s, "bob@example.com", "over bs", "root@mx.example.com")
	})

	// A message to dead.example: its MX refuses connections, so it waits in deferred/.
	var id string
	waitQueue := func(what string, ok func(queue.Entry) bool) queue.Entry {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			ents, err := queue.List(spool)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if (id == "" || e.ID == id) && ok(e) {
					return e
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no message %s: %+v", what, ents)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// busyRetry runs a coteadm verb until it does not meet a delivery in progress.
	busyRetry := func(args ...string) result {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := coteadm(args...)
			if r.code == 0 || !strings.Contains(r.stderr, "being delivered") || time.Now().After(deadline) {
				return r
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if r := runAs(0, "Subject: to the dead\n\nwaits\n", sendmail, "carol@dead.example"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	id = waitQueue("deferred", func(e queue.Entry) bool { return e.Queue == queue.DirDeferred && e.Attempts >= 1 }).ID

	t.Run("flush", func(t *testing.T) {
		if r := coteadm("flush"); r.code != 0 || r.stdout != "1 deferred message(s) moved to the active queue\n" {
			t.Fatalf("flush: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		// In active/ now, or already tried again.
		waitQueue("flushed", func(e queue.Entry) bool { return e.Queue == queue.DirActive || e.Attempts >= 2 })
	})

	t.Run("hold and list", func(t *testing.T) {
		if r := busyRetry("hold", id); r.code != 0 || r.stdout != id+": placed on hold\n" {
			t.Fatalf("hold: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		list := coteadm("list")
		bp := runAs(0, "", sendmail, "-bp")
		if list.code != 0 || bp.code != 0 || list.stdout != bp.stdout {
			t.Fatalf("coteadm queue list (exit %d) and -bp (exit %d) differ:\n%s\n%s", list.code, bp.code, list.stdout, bp.stdout)
		}
		for _, want := range []string{"-Queue ID-", "\n" + id + "! ", " root@mx.example.com\n", "\n(", " carol@dead.example\n", "in 1 Request.\n"} {
			if !strings.Contains(list.stdout, want) {
				t.Errorf("listing lacks %q:\n%s", want, list.stdout)
			}
		}
		if r := runAs(nobodyUID, "", sendmail, "-bp"); r.code != 77 {
			t.Errorf("-bp as nobody: exit %d, want 77 (EX_NOPERM): %s", r.code, r.stderr)
		}
	})

	t.Run("release", func(t *testing.T) {
		if r := coteadm("release", id); r.code != 0 || r.stdout != id+": released from hold\n" {
			t.Fatalf("release: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		waitQueue("released", func(e queue.Entry) bool { return e.Queue != queue.DirHold })
	})

	t.Run("delete", func(t *testing.T) {
		if r := coteadm("delete", "0000000000000000000"); r.code != 1 || !strings.Contains(r.stderr, "no such message") {
			t.Errorf("delete of an unknown ID: exit %d %s", r.code, r.stderr)
		}
		if r := busyRetry("delete", id); r.code != 0 {
			t.Fatalf("delete: exit %d %s", r.code, r.stderr)
		}
		if r := coteadm("list"); r.stdout != "Mail queue is empty\n" {
			t.Errorf("after delete:\n%s", r.stdout)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		down := filepath.Join(s.Dir(), "down.conf")
		if err := os.WriteFile(down, []byte("base_dir = "+filepath.Join(s.Dir(), "nothing")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			args []string
			want int
		}{
			{"unknown option", []string{"-k", "alice@example.com"}, 64},
			{"no recipients", nil, 64},
			{"queue down", []string{"-C", down, "alice@example.com"}, 75},
			{"flush as nobody", []string{"-q"}, 77},
		} {
			r := runAs(nobodyUID, "Subject: x\n\nx\n", sendmail, tc.args...)
			if r.code != tc.want {
				t.Errorf("%s: exit %d, want %d: %s", tc.name, r.code, tc.want, r.stderr)
			}
		}
	})
}
