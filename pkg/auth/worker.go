package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/passwd"
)

// The auth-worker protocol: one TAB-separated line per request and per
// reply, escaped as the auth protocols are (authproto.FormatLine), on the
// root-only auth-worker socket.
//
//	<id> SHADOW <user> <password>                          verify against the shadow file
//	<id> PAM <service> <user> <password> <proto> <rip> <flags>   PAM authenticate + acct_mgmt
//	<id> OK | <id> FAIL [<message>] | <id> NOTFOUND | <id> TEMP <message>
//
// Requests on one connection may be answered out of order; the id matches
// them. The shadow hash never leaves the worker: it verifies, so the
// unprivileged auth process never holds a system user's hash.
const (
	workerShadow   = "SHADOW"
	workerPAM      = "PAM"
	workerOK       = "OK"
	workerFail     = "FAIL"
	workerNotFound = "NOTFOUND"
	workerTemp     = "TEMP"
)

// workerTimeout bounds one worker request. PAM modules may talk to remote
// services; Dovecot's auth_worker default request timeout is 60 s
// (AUTH_WORKER_WAIT_TIMEOUT... its "auth worker request timed out" limit).
const workerTimeout = 60 * time.Second

// workerClient calls the auth-worker. Each call dials the socket: the
// master spawns the worker on demand, and a worker that died takes only
// the requests in flight with it.
type workerClient struct {
	path string
	seq  atomic.Uint32
}

func (w *workerClient) call(ctx context.Context, args ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, workerTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", w.path)
	if err != nil {
		return nil, fmt.Errorf("auth-worker: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	id := strconv.FormatUint(uint64(w.seq.Add(1)), 10)
	conn := authproto.NewConn(c)
	if err := conn.WriteLine(append([]string{id}, args...)...); err != nil {
		return nil, fmt.Errorf("auth-worker: %w", err)
	}
	reply, err := conn.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("auth-worker: %w", err)
	}
	if len(reply) < 2 || reply[0] != id {
		return nil, errors.New("auth-worker: malformed reply")
	}
	return reply[1:], nil
}

// PAMRequest is one PAM authentication the worker runs.
type PAMRequest struct {
	Service  string // PAM service name (/etc/pam.d/<Service>)
	User     string
	Password string
	Protocol string // the mail protocol, PAM_SERVICE's caller ("imap")
	RemoteIP string // PAM_RHOST
	// Session opens and closes a PAM session (session=yes), Setcred calls
	// pam_setcred (setcred=yes), ShowMsg returns the module's failure
	// message to the client (failure_show_msg=yes).
	Session, Setcred, ShowMsg bool
}

// PAMFunc authenticates with PAM. It returns ok, a failure message (only
// used with ShowMsg), notFound for PAM_USER_UNKNOWN, and err for anything
// that is not the user's fault.
type PAMFunc func(r PAMRequest) (ok, notFound bool, msg string, err error)

// ErrNoPAM is what a worker built without PAM answers a PAM request with.
var ErrNoPAM = errors.New("auth-worker was built without PAM")

// WorkerServer serves the auth-worker protocol (cmd/auth-worker).
type WorkerServer struct {
	log *zap.Logger
	pam PAMFunc
	sem chan struct{} // bounds concurrent requests over all connections
	// shadowPath is /etc/shadow; tests point it elsewhere.
	shadowPath string
	// dummies counts dummy verifications for unknown users (tests).
	dummies atomic.Int64
}

// NewWorkerServer returns a worker that runs at most limit requests at
// once; pam nil means the binary has no PAM.
func NewWorkerServer(log *zap.Logger, limit int, pam PAMFunc) *WorkerServer {
	if limit < 1 {
		limit = 1
	}
	return &WorkerServer{log: log, pam: pam, sem: make(chan struct{}, limit), shadowPath: "/etc/shadow"}
}

// ServeConn serves one connection until EOF, a malformed line or ctx ends.
func (s *WorkerServer) ServeConn(ctx context.Context, c net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	conn := authproto.NewConn(c)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		args, err := conn.ReadLine()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Warn("auth-worker: closing connection", zap.Error(errClass(err)))
			}
			return
		}
		if len(args) < 2 {
			s.log.Warn("auth-worker: malformed request; closing connection")
			return
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.sem }()
			reply := s.handle(args[1:])
			_ = conn.WriteLine(append([]string{args[0]}, reply...)...)
		}()
	}
}

func (s *WorkerServer) handle(args []string) []string {
	switch {
	case args[0] == workerShadow && len(args) == 3:
		return s.shadow(args[1], args[2])
	case args[0] == workerPAM && len(args) == 7:
		if s.pam == nil {
			return []string{workerTemp, ErrNoPAM.Error()}
		}
		flags := "," + args[6] + ","
		ok, notFound, msg, err := s.pam(PAMRequest{Service: args[1], User: args[2], Password: args[3], Protocol: args[4], RemoteIP: args[5],
			Session: strings.Contains(flags, ",session,"), Setcred: strings.Contains(flags, ",setcred,"), ShowMsg: strings.Contains(flags, ",failure_show_msg,")})
		switch {
		case err != nil:
			s.log.Error("auth-worker: pam failed", zap.String("pam_service", args[1]), zap.Error(err))
			return []string{workerTemp, "PAM failed"}
		case ok:
			return []string{workerOK}
		case notFound:
			return []string{workerNotFound}
		default:
			return []string{workerFail, msg}
		}
	default:
		return []string{workerTemp, "unknown request"}
	}
}

// shadow verifies password against user's hash in the shadow file. An
// unknown user and a locked account ("!", "*") still cost a verification.
func (s *WorkerServer) shadow(user, password string) []string {
	hash, found, err := lookupShadow(s.shadowPath, user)
	if err != nil {
		s.log.Error("auth-worker: shadow", zap.Error(err))
		return []string{workerTemp, "shadow lookup failed"}
	}
	if !found {
		s.dummies.Add(1)
		_, _ = passwd.Verify(passwd.Dummy("SHA512-CRYPT"), "CRYPT", user, password)
		return []string{workerNotFound}
	}
	ok, err := passwd.Verify(hash, "CRYPT", user, password)
	if err != nil {
		// A locked or disabled account, or a scheme we do not know:
		// a mismatch, after the same work as a real check.
		s.dummies.Add(1)
		_, _ = passwd.Verify(passwd.Dummy("SHA512-CRYPT"), "CRYPT", user, password)
		return []string{workerFail}
	}
	if !ok {
		return []string{workerFail}
	}
	return []string{workerOK}
}

// lookupShadow returns user's hash from a shadow(5) file.
func lookupShadow(path, user string) (string, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxPasswdFileLine)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != user {
			continue
		}
		hash, _, _ := strings.Cut(rest, ":")
		return hash, true, nil
	}
	return "", false, sc.Err()
}
