package pop3d

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/pop3"
	"github.com/cote-mail/cote/pkg/storage"
)

// outputBuffer is the size of the session's output buffer: large enough
// that a RETR of a typical message is one write.
const outputBuffer = 64 << 10

// Session is one logged-in POP3 client.
type Session struct {
	cfg  Config
	user *storage.User
	conn net.Conn
	log  *zap.Logger
	r    *pop3.Reader
	w    *pop3.Writer

	mb   storage.Mailbox
	msgs []message // message number n is msgs[n-1]; fixed at login

	// The counters of Dovecot's pop3_logout_format, for the log.
	nDeleted    int
	deletedSize int64
	topCount    int
	retrCount   int
	retrBytes   int64
	bad         int  // consecutive failed commands
	quit        bool // QUIT was served: the session is over
	releaseLock func()
}

// message is one entry of the session's list.
type message struct {
	uid     uint32
	size    int64 // RFC822.SIZE: the CRLF octets RETR sends
	uidl    string
	stored  bool // uidl is the store's (dovecot-uidlist P)
	listed  bool // its UIDL was sent (pop3_save_uidl saves it)
	seen    bool // \Seen in the store at login
	deleted bool // DELE'd in this session
	retr    bool // retrieved whole in this session (gets \Seen)
}

// Errors that end a session; Serve returns them for the log.
var (
	errShutdown = errors.New("server shutting down")
	errTimeout  = errors.New("disconnected for inactivity")
	errTooBad   = errors.New("too many bad commands")
)

// NewSession returns a session for an authenticated client; Serve runs
// it. log may be nil.
func NewSession(cfg Config, user *storage.User, conn net.Conn, log *zap.Logger) *Session {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	// pop3.NewWriter adopts a *bufio.Writer at least as large as its
	// own buffer, so this sizes the output buffer: a pipelined batch of
	// RETRs leaves in 64 KiB writes instead of 4 KiB ones.
	return &Session{cfg: cfg, user: user, conn: conn, log: log, w: pop3.NewWriter(bufio.NewWriterSize(conn, outputBuffer))}
}

// Serve greets the client with "+OK Logged in.", serves commands until
// QUIT, end of input, the autologout timer or ctx's end, and returns why
// the session ended (nil after QUIT or a clean disconnect). preamble holds
// the bytes the client pipelined after its login command; they are
// processed before the socket is read. The caller closes the connection.
func (s *Session) Serve(ctx context.Context, preamble []byte) error {
	s.r = pop3.NewReader(io.MultiReader(bytes.NewReader(preamble), s.conn))
	defer s.close()
	if err := s.open(); err != nil {
		s.flush()
		return err
	}
	s.w.OK("Logged in.")

	stop := context.AfterFunc(ctx, func() {
		// Unblocks a read; the loop then sees ctx done.
		_ = s.conn.SetReadDeadline(time.Now())
	})
	defer stop()

	for {
		if ctx.Err() != nil {
			s.w.Err("SYS/TEMP", "Server shutting down.")
			s.flush()
			return errShutdown
		}
		if !s.r.HasLine() {
			if err := s.flush(); err != nil {
				return err
			}
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
		if ctx.Err() != nil {
			continue
		}
		cmd, err := s.r.ReadCommand()
		if err != nil {
			if errors.Is(err, pop3.ErrLineTooLong) {
				s.w.Err("", "Command line too long.")
				if s.failed() {
					return errTooBad
				}
				continue
			}
			if ctx.Err() != nil {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.w.Err("", "Disconnected for inactivity.")
				s.flush()
				return errTimeout
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return err
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
		ok, err := s.dispatch(cmd)
		if err != nil {
			s.flush()
			return err
		}
		if s.quit {
			return s.flush()
		}
		if ok {
			s.bad = 0
		} else if s.failed() {
			return errTooBad
		}
	}
}

// failed counts a failed command; after maxBadCommands in a row the
// session says so and ends, as Dovecot's pop3 does.
func (s *Session) failed() bool {
	s.bad++
	if s.bad < maxBadCommands {
		return false
	}
	s.w.Err("", "Too many bad commands.")
	s.flush()
	return true
}

// flush sends the buffered responses within the write deadline.
func (s *Session) flush() error {
	if s.w.Buffered() == 0 {
		return nil
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	return s.w.Flush()
}

// open takes the session lock, opens INBOX and lists its messages as of
// now. On failure it has written the -ERR for the client.
func (s *Session) open() error {
	if err := s.cfg.compile(); err != nil {
		s.w.Err("SYS/PERM", "Internal error occurred. Refer to server log for more information.")
		return err
	}
	if s.cfg.SessionLock != nil {
		release, err := s.cfg.SessionLock()
		if err != nil {
			if errors.Is(err, ErrLocked) {
				s.w.Err("IN-USE", "Mailbox is locked by another POP3 session.")
			} else {
				s.w.Err("SYS/TEMP", "Internal error occurred. Refer to server log for more information.")
			}
			return fmt.Errorf("pop3 session lock: %w", err)
		}
		s.releaseLock = release
	}
	mb, err := s.user.Open("INBOX", false)
	if err != nil {
		s.storageErr(err, "Couldn't open INBOX.")
		return fmt.Errorf("open INBOX: %w", err)
	}
	s.mb = mb
	err = s.list()
	if err != nil {
		s.storageErr(err, "Couldn't read INBOX.")
		return fmt.Errorf("list INBOX: %w", err)
	}
	return nil
}

// list makes the session's message list as Dovecot's pop3 does
// (pop3-client.c read_mailbox, pop3-commands.c pop3_get_uid): messages
// with a stored POP3 order first, by it, then the others by UID; each
// message's UIDL is the one the store recorded (dovecot-uidlist P), else
// its X-UIDL header with pop3_reuse_xuidl, else pop3_uidl_format.
func (s *Session) list() error {
	var infos map[uint32]storage.POP3Info
	if pm, ok := s.mb.(storage.POP3Mailbox); ok {
		var err error
		if infos, err = pm.POP3Info(nil); err != nil {
			return err
		}
	} else if s.cfg.uidl.files {
		return errors.New("pop3_uidl_format uses %f or %g, which this mail store does not keep")
	}
	uv := s.mb.UIDValidity()
	var order map[uint32]uint32
	err := s.mb.Messages(nil, func(m storage.Message) error {
		if s.cfg.DeletedFlag != "" && hasKeyword(m.Keywords, s.cfg.DeletedFlag) {
			return nil
		}
		in := infos[m.UID]
		u, stored := in.UIDL, in.HasUIDL && in.UIDL != ""
		if !stored {
			var err error
			if u, err = s.cfg.uidl.expand(uv, m.UID, in); err != nil {
				return err
			}
		}
		if in.Order != 0 {
			if order == nil {
				order = map[uint32]uint32{}
			}
			order[m.UID] = in.Order
		}
		s.msgs = append(s.msgs, message{uid: m.UID, size: m.Size, uidl: u, stored: stored, seen: m.Flags&storage.FlagSeen != 0})
		return nil
	})
	if err != nil {
		return err
	}
	if order != nil {
		// Dovecot sorts on MAIL_SORT_POP3_ORDER: no order counts as
		// the largest, ties keep UID order.
		key := func(uid uint32) uint64 {
			if o, ok := order[uid]; ok {
				return uint64(o)
			}
			return math.MaxUint32 + 1
		}
		slices.SortStableFunc(s.msgs, func(a, b message) int { return cmp.Compare(key(a.uid), key(b.uid)) })
	}
	if s.cfg.ReuseXUIDL {
		return s.readXUIDLs()
	}
	return nil
}

// saveUIDLs stores the UIDLs the client was sent that the store does not
// hold yet (pop3_save_uidl), at the session's end like Dovecot's
// transaction commit, QUIT or not: later sessions then serve them
// whatever pop3_uidl_format says.
func (s *Session) saveUIDLs() error {
	if !s.cfg.SaveUIDL {
		return nil
	}
	pm, ok := s.mb.(storage.POP3Mailbox)
	if !ok {
		return nil
	}
	save := map[uint32]string{}
	for _, m := range s.msgs {
		if m.listed && !m.stored {
			save[m.uid] = m.uidl
		}
	}
	return pm.SavePOP3UIDLs(save)
}

// readXUIDLs replaces the UIDL of each message that has an X-UIDL header
// with its value (pop3_reuse_xuidl), as Dovecot does for mailboxes
// migrated from servers that wrote one. A stored UIDL wins over the
// header.
func (s *Session) readXUIDLs() error {
	for i := range s.msgs {
		if s.msgs[i].stored {
			continue
		}
		b, err := s.mb.Open(s.msgs[i].uid)
		if err != nil {
			if storage.KindOf(err) == storage.ErrExpunged {
				continue
			}
			return err
		}
		v, err := headerValue(io.NewSectionReader(b, 0, b.Size()), "X-UIDL")
		b.Close()
		if err != nil {
			return err
		}
		if validUIDL(v) {
			s.msgs[i].uidl = v
		}
	}
	return nil
}

// headerValue returns the first field name's value in the header of r,
// unfolded and trimmed ("" when absent).
func headerValue(r io.Reader, name string) (string, error) {
	br := bufio.NewReaderSize(r, 4096)
	var val []byte
	found := false
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An absurdly long header line: skip it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			found = false
			continue
		}
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			break
		}
		if t[0] == ' ' || t[0] == '\t' {
			if found {
				val = append(val, t...)
			}
		} else if found {
			break
		} else if k, v, ok := bytes.Cut(t, []byte(":")); ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			found = true
			val = append(val[:0], v...)
		}
		if err != nil {
			if err == io.EOF {
				break
			}
			return "", err
		}
	}
	return strings.TrimSpace(string(val)), nil
}

// validUIDL reports whether u can be a unique-id (RFC 1939 §7: 1 to 70
// characters 0x21-0x7E); an X-UIDL that is not one would break the
// listing, so the generated UIDL is used instead.
func validUIDL(u string) bool {
	if u == "" || len(u) > 70 {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x21 || u[i] > 0x7e {
			return false
		}
	}
	return true
}

func hasKeyword(kws []string, k string) bool {
	for _, x := range kws {
		if strings.EqualFold(x, k) {
			return true
		}
	}
	return false
}

// storageErr answers a storage failure with RFC 3206's code: SYS/TEMP
// for what may go away, SYS/PERM otherwise. The cause goes to the log.
func (s *Session) storageErr(err error, text string) {
	code := "SYS/TEMP"
	switch storage.KindOf(err) {
	case storage.ErrNoPerm, storage.ErrInvalid, storage.ErrNotFound:
		code = "SYS/PERM"
	case storage.ErrInUse:
		code = "IN-USE"
	}
	s.log.Warn("pop3 storage error", zap.Error(err))
	s.w.Err(code, text)
}

// close applies the \Seen flags of a session that ended without QUIT
// (as Dovecot does: the client did download those messages; deletions
// need QUIT), releases the mailbox and the session lock and logs the
// counters.
func (s *Session) close() {
	if s.mb != nil {
		if !s.quit {
			if err := s.update(false); err != nil {
				s.log.Warn("pop3: setting \\Seen at disconnect failed", zap.Error(err))
			}
		}
		if err := s.saveUIDLs(); err != nil {
			s.log.Warn("pop3: pop3_save_uidl failed", zap.Error(err))
		}
		s.mb.Close()
	}
	if s.releaseLock != nil {
		s.releaseLock()
	}
	s.log.Info("pop3 session", zap.Int("top", s.topCount), zap.Int("retr", s.retrCount), zap.Int64("retr_bytes", s.retrBytes),
		zap.Int("del", s.nDeleted), zap.Int("messages", len(s.msgs)), zap.Bool("quit", s.quit))
}
