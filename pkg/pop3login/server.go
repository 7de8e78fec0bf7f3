package pop3login

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/login"
	"github.com/cote-mail/cote/pkg/pop3"
	"github.com/cote-mail/cote/pkg/settings"
)

// maxBadCommands is Dovecot's CLIENT_MAX_BAD_COMMANDS of pop3-login: the
// third unknown command in a row ends the session (a recognised command
// resets the count, as there).
const maxBadCommands = 3

// Options tune a Server; the zero value is production.
type Options struct {
	// Timeouts override the login core's defaults (tests shorten them).
	Timeouts login.Timeouts
	// AuthPath is the auth-client socket; "" means base_dir's
	// login/auth-client as this process sees it (inside its chroot).
	AuthPath string
	// HandoffPath is the pop3 service's handoff socket; "" means
	// base_dir's login/pop3 as this process sees it.
	HandoffPath string
	// Hostname is the host part of the APOP timestamp; "" means the
	// system's host name.
	Hostname string
}

// Server serves pop3-login clients.
type Server struct {
	login.Frontend
	greeting string
	mechs    []string // auth_mechanisms, upper-cased, in configured order
	hostname string
}

// New builds the pop3-login server from the settings of protocol pop3.
func New(cfg *settings.Config, log *zap.Logger, opts Options) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	lc, err := login.ConfigFrom(cfg, "pop3", log)
	if err != nil {
		return nil, err
	}
	lc.Timeouts = opts.Timeouts
	sec := cfg.Protocol("pop3")
	s := &Server{greeting: sec.Get("login_greeting"), hostname: opts.Hostname}
	s.mechs = login.Mechanisms(sec.List("auth_mechanisms"))
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
		if s.hostname == "" {
			s.hostname = "localhost"
		}
	}
	s.Frontend = login.NewFrontend(cfg, "pop3", lc, log, opts.AuthPath, opts.HandoffPath, s.session)
	return s, nil
}

// session is one client's conversation.
type session struct {
	srv   *Server
	ctx   context.Context
	c     *login.Client
	r     *pop3.Reader
	w     *pop3.Writer
	bad   int
	auths int // PASS/APOP/AUTH attempts, for the disconnect log line
	start time.Time
	// user is the name of the last USER command, waiting for PASS.
	user    string
	hasUser bool
	// apop is the greeting's timestamp, "" when APOP is not offered.
	apop string
}

// reply is a handler's failure: one "-ERR [code] text" line. unknown
// marks a command that counts towards maxBadCommands.
type reply struct {
	code, text string
	unknown    bool
}

func (r *reply) Error() string { return r.text }

func errReply(code, text string) error { return &reply{code: code, text: text} }

// errClose ends the session after the handler wrote its last response.
var errClose = errors.New("close")

func (s *Server) session(ctx context.Context, c *login.Client) {
	conn := c.Conn()
	ss := &session{
		srv:   s,
		ctx:   ctx,
		c:     c,
		r:     pop3.NewReader(conn),
		w:     pop3.NewWriter(conn),
		start: time.Now(),
	}
	reason := ss.run()
	c.Log.Info("disconnected", zap.String("reason", reason),
		zap.Int("auth_attempts", ss.auths),
		zap.Duration("duration", time.Since(ss.start).Round(time.Millisecond)))
}

// flush writes the buffered responses. During shutdown it uses the short
// farewell deadline, so pending replies and the farewell still go out.
func (ss *session) flush() error {
	if ss.c.ShuttingDown() {
		ss.c.PrepareBye()
	} else {
		ss.c.PrepareWrite()
	}
	return ss.w.Flush()
}

// bye sends a last -ERR line and flushes it with a short deadline.
func (ss *session) bye(code, text string) {
	ss.w.Err(code, text)
	ss.c.PrepareBye()
	_ = ss.w.Flush()
}

// goneBye answers a client the service told to go (shutdown, or evicted
// from a full process) and returns the log reason.
func (ss *session) goneBye() string {
	text := ss.c.ByeText()
	ss.bye("", text)
	if text == login.TextQueueFull {
		return "connection queue full"
	}
	return "shutdown"
}

// apopTimestamp makes the RFC 1939 §7 timestamp, a msg-id unique to this
// connection: the process id, the time, 64 random bits (two connections
// in one second must not share it, or a digest seen on one could be
// replayed on the other) and the host name, as Dovecot's
// "<pid.cuid.time.random@host>".
func (ss *session) apopTimestamp() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return fmt.Sprintf("<%x.%x.%s@%s>", os.Getpid(), time.Now().Unix(), hex.EncodeToString(b[:]), ss.srv.hostname)
}

// run is the command loop; it returns the reason the session ended.
func (ss *session) run() string {
	greeting := ss.srv.greeting
	if ss.apopAvailable() {
		ss.apop = ss.apopTimestamp()
		greeting += " " + ss.apop
	}
	ss.w.OK("%s", greeting)
	for {
		// Flush only when no complete command is waiting: a pipelined
		// burst is answered with one write (RFC 2449 §6.6).
		if !ss.r.HasLine() {
			if err := ss.flush(); err != nil {
				return ss.ioReason(err)
			}
		}
		if ss.c.ShuttingDown() {
			return ss.goneBye()
		}
		ss.c.PrepareRead()
		cmd, err := ss.r.ReadCommand()
		if errors.Is(err, pop3.ErrLineTooLong) {
			err = &reply{text: "Input line too long.", unknown: true}
		} else if err != nil {
			return ss.ioReason(err)
		} else {
			err = ss.dispatch(cmd)
		}
		if err == nil {
			ss.bad = 0
			continue
		}
		if errors.Is(err, errClose) {
			_ = ss.flush()
			return strings.ToLower(cmd.Name)
		}
		if errors.Is(err, errHandedOff) {
			return "logged in"
		}
		var rp *reply
		if errors.As(err, &rp) {
			if !rp.unknown {
				ss.bad = 0
				ss.w.Err(rp.code, rp.text)
				continue
			}
			ss.bad++
			if ss.bad >= maxBadCommands {
				ss.bye("", "Too many invalid bad commands.")
				return "too many invalid commands"
			}
			ss.w.Err(rp.code, rp.text)
			continue
		}
		// An I/O error inside a handler (flush, TLS handshake).
		return ss.ioReason(err)
	}
}

// ioReason turns a connection error into a log reason, saying goodbye
// where the client can still hear it.
func (ss *session) ioReason(err error) string {
	switch {
	case ss.c.ShuttingDown():
		return ss.goneBye()
	case ss.c.IsTimeout(err):
		ss.bye("", "Disconnected for inactivity.")
		return "inactivity"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "client closed the connection"
	}
	return "connection error: " + err.Error()
}

// handler runs one command. It writes its +OK response itself and
// returns a *reply for a failure.
type handler func(ss *session, cmd pop3.Command) error

// commands is the AUTHORIZATION state's command table (RFC 1939 §4, §7;
// CAPA from RFC 2449, STLS from RFC 2595, AUTH from RFC 5034).
var commands = map[string]handler{
	"CAPA": cmdCapa,
	"USER": cmdUser,
	"PASS": cmdPass,
	"APOP": cmdAPOP,
	"AUTH": cmdAuth,
	"STLS": cmdSTLS,
	"QUIT": cmdQuit,
	"RPOP": cmdRPOP,
}

func (ss *session) dispatch(cmd pop3.Command) error {
	if h, ok := commands[cmd.Name]; ok {
		return h(ss, cmd)
	}
	// Transaction-state commands (NOOP, STAT, RETR...) included: RFC 1939
	// allows none of them before login, and Dovecot answers them so.
	return &reply{text: "Unknown command.", unknown: true}
}
