package imapd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/membudget"
	"github.com/cote-mail/cote/pkg/storage"
)

// Defaults of Config.
const (
	// DefaultIdleTimeout is RFC 9051 §5.4's minimum autologout timer (30
	// minutes); IDLE is exempt, it keeps the connection alive.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultKeepalive is how often an idling client gets "* OK Still
	// here": Dovecot's imap_idle_notify_interval (2 minutes), short enough
	// for NAT boxes that forget idle TCP flows.
	DefaultKeepalive = 2 * time.Minute
	// DefaultWriteTimeout bounds one flush to a client that stopped
	// reading.
	DefaultWriteTimeout = 5 * time.Minute
	// maxBadCommands is Dovecot's CLIENT_MAX_BAD_COMMANDS after login:
	// 20 BAD replies in a row end the session.
	maxBadCommands = 20
)

// Config is what a Session needs from the settings.
type Config struct {
	// Limits bound the command reader. APPEND's message literals are
	// streamed into the store and bounded by AppendLimit instead of
	// MaxLiteral and MaxCommand, which only cap what is held in memory.
	Limits imap.Limits
	// AppendLimit is the APPENDLIMIT (RFC 7889) advertised and enforced:
	// the quota plugin's quota_max_mail_size. Zero or less is no limit,
	// and then no APPENDLIMIT is advertised.
	AppendLimit int64
	// IdleTimeout closes a session that sent nothing for this long
	// (outside IDLE).
	IdleTimeout time.Duration
	// Keepalive is the interval of untagged OKs during IDLE.
	Keepalive time.Duration
	// WriteTimeout bounds each flush.
	WriteTimeout time.Duration
	// Quota enables QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and SETQUOTA
	// (always refused: limits come from the configuration). Dovecot's
	// imap_quota plugin.
	Quota bool
	// Compress enables COMPRESS=DEFLATE (RFC 4978): Dovecot's imap_zlib
	// plugin.
	Compress bool
	// Metadata enables METADATA (RFC 5464, metadata.go): Dovecot's
	// imap_metadata = yes. Entries are kept by the mail store itself, so
	// nothing like Dovecot's mail_attribute_dict is needed.
	Metadata bool
	// Budget bounds the memory sessions hold at once in large transient
	// buffers (decoded BINARY parts, decoded text SEARCH scans); nil is
	// the process's (membudget.Process, half of GOMEMLIMIT).
	Budget *membudget.Budget
	// Capability is Dovecot's imap_capability: "+NAME ..." adds to the
	// CAPABILITY list, anything else but "" replaces it
	// (imap.OverrideCapabilities); commands are unchanged.
	Capability string
	// NotifyPoll is how often IDLE compares the other mailboxes with
	// the NOTIFY snapshot (notify5465.go); DefaultNotifyPoll if unset.
	NotifyPoll time.Duration
	// Log is used when NewSession gets a nil logger.
	Log *zap.Logger
}

func (c Config) withDefaults() Config {
	if c.AppendLimit < 0 {
		c.AppendLimit = 0
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Keepalive <= 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Limits.MaxLine <= 0 {
		c.Limits.MaxLine = imap.DefaultMaxLine
	}
	if c.NotifyPoll <= 0 {
		c.NotifyPoll = DefaultNotifyPoll
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return c
}

type state uint8

const (
	stateAuth state = 1 << iota
	stateSelected
	stateLogout
)

// Session is one authenticated client. It is used by one goroutine (the
// one that runs Serve).
type Session struct {
	cfg  Config
	user *storage.User
	conn net.Conn
	log  *zap.Logger

	r *imap.Reader
	w *imap.Writer

	state state
	mbox  storage.Mailbox // the selected mailbox in stateSelected
	// rev2 is set by ENABLE IMAP4rev2: RFC 9051 rules from then on (no
	// \Recent, ESEARCH answers to SEARCH, LIST rules).
	rev2 bool
	// searchRes is the SEARCHRES "$" variable (RFC 5182): UIDs, so a
	// later EXPUNGE does not shift it.
	searchRes []uint32
	// needSync asks the dispatcher to Sync after the command (a change to
	// the selected mailbox made by this session through another handle).
	needSync bool
	bad      int
	in       *flushReader
	// app is the APPEND being read: its messages are saved while the
	// command is parsed, and committed or aborted once it is complete.
	app *appendTx
	// mboxName is the full IMAP name the selected mailbox was opened by
	// (s.mbox.Name() is the store's name, without namespace mapping).
	mboxName string
	// z compresses the output after COMPRESS DEFLATE (compress.go).
	z *deflateWriter
	// condstore is set once a CONDSTORE-enabling command ran (RFC 7162
	// §3.1): FETCH responses then carry MODSEQ; qresync by ENABLE
	// QRESYNC (§3.2.3): VANISHED replaces EXPUNGE (condstore.go).
	condstore, qresync bool
	// cachePend are cache entries of the selected mailbox not stored yet
	// (deferCache, sortdata.go), cachePendSize their bytes.
	cachePend     []storage.CacheEntry
	cachePendSize int
	// notify is the NOTIFY SET in force (RFC 5465, notify5465.go).
	notify *notifyState
	// contexts are the RETURN (UPDATE) searches of the selected mailbox
	// (RFC 5267 §4.3, context5267.go); running is the command being
	// dispatched, whose message set contextsNoSync reads.
	contexts []*updateCtx
	running  *cmdCtx
}

// flushReader flushes the pending responses before it reads from the
// connection: the reader asks for more input only when no complete
// command is buffered, so this is the corking rule (and it holds for a
// pipelined blank line or half a command too). IDLE turns it off while
// its helper goroutine reads, since only the session goroutine writes.
type flushReader struct {
	r  io.Reader
	s  *Session
	on bool
	// pend and pendErr are what NOTIFY's wait for the next command read
	// from r (notifyWait): they are returned before r is read again.
	pend    []byte
	pendErr error
}

func (f *flushReader) pending() bool { return len(f.pend) > 0 || f.pendErr != nil }

func (f *flushReader) Read(p []byte) (int, error) {
	if len(f.pend) > 0 {
		n := copy(p, f.pend)
		f.pend = f.pend[n:]
		return n, nil
	}
	if err := f.pendErr; err != nil {
		f.pendErr = nil
		return 0, err
	}
	if f.on {
		if err := f.s.flush(); err != nil {
			return 0, err
		}
	}
	return f.r.Read(p)
}

// NewSession returns a session for user over conn. log may be nil (the
// Config's is used then).
func NewSession(cfg Config, user *storage.User, conn net.Conn, log *zap.Logger) *Session {
	cfg = cfg.withDefaults()
	if log == nil {
		log = cfg.Log
	}
	return &Session{cfg: cfg, user: user, conn: conn, log: log, state: stateAuth}
}

// errShutdown ends a session because its context was cancelled.
var errShutdown = errors.New("imapd: server shutting down")

// Serve runs the session until LOGOUT, an I/O error, the idle timeout or
// ctx's cancellation (which sends "* BYE Server shutting down."). The
// preamble is client input the login process already read; greetTag ""
// greets with "* PREAUTH", otherwise the pending LOGIN or AUTHENTICATE is
// answered with "greetTag OK [CAPABILITY ...] Logged in". Serve closes the
// selected mailbox but neither the connection nor the user.
func (s *Session) Serve(ctx context.Context, preamble []byte, greetTag string) error {
	// A message file truncated behind the store's back faults when its
	// mapping is read (storage.ReadBody): that becomes a panic of this
	// session, which the service recovers, not a crash of every session
	// the process serves.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var in io.Reader = s.conn
	if len(preamble) > 0 {
		in = io.MultiReader(bytes.NewReader(preamble), s.conn)
	}
	s.in = &flushReader{r: in, s: s, on: true}
	s.r = imap.NewReader(s.in, s.cfg.Limits)
	s.r.Continue = s.continueLiteral
	s.r.Stream = s.streamAppend
	s.w = imap.NewWriter(s.conn)
	defer s.closeMailbox()
	defer s.abortAppend()
	defer s.closeCompress()

	stop := context.AfterFunc(ctx, func() {
		// Unblocks a read; the loop then sees ctx done and says BYE.
		_ = s.conn.SetReadDeadline(time.Now())
	})
	defer stop()

	caps := strings.Join(s.capabilities(), " ")
	if greetTag == "" {
		s.w.Untagged("PREAUTH [CAPABILITY " + caps + "] Logged in as " + s.user.Name())
	} else {
		s.w.Tagged(greetTag, "OK", "CAPABILITY "+caps, "Logged in")
	}
	if err := s.flush(); err != nil {
		return err
	}
	for s.state != stateLogout {
		if ctx.Err() != nil {
			return s.bye("Server shutting down.", errShutdown)
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		// NOTIFY: events are sent while no command is in progress.
		if err := s.notifyWait(); err != nil {
			return err
		}
		cmd, err := s.r.ReadCommand()
		if err != nil {
			s.abortAppend()
			if ctx.Err() != nil {
				return s.bye("Server shutting down.", errShutdown)
			}
			if done, rerr := s.readError(err); done {
				return rerr
			}
		} else if err := s.dispatch(ctx, cmd); err != nil {
			s.abortAppend()
			if ctx.Err() != nil && errors.Is(err, errShutdown) {
				return s.bye("Server shutting down.", errShutdown)
			}
			return err
		}
		// A command other than APPEND never opens a transaction, and
		// APPEND takes its own: this is only a guard.
		s.abortAppend()
		if s.bad >= maxBadCommands {
			return s.bye("Too many invalid IMAP commands.", errors.New("imapd: too many bad commands"))
		}
		if !s.r.Pipelined() {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

// readError answers a failed ReadCommand; done reports that the session
// ends, with the error to return.
func (s *Session) readError(err error) (done bool, _ error) {
	var se *imap.SyntaxError
	var le *imap.LiteralError
	var fe *imap.FatalError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		s.bad++
		msg := se.Msg
		if se.Name != "" {
			msg = "Error in IMAP command " + se.Name + ": " + se.Msg
		}
		s.w.Tagged(se.Tag, "BAD", "", msg)
		return false, nil
	case errors.As(err, &le):
		if errors.Is(le.Err, imap.ErrTooManyLiterals) {
			// RFC 5530 LIMIT: the command was well-formed, a server
			// limit refused it; the client sent no literal data.
			s.w.Tagged(le.Tag, "NO", "LIMIT", "Too many literals.")
		} else if le.Name == "APPEND" && !errors.Is(le.Err, imap.ErrLiteralTooLarge) {
			// Refused by streamAppend or failed while saving: the
			// command's own error (TRYCREATE, TOOBIG, a store error).
			if err := s.respond(le.Tag, le.Name, le.Err); err != nil {
				return true, err
			}
		} else if errors.Is(le.Err, imap.ErrLiteralTooLarge) {
			if le.Name == "APPEND" {
				s.w.Tagged(le.Tag, "NO", "TOOBIG", "Message too large.")
			} else {
				s.w.Tagged(le.Tag, "BAD", "", "Literal too large.")
			}
		} else {
			s.w.Tagged(le.Tag, "BAD", "", "Literal refused.")
		}
		return false, nil
	case errors.As(err, &fe):
		if fe.Tag != "" {
			// RFC 7888 §5: the offending command is answered, then the
			// connection closes (its literal data is already on the way).
			s.w.Tagged(fe.Tag, "BAD", fe.Code, fe.Msg)
			_ = s.flush()
			s.state = stateLogout
			return true, err
		}
		return true, s.bye(fe.Msg, err)
	case errors.As(err, &ne) && ne.Timeout():
		return true, s.bye("Disconnected for inactivity.", err)
	}
	return true, err
}

// continueLiteral accepts a synchronizing literal within the limits
// (the reader checked them) with "+ OK".
func (s *Session) continueLiteral(tag, name string, size int64) error {
	s.w.Continue("OK")
	return s.flush()
}

// flush writes the buffered responses within the write timeout.
func (s *Session) flush() error {
	if s.w.Buffered() == 0 && (s.z == nil || !s.z.dirty) {
		return nil
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := s.w.Flush(); err != nil {
		return err
	}
	if s.z != nil {
		return s.z.Flush()
	}
	return nil
}

// bye says BYE and returns cause.
func (s *Session) bye(text string, cause error) error {
	s.w.Untagged("BYE " + text)
	_ = s.flush()
	s.state = stateLogout
	return cause
}

func (s *Session) closeMailbox() {
	s.flushCache()
	s.dropContexts()
	if s.mbox != nil {
		if err := s.mbox.Close(); err != nil {
			s.log.Warn("closing mailbox failed", zap.Error(err))
		}
		s.mbox = nil
	}
	if s.state == stateSelected {
		s.state = stateAuth
	}
}

// capabilities is the post-login CAPABILITY list: only what is fully
// implemented.
func (s *Session) capabilities() []string {
	caps := []string{
		"IMAP4rev1", "IMAP4rev2", s.literalCap(), "ENABLE", "IDLE", "NAMESPACE", "ID",
		"UIDPLUS", "MOVE", "CHILDREN", "UNSELECT", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "SEARCHRES", "STATUS=SIZE",
	}
	// RFC 7889 §2: "APPENDLIMIT=n" is a limit for every mailbox; the bare
	// APPENDLIMIT would promise per-mailbox limits in STATUS and LIST,
	// which there are not. Without a limit nothing is advertised.
	if s.cfg.AppendLimit > 0 {
		caps = append(caps, "APPENDLIMIT="+itoa64(s.cfg.AppendLimit))
	}
	caps = append(caps, "BINARY", "MULTIAPPEND",
		// Always on, as in Dovecot.
		"SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "THREAD=REFS")
	// Always on, as in Dovecot: the store keeps modseqs and expunged UIDs.
	caps = append(caps, "CONDSTORE", "QRESYNC", "WITHIN", "SAVEDATE")
	// RFC 5465, notify5465.go.
	caps = append(caps, "NOTIFY")
	caps = append(caps, "OBJECTID", "PREVIEW", "UTF8=ACCEPT") // objectid.go, preview.go, names.go
	if s.cfg.Quota {
		caps = append(caps, "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE")
	}
	if s.cfg.Metadata {
		// RFC 5464 §1: METADATA is server and mailbox entries;
		// METADATA-SERVER too, for clients that look only for it.
		caps = append(caps, "METADATA", "METADATA-SERVER")
	}
	if s.cfg.Compress && s.z == nil {
		// RFC 4978 §3: not advertised once compression is active.
		caps = append(caps, "COMPRESS=DEFLATE")
	}
	return imap.OverrideCapabilities(caps, s.cfg.Capability)
}

// literalCap is LITERAL- (RFC 7888 §5) when non-synchronizing literals
// are capped (imap_literal_minus), LITERAL+ otherwise.
func (s *Session) literalCap() string {
	if s.cfg.Limits.MaxNonSync > 0 {
		return "LITERAL-"
	}
	return "LITERAL+"
}
