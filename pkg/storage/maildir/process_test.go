package maildir

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
)

// The test binary re-executes itself as another process when this
// variable is set: "deliver:N" saves N messages one transaction each;
// "churn:N" delivers, flags and expunges in a loop (for the crash test).
const helperEnv = "COTE_MAILDIR_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(h, os.Getenv("COTE_MAILDIR_TEST_HOME")))
	}
	os.Exit(m.Run())
}

func helper(what, home string) int {
	verb, arg, _ := strings.Cut(what, ":")
	n, _ := strconv.Atoi(arg)
	d := New(nil)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mb, err := u.Open("INBOX", false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seq := 0
	for i := 0; n == 0 || i < n; i++ {
		sv, _ := mb.BeginSave()
		// churn saves one or two messages per transaction, each with a
		// body naming its number so the crash test can check content.
		var bodies []int
		for k := 0; k < 1+i%2*btoi(verb == "churn"); k++ {
			seq++
			bodies = append(bodies, seq)
			sv.Append(strings.NewReader(crashMsg(seq)), storage.AppendOptions{})
		}
		_, uids, err := sv.Commit()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Acknowledge on stdout only after Commit returned ("A uid n"):
		// the crash test checks every acknowledged UID survives with
		// its content.
		for k, uid := range uids {
			fmt.Printf("A %d %d\n", uid, bodies[k])
		}
		if verb == "churn" {
			mb.Sync()
			uids := mb.UIDs()
			if len(uids) > 3 {
				mb.Store(uids[:2], storage.StoreAdd, storage.FlagSeen|storage.FlagDeleted, []string{"x"}, 0)
				if i%4 == 0 {
					// Announced before the expunge ("E uid"): only
					// these may be missing after the kill.
					fmt.Printf("E %d\n", uids[0])
					mb.Expunge(uids[:1])
				}
			}
		}
	}
	mb.Close()
	u.Close()
	d.Close()
	return 0
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func crashMsg(n int) string {
	return fmt.Sprintf("From: a@example.org\nSubject: %d\n\nmessage %d\n", n, n)
}

func helperCmd(t *testing.T, home, what string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+what, "COTE_MAILDIR_TEST_HOME="+home)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestNotifyAcrossProcesses: a delivery by another process wakes a
// session waiting on Notify within a second.
func TestNotifyAcrossProcesses(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	cmd := helperCmd(t, home, "deliver:1")
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mb.Notify():
	case <-time.After(time.Second + time.Since(start)):
		t.Fatal("no notification within a second of the delivery")
	}
	ch, err := mb.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Exists != 1 || ch.Recent != 1 {
		t.Fatalf("changes %+v", ch)
	}
}

// TestConcurrentProcesses: several processes deliver into one mailbox
// while this one flags and expunges; UIDs stay unique and the index
// agrees with a rebuild.
func TestConcurrentProcesses(t *testing.T) {
	home := t.TempDir()
	var cmds []*exec.Cmd
	for i := 0; i < 3; i++ {
		c := helperCmd(t, home, "deliver:20")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	mb, _ := u.Open("INBOX", false)
	for i := 0; i < 20; i++ {
		mb.Sync()
		if uids := mb.UIDs(); len(uids) > 2 {
			mb.Store(uids[len(uids)-2:], storage.StoreAdd, storage.FlagDeleted, nil, 0)
			mb.Expunge(nil)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	mb.Close()
	checkConsistent(t, filepath.Join(home, "Maildir"))
}

// TestCrash SIGKILLs a process in the middle of deliveries and flag
// changes, three times: every UID it acknowledged (reported on its stdout
// after Commit returned) is present with its content unless it announced
// expunging it, no UID is duplicated, and the index agrees with a rebuild.
func TestCrash(t *testing.T) {
	home := t.TempDir()
	acked := map[uint32]int{} // uid -> message number
	expunged := map[uint32]bool{}
	for round := 0; round < 3; round++ {
		cmd := helperCmd(t, home, "churn:0")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a varying number of acknowledgements.
		sc := bufio.NewScanner(out)
		for lines := 0; lines < 5+round*7; lines++ {
			if !sc.Scan() {
				t.Fatalf("helper output ended: %v", sc.Err())
			}
			recordAck(t, sc.Text(), acked, expunged)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// Lines written before the kill are acknowledgements too.
		for sc.Scan() {
			recordAck(t, sc.Text(), acked, expunged)
		}
		cmd.Wait()
	}
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	present := 0
	for uid, n := range acked {
		if expunged[uid] {
			continue
		}
		b, err := mb.Open(uid)
		if err != nil {
			t.Errorf("acknowledged uid %d (message %d): %v", uid, n, err)
			continue
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != crashMsg(n) {
			t.Errorf("uid %d holds %q, want message %d", uid, data, n)
		}
		present++
	}
	if present == 0 {
		t.Fatal("no message survived")
	}
	checkConsistent(t, filepath.Join(home, "Maildir"))
}

// recordAck reads one helper line: "A uid n" (committed) or "E uid"
// (about to be expunged).
func recordAck(t *testing.T, line string, acked map[uint32]int, expunged map[uint32]bool) {
	t.Helper()
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "A":
		uid, _ := strconv.ParseUint(f[1], 10, 32)
		n, _ := strconv.Atoi(f[2])
		if old, dup := acked[uint32(uid)]; dup {
			t.Errorf("uid %d acknowledged twice (messages %d and %d)", uid, old, n)
		}
		acked[uint32(uid)] = n
	case len(f) == 2 && f[0] == "E":
		uid, _ := strconv.ParseUint(f[1], 10, 32)
		expunged[uint32(uid)] = true
	default:
		t.Fatalf("helper line %q", line)
	}
}
