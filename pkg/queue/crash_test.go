package queue

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperCrashWriter is the child of TestSpoolKill: it commits messages in a loop and
// prints each acknowledged ID, until it is killed.
func TestHelperCrashWriter(t *testing.T) {
	dir := os.Getenv("COTE_QUEUE_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process")
	}
	s, err := OpenSpool(dir)
	if err != nil {
		os.Exit(2)
	}
	if os.Getenv("COTE_QUEUE_CRASH_MODE") == "incoming" {
		s.tmpfile.Store(false)
	}
	body := []byte(strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 64))
	for i := 0; ; i++ {
		w, err := s.Create(Envelope{From: "s@example.org", Rcpts: []Recipient{{Addr: fmt.Sprintf("r%d@local.test", i)}}})
		if err != nil {
			os.Exit(3)
		}
		w.Write(body)
		id, err := w.Commit()
		if err != nil {
			os.Exit(4)
		}
		fmt.Println(id)
	}
}

// TestSpoolKill kills writers at arbitrary points: every acknowledged ID is in active/ and
// parses whole; nothing else is in active/; Recover clears incoming/. Rounds alternate the
// tmpfile writer (a kill leaves no name anywhere: the unnamed file dies with the process) and
// the incoming/ fallback (a kill may leave an incoming/ file for Recover).
func TestSpoolKill(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 4; round++ {
		mode := "tmpfile"
		if round%2 == 1 {
			mode = "incoming"
		}
		incomingBefore, _ := os.ReadDir(filepath.Join(dir, DirIncoming))
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$")
		cmd.Env = append(os.Environ(), "COTE_QUEUE_CRASH_DIR="+dir, "COTE_QUEUE_CRASH_MODE="+mode)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		acked := map[string]bool{}
		// Kill after a varying number of acknowledgements, mid-stream.
		for len(acked) < 5+round*7 {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("helper ended: %v", err)
			}
			acked[strings.TrimSpace(line)] = true
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// IDs printed before the kill but not read yet are acknowledged too.
		for {
			line, err := br.ReadString('\n')
			if line != "" && strings.HasSuffix(line, "\n") {
				acked[strings.TrimSpace(line)] = true
			}
			if err != nil {
				break
			}
		}
		cmd.Wait()
		for id := range acked {
			data, err := os.ReadFile(filepath.Join(dir, DirActive, id))
			if err != nil {
				t.Fatalf("acknowledged %s lost: %v", id, err)
			}
			if _, err := ParseFile(data); err != nil {
				t.Fatalf("acknowledged %s damaged: %v", id, err)
			}
		}
		ents, _ := os.ReadDir(filepath.Join(dir, DirActive))
		for _, e := range ents {
			data, _ := os.ReadFile(filepath.Join(dir, DirActive, e.Name()))
			if _, err := ParseFile(data); err != nil {
				t.Fatalf("half-written %s in active/: %v", e.Name(), err)
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, DirIncoming)); mode == "tmpfile" && len(ents) != len(incomingBefore) {
			t.Fatalf("tmpfile writer left %d incoming/ files", len(ents)-len(incomingBefore))
		}
	}
	s, _ := OpenSpool(dir)
	old := time.Now().Add(-time.Minute)
	ents, _ := os.ReadDir(filepath.Join(dir, DirIncoming))
	for _, e := range ents {
		os.Chtimes(filepath.Join(dir, DirIncoming, e.Name()), old, old)
	}
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, DirIncoming)); len(ents) != 0 {
		t.Fatalf("%d incoming leftovers after Recover", len(ents))
	}
}
