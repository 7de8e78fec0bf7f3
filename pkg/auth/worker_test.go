package auth

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cote-mail/cote/pkg/passwd"
)

// startWorker serves a WorkerServer on a unix socket with a test shadow
// file and pam function.
func startWorker(t *testing.T, shadow string, pam PAMFunc) (string, *WorkerServer) {
	t.Helper()
	dir := t.TempDir()
	w := NewWorkerServer(nopLog(), 4, pam)
	w.shadowPath = writeFile(t, dir, "shadow", shadow)
	sock := filepath.Join(dir, "auth-worker")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var cw sync.WaitGroup
		defer cw.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cw.Add(1)
			go func() {
				defer cw.Done()
				defer c.Close()
				w.ServeConn(ctx, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait()
	})
	return sock, w
}

func TestWorkerShadowAndPAM(t *testing.T) {
	h, err := passwd.Hash("SHA512-CRYPT", "", "right", passwd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	shadow := "root:*:19000:0:99999:7:::\nalice:" + h + ":19000:0:99999:7:::\nlocked:!" + h + ":19000::::::\n"
	pam := func(r PAMRequest) (bool, bool, string, error) {
		switch {
		case r.User == "nobody":
			return false, true, "", nil
		case r.Password == "right" && r.Service == "cote-test" && r.Protocol == "imap" && r.RemoteIP == "192.0.2.1" && r.Session && !r.Setcred:
			return true, false, "", nil
		}
		return false, false, "Account expired", nil
	}
	sock, w := startWorker(t, shadow, pam)
	ctx := context.Background()
	sh, _ := newShadowPass("", &workerClient{path: sock})
	pm, err := newPAMPass("session=yes failure_show_msg=yes cote-test", &workerClient{path: sock})
	if err != nil {
		t.Fatal(err)
	}
	req := func(u string) *Request {
		return &Request{User: u, Service: "imap", Remote: mustAddrPort("192.0.2.1:1")}
	}
	tests := []struct {
		name   string
		db     *workerPassDB
		user   string
		pw     string
		want   Result
		dummy  bool
		reason string
	}{
		{"shadow right", sh, "alice", "right", ResultOK, false, ""},
		{"shadow wrong", sh, "alice", "wrong", ResultMismatch, false, ""},
		{"shadow unknown", sh, "nobody", "right", ResultUnknown, true, ""},
		{"shadow locked", sh, "locked", "right", ResultMismatch, true, ""},
		{"pam right", pm, "alice", "right", ResultOK, false, ""},
		{"pam wrong", pm, "alice", "wrong", ResultMismatch, false, "Account expired"},
		{"pam unknown", pm, "nobody", "x", ResultUnknown, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := w.dummies.Load()
			f, res, err := tc.db.verifyPlain(ctx, req(tc.user), tc.pw)
			if res != tc.want || err != nil {
				t.Fatalf("got %v %v, want %v", res, err, tc.want)
			}
			if (w.dummies.Load() > before) != tc.dummy {
				t.Errorf("dummy verification: %v, want %v", w.dummies.Load() > before, tc.dummy)
			}
			if r, _ := fieldGet(f, "reason"); r != tc.reason {
				t.Errorf("reason %q, want %q", r, tc.reason)
			}
		})
	}

	// A worker without PAM says so.
	sock2, _ := startWorker(t, shadow, nil)
	pm2, _ := newPAMPass("cote-test", &workerClient{path: sock2})
	_, res, err := pm2.verifyPlain(ctx, req("alice"), "right")
	if res != ResultInternal || err == nil || err.Error() != "auth-worker pam: auth-worker was built without PAM" {
		t.Errorf("no PAM: %v %v", res, err)
	}
	// No worker at all: internal failure, not a crash.
	dead, _ := newShadowPass("", &workerClient{path: filepath.Join(t.TempDir(), "none")})
	if _, res, _ := dead.verifyPlain(ctx, req("alice"), "right"); res != ResultInternal {
		t.Errorf("worker down: %v", res)
	}
}
