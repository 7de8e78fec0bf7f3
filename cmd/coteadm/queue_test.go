package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/queue"
)

// TestQueueVerbs runs the queue verbs on a spool with one message (no daemon runs: the
// verbs work on queue_directory directly).
func TestQueueVerbs(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	cfgPath := filepath.Join(dir, "cote.conf")
	if err := os.WriteFile(cfgPath, []byte("queue_directory = "+spoolDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := queue.OpenSpool(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := sp.Create(queue.Envelope{From: "ann@example.com", Rcpts: []queue.Recipient{{Addr: "bob@example.org"}}, Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: s\r\n\r\nbody\r\n"))
	id, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	where := func() string {
		for _, q := range []string{queue.DirActive, queue.DirDeferred, queue.DirHold} {
			if _, err := os.Stat(filepath.Join(spoolDir, q, id)); err == nil {
				return q
			}
		}
		return "gone"
	}
	steps := []struct {
		name    string
		args    []string
		prepare func()
		out     string // substring of stdout
		errText string // substring of the error ("" = success)
		after   string // where the message is afterwards
	}{
		{name: "list active", args: []string{"list"}, out: id + "*", after: queue.DirActive},
		{name: "hold", args: []string{"hold", id}, out: id + ": placed on hold\n", after: queue.DirHold},
		{name: "list held", args: []string{"list"}, out: id + "!", after: queue.DirHold},
		{name: "hold again", args: []string{"hold", id}, errText: "no such message", after: queue.DirHold},
		{name: "release", args: []string{"release", id}, out: id + ": released from hold\n", after: queue.DirActive},
		{name: "flush", prepare: func() {
			os.Rename(filepath.Join(spoolDir, queue.DirActive, id), filepath.Join(spoolDir, queue.DirDeferred, id))
		}, args: []string{"flush"}, out: "1 deferred message(s) moved", after: queue.DirActive},
		{name: "bad id", args: []string{"delete", "../x"}, errText: "bad queue ID", after: queue.DirActive},
		{name: "delete", args: []string{"delete", id}, out: id + ": removed\n", after: "gone"},
		{name: "list empty", args: []string{"list"}, out: "Mail queue is empty\n", after: "gone"},
		{name: "no args", args: []string{"delete"}, errText: "requires at least 1 arg", after: "gone"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.prepare != nil {
				st.prepare()
			}
			cmd := queueCmd(&cfgPath)
			var out, errOut bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs(st.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			switch {
			case st.errText == "" && err != nil:
				t.Fatalf("error %v (%s)", err, errOut.String())
			case st.errText != "" && (err == nil || !strings.Contains(err.Error(), st.errText)):
				t.Fatalf("error %v, want %q", err, st.errText)
			}
			var rep errReported
			if err != nil && errors.As(err, &rep) && !strings.Contains(errOut.String(), st.errText) {
				t.Errorf("reported error not printed: %q", errOut.String())
			}
			if !strings.Contains(out.String(), st.out) {
				t.Errorf("stdout %q lacks %q", out.String(), st.out)
			}
			if got := where(); got != st.after {
				t.Errorf("message is in %s, want %s", got, st.after)
			}
		})
	}
}
