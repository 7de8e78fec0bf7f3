package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
)

// HandoffSocket returns the post-login service's socket for proto
// ("imap", "pop3") relative to base_dir: login/<proto>, inside the login
// chroot directory, which only login processes can traverse
// (ARCHITECTURE.md, contract 4).
func HandoffSocket(proto string) string { return "login/" + proto }

// HandoffSocketPath returns the handoff socket of proto for a login
// service of cfg whose chroot is chroot, as the process sees it.
func HandoffSocketPath(cfg *settings.Config, chroot, proto string) string {
	return ChrootPath(chroot, filepath.Join(cfg.Root.Get("base_dir"), HandoffSocket(proto)))
}

// proxyWriteTimeout bounds one write to a proxied TLS client. The
// post-login process has its own write timeout on the socketpair, but a
// write blocked here would hold the client slot after the post-login side
// gave up; a client that reads nothing for five minutes is gone.
const proxyWriteTimeout = 5 * time.Minute

// ErrHandoff is wrapped by every error of Handoff: the post-login service
// is not running, refused the record, or did not acknowledge it. The
// client still belongs to the login process, which answers it.
var ErrHandoff = errors.New("login: post-login service unavailable")

// Handoff passes the authenticated client to the post-login service whose
// socket is path: ex is the finished AUTH exchange (its id, the auth
// connection's SPID and COOKIE go in the record for the post-login
// process to redeem on auth-master), tag the command to answer, preamble
// the client bytes read but not consumed.
//
// Without TLS the client socket itself is passed and Handoff returns a nil
// Proxy once the post-login process acknowledged it; the caller then
// closes its copy. With TLS this process keeps the TLS session: it passes
// one end of a socketpair, and the caller runs the returned Proxy, which
// copies plaintext between the client and the other end until both
// directions are closed or ctx is cancelled (service shutdown); the
// client's slot stays taken meanwhile. An error wrapping ErrHandoff means
// the client was not handed off and can still be answered; any other
// error means the post-login process owns the client.
func (c *Client) Handoff(ctx context.Context, path string, ex *authproto.Exchange, tag string, preamble []byte) (*Proxy, error) {
	// From here on the client is not evicted (EvictOldest): it is
	// logged in. A client evicted just before is not handed off.
	if !c.markLoggedIn(true) {
		return nil, fmt.Errorf("%w: the client was evicted", ErrHandoff)
	}
	p, err := c.handoff(ctx, path, ex, tag, preamble)
	if errors.Is(err, ErrHandoff) {
		c.markLoggedIn(false)
	}
	return p, err
}

func (c *Client) handoff(ctx context.Context, path string, ex *authproto.Exchange, tag string, preamble []byte) (*Proxy, error) {
	ac := ex.Client()
	rec := &ipc.Handoff{
		SessionID: c.ID,
		AuthPID:   ac.ServerPID(),
		ClientPID: os.Getpid(),
		AuthID:    ex.ID(),
		Cookie:    ac.Cookie(),
		Local:     c.Local,
		Remote:    c.Remote,
		TLS:       c.TLS(),
		Tag:       tag,
		Preamble:  preamble,
	}
	dctx, cancel := context.WithTimeout(ctx, ipc.HandoffTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandoff, err)
	}
	hc := nc.(*net.UnixConn)
	defer hc.Close()
	_ = hc.SetDeadline(time.Now().Add(ipc.HandoffTimeout))
	stop := context.AfterFunc(ctx, func() { _ = hc.SetDeadline(time.Now()) })
	defer stop()

	if !rec.TLS {
		sc, ok := c.raw.(syscall.Conn)
		if !ok {
			return nil, fmt.Errorf("%w: connection %T has no descriptor", ErrHandoff, c.raw)
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHandoff, err)
		}
		var serr error
		// Control keeps the descriptor open while it is sent.
		if err := rc.Control(func(fd uintptr) { serr = ipc.SendHandoff(hc, rec, int(fd)) }); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHandoff, err)
		}
		if serr != nil {
			return nil, fmt.Errorf("%w: %v", ErrHandoff, serr)
		}
		return nil, nil
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: socketpair: %v", ErrHandoff, err)
	}
	mine := os.NewFile(uintptr(fds[0]), "login-proxy")
	serr := ipc.SendHandoff(hc, rec, fds[1])
	unix.Close(fds[1])
	if serr != nil {
		mine.Close()
		return nil, fmt.Errorf("%w: %v", ErrHandoff, serr)
	}
	pc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		// The post-login process holds the other end and will see EOF.
		return nil, fmt.Errorf("login: proxy socket: %v", err)
	}
	return &Proxy{c: c, post: pc.(*net.UnixConn)}, nil
}

// Proxy is a handed-off TLS client: the login process relays between the
// client's TLS session and the post-login process.
type Proxy struct {
	c    *Client
	post *net.UnixConn
}

// Run proxies until both directions ended or ctx is cancelled.
func (p *Proxy) Run(ctx context.Context) { p.c.proxy(ctx, p.post) }

// proxy copies plaintext between the TLS client and the post-login
// process's end of the socketpair in both directions. EOF in one
// direction is passed on as a half-close (TLS close_notify towards the
// client, shutdown(SHUT_WR) towards the post-login process); proxy
// returns when both directions ended.
func (c *Client) proxy(ctx context.Context, post *net.UnixConn) {
	defer post.Close()
	client := c.Conn()
	// The pre-login deadlines end here: the post-login process times the
	// session out itself. A cancelled ctx still interrupts (Client.interrupt
	// sets the deadline on the raw connection).
	c.setReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = post.SetDeadline(time.Now()) })
	defer stop()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// client -> post-login
		_, _ = io.Copy(post, client)
		_ = post.CloseWrite()
	}()
	// post-login -> client
	_, _ = io.Copy(&deadlineWriter{c: c, w: client}, post)
	if cw, ok := client.(interface{ CloseWrite() error }); ok {
		c.PrepareBye()
		_ = cw.CloseWrite()
	}
	// The post-login side is done: whatever the client still sends has no
	// reader. A short deadline ends the other direction.
	c.mu.Lock()
	_ = c.raw.SetReadDeadline(time.Now().Add(c.srv.cfg.Timeouts.Bye))
	c.mu.Unlock()
	wg.Wait()
}

// deadlineWriter sets a write deadline before each write to the client.
type deadlineWriter struct {
	c *Client
	w io.Writer
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.c.setWriteDeadline(time.Now().Add(proxyWriteTimeout))
	return d.w.Write(p)
}

// SocketPaths returns the auth-client and handoff socket paths the login
// service of proto (imap-login for "imap") uses, as the process sees them
// inside its chroot; a non-empty override wins (tests).
func SocketPaths(cfg *settings.Config, proto, authOverride, handoffOverride string) (auth, handoff string) {
	chroot := ""
	for _, svc := range cfg.Services() {
		if svc.Name == proto+"-login" {
			chroot = svc.Chroot
		}
	}
	auth, handoff = authOverride, handoffOverride
	if auth == "" {
		auth = AuthSocketPath(cfg, chroot)
	}
	if handoff == "" {
		handoff = HandoffSocketPath(cfg, chroot, proto)
	}
	return auth, handoff
}
