package service

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
)

// mainChild runs Main as a service binary would: each client gets
// "hi LISTENER CLIENT_LIMIT", and "BYE" when the service shuts down.
func mainChild() {
	Main(func(ctx context.Context, rt *Runtime) error {
		return rt.Serve(ctx, func(ctx context.Context, c net.Conn, l *Listener) {
			fmt.Fprintf(c, "hi %s %d\n", l.Name, rt.Service.ClientLimit)
			g := newGreeter()
			g.handle(ctx, c, l)
		})
	})
}

func TestMainProcess(t *testing.T) {
	tests := []struct {
		name    string
		privsep bool
		end     string // "stop" over the control pipe, or "sigterm"
	}{
		{"no privsep, stop", false, "stop"},
		{"no privsep, SIGTERM", false, "sigterm"},
		{"privsep, stop", true, "stop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := os.Args[0]
			env := []string{envChild + "=main", ipc.EnvService + "=imap-login", ipc.EnvListeners + "=imap"}
			dir := t.TempDir()
			if tc.privsep {
				requireRoot(t)
				bin = childBinary(t)
				uid, gid := nobody(t)
				r := ipc.Restrict{UID: uid, GID: gid, Groups: []int{}, Chroot: dir}
				env = append(env, ipc.EnvRestrict+"="+r.Encode())
			} else {
				env = append(env, ipc.EnvNoPrivsep+"=1")
			}
			conf := filepath.Join(dir, "cote.conf")
			err := os.WriteFile(conf, []byte("protocols = imap\nssl = no\nbase_dir = "+dir+
				"\nservice imap-login {\n  client_limit = 3\n}\n"), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := settings.Load(conf)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := cfg.ForService("imap-login").Marshal()
			if err != nil {
				t.Fatal(err)
			}
			memfd, err := ipc.SealedMemfd("settings", snap)
			if err != nil {
				t.Fatal(err)
			}
			defer memfd.Close()
			sr, sw, _ := os.Pipe()
			cr, cw, _ := os.Pipe()
			defer sr.Close()
			defer cw.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lf, _ := ln.(*net.TCPListener).File()
			ln.Close()

			cmd := exec.Command(bin, "-test.run=^$")
			cmd.Env = append(os.Environ(), env...)
			cmd.ExtraFiles = []*os.File{memfd, sw, cr, lf}
			stderr := &lockedBuffer{}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sw.Close()
			cr.Close()
			laddr := ln.Addr().String()
			lf.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-exited
			}()

			status := bufio.NewReader(sr)
			next := func() string {
				m, err := ipc.ReadMessage(status)
				if err != nil {
					t.Fatalf("status: %v; stderr: %s", err, stderr.String())
				}
				return m.String()
			}
			if got := next(); got != "ready 3" {
				t.Fatalf("first status %q", got)
			}
			if tc.privsep {
				r, _ := ipc.ParseRestrict(envValue(env, ipc.EnvRestrict))
				if err := r.Check(cmd.Process.Pid); err != nil {
					t.Errorf("Check: %v", err)
				}
			}
			c, br := dial(t, laddr)
			if got := readLine(t, br); got != "hi imap 3" {
				t.Fatalf("greeting %q", got)
			}
			readLine(t, br) // the greeter's own line
			switch tc.end {
			case "stop":
				ipc.WriteMessage(cw, ipc.Message{Verb: ipc.ControlStop})
				for next() != "done" {
				}
				c.Close()
			case "sigterm":
				cmd.Process.Signal(syscall.SIGTERM)
				if got := readLine(t, br); got != "BYE" {
					t.Fatalf("got %q, want BYE", got)
				}
			}
			select {
			case err := <-exited:
				exited <- err
				if err != nil {
					t.Fatalf("exit: %v; stderr: %s", err, stderr.String())
				}
			case <-time.After(testTimeout):
				t.Fatal("service did not exit")
			}
		})
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)+1] == key+"=" {
			return kv[len(key)+1:]
		}
	}
	return ""
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf: exec's copier writes while the test reads
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
