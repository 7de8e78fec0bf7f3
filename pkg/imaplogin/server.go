package imaplogin

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/login"
	"github.com/cote-mail/cote/pkg/settings"
)

// maxBadCommands is Dovecot's CLIENT_MAX_BAD_COMMANDS for login processes:
// a client that gets three BAD replies before login is not a mail client
// having a bad day.
const maxBadCommands = 3

// limits are the reader limits before login. A literal carries at most a
// user name or a password; Dovecot caps SASL data at 8 KiB
// (LOGIN_MAX_AUTH_BUF_SIZE).
var limits = imap.Limits{
	MaxLine:    imap.DefaultMaxLine,
	MaxLiteral: 8 * 1024,
	MaxCommand: imap.DefaultMaxLine + 16*1024,
}

// Options tune a Server; the zero value is production.
type Options struct {
	// Timeouts override the login core's defaults (tests shorten them).
	Timeouts login.Timeouts
	// AuthPath is the auth-client socket; "" means base_dir's
	// login/auth-client as this process sees it (inside its chroot).
	AuthPath string
	// HandoffPath is the imap service's handoff socket; "" means
	// base_dir's login/imap as this process sees it.
	HandoffPath string
}

// Server serves imap-login clients.
type Server struct {
	login.Frontend
	greeting string
	mechs    []string // auth_mechanisms, upper-cased, in configured order
	// capOverride is imap_capability: as in Dovecot's imap-login it
	// adds to ("+...") or replaces the base list; STARTTLS,
	// LOGINDISABLED and AUTH= are still added per connection.
	capOverride string
}

// New builds the imap-login server from the settings of protocol imap.
func New(cfg *settings.Config, log *zap.Logger, opts Options) (*Server, error) {
	lc, err := login.ConfigFrom(cfg, "imap", log)
	if err != nil {
		return nil, err
	}
	lc.Timeouts = opts.Timeouts
	sec := cfg.Protocol("imap")
	s := &Server{greeting: sec.Get("login_greeting"), capOverride: sec.Get("imap_capability")}
	s.mechs = login.Mechanisms(sec.List("auth_mechanisms"))
	s.Frontend = login.NewFrontend(cfg, "imap", lc, log, opts.AuthPath, opts.HandoffPath, s.session)
	return s, nil
}

// session is one client's conversation.
type session struct {
	srv      *Server
	ctx      context.Context
	c        *login.Client
	r        *imap.Reader
	w        *imap.Writer
	bad      int
	idLogged bool
	auths    int // LOGIN/AUTHENTICATE attempts, for the disconnect log line
	start    time.Time
}

// reply is a handler's failure: it becomes one tagged response.
type reply struct {
	status string // "BAD" or "NO"
	code   string
	text   string
}

func (r *reply) Error() string { return r.status + " " + r.text }

func bad(text string) error      { return &reply{status: "BAD", text: text} }
func no(code, text string) error { return &reply{status: "NO", code: code, text: text} }
func badArgs() error             { return bad("Invalid arguments.") }
func noArgs(cmd *imap.Command) error {
	if len(cmd.Args) > 0 {
		return bad("Unexpected arguments.")
	}
	return nil
}

// errClose ends the session after the handler wrote its last response.
var errClose = errors.New("close")

func (s *Server) session(ctx context.Context, c *login.Client) {
	conn := c.Conn()
	ss := &session{
		srv:   s,
		ctx:   ctx,
		c:     c,
		r:     imap.NewReader(conn, limits),
		w:     imap.NewWriter(conn),
		start: time.Now(),
	}
	ss.r.Continue = ss.continueLiteral
	reason := ss.run()
	c.Log.Info("disconnected", zap.String("reason", reason),
		zap.Int("auth_attempts", ss.auths),
		zap.Duration("duration", time.Since(ss.start).Round(time.Millisecond)))
}

// continueLiteral accepts a synchronizing literal within the limits.
func (ss *session) continueLiteral(tag, name string, size int64) error {
	ss.w.Continue("OK")
	return ss.flush()
}

// flush writes the buffered responses. During shutdown it uses the short
// farewell deadline, so pending replies and the BYE still go out.
func (ss *session) flush() error {
	if ss.c.ShuttingDown() {
		ss.c.PrepareBye()
	} else {
		ss.c.PrepareWrite()
	}
	return ss.w.Flush()
}

// goneBye says BYE to a client the service told to go (shutdown, or
// evicted from a full process) and returns the log reason.
func (ss *session) goneBye() string {
	text := ss.c.ByeText()
	ss.bye(text)
	if text == login.TextQueueFull {
		return "connection queue full"
	}
	return "shutdown"
}

// bye sends an untagged BYE and flushes it with a short deadline.
func (ss *session) bye(text string) {
	ss.w.Untagged("BYE " + text)
	ss.c.PrepareBye()
	_ = ss.w.Flush()
}

// run is the command loop; it returns the reason the session ended.
func (ss *session) run() string {
	ss.w.Untagged("OK [CAPABILITY " + ss.capability() + "] " + ss.srv.greeting)
	for {
		// Flush only when no complete command is waiting: a pipelined
		// burst is answered with one write.
		if !ss.r.Pipelined() {
			if err := ss.flush(); err != nil {
				return ss.ioReason(err)
			}
		}
		if ss.c.ShuttingDown() {
			return ss.goneBye()
		}
		ss.c.PrepareRead()
		cmd, err := ss.r.ReadCommand()
		if err != nil {
			if reason, done := ss.readError(err); done {
				return reason
			}
			continue
		}
		err = ss.dispatch(cmd)
		if err == nil {
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
			if rp.status == "BAD" {
				if ss.countBad() {
					return "too many invalid commands"
				}
			}
			ss.w.Tagged(cmd.Tag, rp.status, rp.code, rp.text)
			continue
		}
		// An I/O error inside a handler (flush, TLS handshake).
		return ss.ioReason(err)
	}
}

// countBad counts a BAD reply; at the limit it says BYE instead, as
// Dovecot does, and reports that the session is over.
func (ss *session) countBad() bool {
	ss.bad++
	if ss.bad >= maxBadCommands {
		ss.bye("Too many invalid IMAP commands.")
		return true
	}
	return false
}

// readError answers a failed read. done reports that the session is over.
func (ss *session) readError(err error) (reason string, done bool) {
	var se *imap.SyntaxError
	var le *imap.LiteralError
	var fe *imap.FatalError
	switch {
	case errors.As(err, &se):
		if ss.countBad() {
			return "too many invalid commands", true
		}
		ss.w.Tagged(se.Tag, "BAD", "", "Error in IMAP command received by server: "+se.Msg+".")
		return "", false
	case errors.As(err, &le):
		if ss.countBad() {
			return "too many invalid commands", true
		}
		text := "Literal refused."
		if errors.Is(le.Err, imap.ErrLiteralTooLarge) {
			text = "Literal too large."
		}
		ss.w.Tagged(le.Tag, "BAD", "", text)
		return "", false
	case errors.As(err, &fe):
		if fe.Tag != "" {
			// RFC 7888 §5: a command whose non-synchronizing literal is
			// refused is answered with its tag, then the connection
			// closes (the literal data is already on the way), as the
			// post-login engine does.
			ss.w.Tagged(fe.Tag, "BAD", fe.Code, fe.Msg)
			ss.c.PrepareBye()
			_ = ss.w.Flush()
		} else {
			ss.bye(fe.Msg)
		}
		ss.c.Drain()
		return strings.ToLower(fe.Msg), true
	}
	return ss.ioReason(err), true
}

// ioReason turns a connection error into a log reason, saying BYE where
// the client can still hear it.
func (ss *session) ioReason(err error) string {
	switch {
	case ss.c.ShuttingDown():
		return ss.goneBye()
	case ss.c.IsTimeout(err):
		ss.bye("Disconnected for inactivity.")
		return "inactivity"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "client closed the connection"
	}
	return "connection error: " + err.Error()
}

// handler runs one command. It writes its untagged and tagged OK
// responses itself and returns a *reply for a failure.
type handler func(ss *session, cmd *imap.Command) error

// commands is the not-authenticated state's command table (RFC 9051 §6.1,
// §6.2; ID from RFC 2971).
var commands = map[string]handler{
	"CAPABILITY":   cmdCapability,
	"NOOP":         cmdNoop,
	"LOGOUT":       cmdLogout,
	"ID":           cmdID,
	"STARTTLS":     cmdStartTLS,
	"LOGIN":        cmdLogin,
	"AUTHENTICATE": cmdAuthenticate,
}

// authenticatedOnly are commands of the authenticated and selected states
// (RFC 9051 §6.3, §6.4 and common extensions): known, but not before login.
var authenticatedOnly = map[string]bool{
	"SELECT": true, "EXAMINE": true, "CREATE": true, "DELETE": true, "RENAME": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "LIST": true, "LSUB": true, "NAMESPACE": true,
	"STATUS": true, "APPEND": true, "IDLE": true, "ENABLE": true, "CHECK": true,
	"CLOSE": true, "UNSELECT": true, "EXPUNGE": true, "SEARCH": true, "FETCH": true,
	"STORE": true, "COPY": true, "MOVE": true, "UID": true, "GETQUOTA": true,
	"GETQUOTAROOT": true, "SETQUOTA": true, "GETACL": true, "SETACL": true, "MYRIGHTS": true,
	"LISTRIGHTS": true, "DELETEACL": true, "GETMETADATA": true, "SETMETADATA": true,
	"SORT": true, "THREAD": true, "NOTIFY": true, "COMPRESS": true,
}

func (ss *session) dispatch(cmd *imap.Command) error {
	if h, ok := commands[cmd.Name]; ok {
		return h(ss, cmd)
	}
	if authenticatedOnly[cmd.Name] {
		return bad("Command not permitted in this state.")
	}
	if strings.EqualFold(cmd.Tag, "LOGIN") {
		// "LOGIN user pass" without a tag: say what went wrong, as
		// Dovecot does for people typing into telnet.
		return bad("First parameter in line is IMAP's command tag, not the command name. Add that before the command, like: a login user pass")
	}
	return bad("Unknown command.")
}
