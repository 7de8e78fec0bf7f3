package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
)

// Credential is one user the IMAP workload logs in as.
type Credential struct {
	User     string
	Password string
}

// IMAPConfig configures the IMAP mixed workload.
type IMAPConfig struct {
	Addr string
	Dial imapc.Options
	// Users are picked at random for each session, as imaptest does, so
	// sessions share mailboxes when there are fewer users than clients.
	Users   []Credential
	Mailbox string
	// NoLogout keeps each session open: after SELECT it repeats the
	// selected-state states until the run ends (imaptest's logout=0).
	NoLogout bool
	Mix      Mix
	// Msgs is the mailbox size the workload keeps each mailbox near
	// (imaptest's msgs setting): DELETE runs only above Msgs/2 and removes
	// any excess over Msgs. Zero means 30, imaptest's default.
	Msgs int
	// Seed chooses the generated messages APPEND sends.
	Seed uint64
}

// IMAP is the imaptest-like mixed IMAP workload.
type IMAP struct {
	cfg      IMAPConfig
	messages [][]byte
}

// NewIMAP checks the configuration and generates the messages to append.
func NewIMAP(cfg IMAPConfig) (*IMAP, error) {
	if cfg.Addr == "" {
		return nil, errors.New("imap workload: no server address")
	}
	if len(cfg.Users) == 0 {
		return nil, errors.New("imap workload: no users")
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	if strings.ContainsAny(cfg.Mailbox, "\r\n") {
		return nil, errors.New("imap workload: mailbox name with a line break")
	}
	for _, u := range cfg.Users {
		if strings.ContainsAny(u.User+u.Password, "\r\n") {
			return nil, errors.New("imap workload: user name or password with a line break")
		}
	}
	if cfg.Mix == nil {
		cfg.Mix = DefaultMix()
	}
	if cfg.Msgs <= 0 {
		cfg.Msgs = 30
	}
	return &IMAP{cfg: cfg, messages: GenerateMessages(cfg.Seed, 32)}, nil
}

// Name implements Workload.
func (w *IMAP) Name() string {
	if w.cfg.NoLogout {
		return "imap-nologout"
	}
	return "imap"
}

// Target implements Workload.
func (w *IMAP) Target() string { return w.cfg.Addr }

// Ops implements Workload.
func (w *IMAP) Ops() []string {
	ops := []string{OpConnect}
	for _, s := range mixStates {
		if w.cfg.Mix[s].Pct > 0 && !(s == OpLogout && w.cfg.NoLogout) {
			ops = append(ops, s)
		}
	}
	return ops
}

// Run implements Workload: sessions one after the other until ctx ends.
func (w *IMAP) Run(ctx context.Context, c *Client) {
	for ctx.Err() == nil {
		s := &imapSession{w: w, c: c, ctx: ctx}
		if !s.run() {
			// The connection could not be set up: wait a little before
			// trying again, so a server that is down is not hammered.
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// imapSession is one connection's life.
type imapSession struct {
	w      *IMAP
	c      *Client
	ctx    context.Context
	conn   *imapc.Conn
	dead   bool   // the connection failed; the session ends
	exists uint32 // the message count as the server announced it
}

func (s *imapSession) chance(pct int) bool {
	return pct >= 100 || (pct > 0 && s.c.Rand.IntN(100) < pct)
}

// runState runs a state with its weight: once with Pct, then again while
// the Repeat chance holds.
func (s *imapSession) runState(name string, f func()) {
	wt := s.w.cfg.Mix[name]
	if !s.chance(wt.Pct) {
		return
	}
	for {
		f()
		if s.dead || s.ctx.Err() != nil || !s.chance(wt.Repeat) || wt.Repeat == 0 {
			return
		}
	}
}

// run runs one session; it returns false when the connection failed.
func (s *imapSession) run() bool {
	start := time.Now()
	conn, err := imapc.Dial(s.ctx, s.w.cfg.Addr, s.w.cfg.Dial)
	if err != nil {
		s.fail(OpConnect, err)
		return false
	}
	s.c.Record(OpConnect, start)
	s.conn = conn
	defer conn.Close()

	cred := s.w.cfg.Users[s.c.Rand.IntN(len(s.w.cfg.Users))]
	if _, ok := s.do(OpLogin, nil, "LOGIN", imapc.Quote(cred.User), imapc.Quote(cred.Password)); !ok {
		return true
	}
	mbox := imapc.Quote(s.w.cfg.Mailbox)
	s.runState(OpList, func() { s.do(OpList, []string{"LIST"}, `LIST "" "*"`) })
	s.runState(OpStatus, func() { s.do(OpStatus, []string{"STATUS"}, "STATUS", mbox, "(MESSAGES UNSEEN RECENT)") })
	selected := false
	s.runState(OpSelect, func() {
		_, selected = s.do(OpSelect, nil, "SELECT", mbox)
	})
	for selected && !s.dead && s.ctx.Err() == nil {
		s.selectedStates(mbox)
		if !s.w.cfg.NoLogout {
			break
		}
	}
	if s.dead || s.ctx.Err() != nil || s.w.cfg.NoLogout {
		return true
	}
	// imaptest's logout below 100 means "disconnect without LOGOUT".
	s.runState(OpLogout, func() { s.do(OpLogout, []string{"BYE"}, "LOGOUT") })
	return true
}

func (s *imapSession) selectedStates(mbox string) {
	steps := []struct {
		name string
		f    func()
	}{
		{OpFetchFlags, func() { s.fetchRange(OpFetchFlags, "(UID FLAGS)") }},
		{OpFetchEnv, func() { s.fetchRange(OpFetchEnv, "(UID ENVELOPE BODYSTRUCTURE INTERNALDATE RFC822.SIZE)") }},
		{OpFetchBody, s.fetchBody},
		{OpSearch, s.search},
		{OpCopy, func() {
			if s.exists > 0 {
				a := 1 + s.c.Rand.Uint32N(s.exists)
				b := min(s.exists, a+s.c.Rand.Uint32N(3))
				s.do(OpCopy, nil, "COPY", fmt.Sprintf("%d:%d", a, b), mbox)
			}
		}},
		{OpStore, s.store},
		{OpDelete, s.delete},
		{OpExpunge, func() { s.do(OpExpunge, nil, "EXPUNGE") }},
		{OpAppend, func() {
			msg := s.w.messages[s.c.Rand.IntN(len(s.w.messages))]
			s.do(OpAppend, nil, "APPEND", mbox, imapc.Literal(msg))
		}},
	}
	for _, st := range steps {
		if s.dead || s.ctx.Err() != nil {
			return
		}
		s.runState(st.name, st.f)
	}
}

// randRange is imaptest's FETCH range: 100 messages from a random start,
// or all of them in a smaller mailbox.
func (s *imapSession) randRange() string {
	if s.exists <= 100 {
		return fmt.Sprintf("1:%d", s.exists)
	}
	a := 1 + s.c.Rand.Uint32N(s.exists-99)
	return fmt.Sprintf("%d:%d", a, a+99)
}

func (s *imapSession) fetchRange(op, items string) {
	if s.exists == 0 {
		return
	}
	s.do(op, nil, "FETCH", s.randRange(), items)
}

func (s *imapSession) fetchBody() {
	if s.exists == 0 {
		return
	}
	n := 1 + s.c.Rand.Uint32N(s.exists)
	res, ok := s.do(OpFetchBody, nil, "FETCH", fmt.Sprint(n), "(BODY.PEEK[])")
	if !ok || res.Status.Code == "EXPUNGEISSUED" {
		return
	}
	for _, u := range res.Untagged {
		if u.Kind == "FETCH" && u.Num == n && len(u.Literals) > 0 {
			return
		}
	}
	// Only a message another session expunged may come back without its
	// body (with EXPUNGEISSUED, handled above).
	s.c.Error(OpFetchBody, ErrMissing, fmt.Sprintf("FETCH %d (BODY.PEEK[]) returned no literal", n))
}

var searchKeys = []func(r *rand.Rand) string{
	func(r *rand.Rand) string { return fmt.Sprintf("SMALLER %d", 500+r.IntN(20000)) },
	func(r *rand.Rand) string { return fmt.Sprintf("LARGER %d", 500+r.IntN(20000)) },
	func(r *rand.Rand) string { return "SINCE " + randDate(r) },
	func(r *rand.Rand) string { return "BEFORE " + randDate(r) },
	func(r *rand.Rand) string { return "SENTSINCE " + randDate(r) },
	func(r *rand.Rand) string { return "SUBJECT " + words[r.IntN(len(words))] },
	func(r *rand.Rand) string { return "BODY " + words[r.IntN(len(words))] },
	func(r *rand.Rand) string { return "TEXT " + words[r.IntN(len(words))] },
	func(r *rand.Rand) string { return "OR SEEN FLAGGED" },
	func(r *rand.Rand) string { return "UNSEEN" },
	func(r *rand.Rand) string { return fmt.Sprintf("KEYWORD $Label%d", 1+r.IntN(5)) },
}

func randDate(r *rand.Rand) string {
	months := []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	return fmt.Sprintf("%d-%s-%d", 1+r.IntN(28), months[r.IntN(12)], 2020+r.IntN(7))
}

func (s *imapSession) search() {
	r := s.c.Rand
	q := searchKeys[r.IntN(len(searchKeys))](r)
	if r.IntN(3) == 0 {
		q = "(" + q + " " + searchKeys[r.IntN(len(searchKeys))](r) + ")"
	}
	res, ok := s.do(OpSearch, []string{"SEARCH"}, "SEARCH", q)
	if !ok {
		return
	}
	for _, u := range res.Untagged {
		if u.Kind != "SEARCH" {
			continue
		}
		for _, f := range u.Fields() {
			var n uint32
			if _, err := fmt.Sscan(string(f), &n); err != nil || n == 0 || n > s.exists {
				s.c.Error(OpSearch, ErrSequence, fmt.Sprintf("SEARCH result %q with %d messages", f, s.exists))
				return
			}
		}
	}
}

var storeFlags = []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, "$Label1", "$Label2", "$Label3", "$Label4", "$Label5"}

func (s *imapSession) store() {
	if s.exists == 0 {
		return
	}
	r := s.c.Rand
	a := 1 + r.Uint32N(s.exists)
	b := min(s.exists, a+r.Uint32N(10))
	var flags []string
	for _, f := range storeFlags {
		if r.IntN(4) == 0 {
			flags = append(flags, f)
		}
	}
	item := []string{"FLAGS", "+FLAGS", "-FLAGS"}[r.IntN(3)]
	if r.IntN(2) == 0 {
		item += ".SILENT"
	}
	s.do(OpStore, nil, "STORE", fmt.Sprintf("%d:%d", a, b), item, "("+strings.Join(flags, " ")+")")
}

func (s *imapSession) delete() {
	limit := uint32(s.w.cfg.Msgs)
	if s.exists <= limit/2 {
		return
	}
	n := uint32(1)
	if s.exists > limit {
		n += s.exists - limit
	}
	a := 1 + s.c.Rand.Uint32N(s.exists-n+1)
	s.do(OpDelete, nil, "STORE", fmt.Sprintf("%d:%d", a, a+n-1), `+FLAGS.SILENT (\Deleted)`)
}

// do runs one command, records it, and checks every untagged response
// against the session's view of the mailbox. allowed names the untagged
// kinds this command may produce beyond the ones any command may see.
// It reports whether the command completed with OK.
func (s *imapSession) do(op string, allowed []string, args ...any) (*imapc.Result, bool) {
	start := time.Now()
	res, err := s.conn.Do(args...)
	if err != nil {
		s.dead = true
		s.fail(op, err)
		return nil, false
	}
	s.checkUntagged(op, allowed, res)
	switch {
	case res.Status.Kind == "OK":
		s.c.Record(op, start)
		return res, true
	case res.Status.Code == "EXPUNGEISSUED":
		// RFC 9051 §7.1: another session expunged a message this one
		// still sees; a correct answer, not a failure.
		s.c.Record(op, start)
		s.c.Note("expungeissued")
		return res, false
	case res.Status.Kind == "BAD":
		s.c.Error(op, ErrBAD, res.Err().Error())
	default:
		s.c.Error(op, ErrNO, res.Err().Error())
		if op == OpLogin || op == OpSelect {
			// Nothing useful follows a failed LOGIN or SELECT.
			s.dead = true
		}
	}
	return res, false
}

func (s *imapSession) checkUntagged(op string, allowed []string, res *imapc.Result) {
	seen := map[string]bool{}
	report := func(kind, detail string) {
		if !seen[kind] {
			seen[kind] = true
			s.c.Error(op, kind, detail)
		}
	}
	for _, u := range res.Untagged {
		switch u.Kind {
		case "OK", "NO", "FLAGS", "CAPABILITY":
			// Status notes, warnings, new keywords and capability
			// updates may come with any command.
		case "BAD":
			report(ErrUntagged, "* BAD "+string(u.Text))
		case "BYE":
			if op != OpLogout {
				report(ErrBye, "* BYE "+string(u.Text))
				s.dead = true
			}
		case "EXISTS":
			if !u.HasNum {
				report(ErrProtocol, "EXISTS without a number")
				continue
			}
			s.exists = u.Num
		case "RECENT":
			if !u.HasNum {
				report(ErrProtocol, "RECENT without a number")
			}
		case "EXPUNGE":
			if !u.HasNum || u.Num == 0 || u.Num > s.exists {
				report(ErrSequence, fmt.Sprintf("* %d EXPUNGE with %d messages", u.Num, s.exists))
				continue
			}
			s.exists--
		case "FETCH":
			if !u.HasNum || u.Num == 0 || u.Num > s.exists {
				report(ErrSequence, fmt.Sprintf("* %d FETCH with %d messages", u.Num, s.exists))
			}
		default:
			ok := false
			for _, a := range allowed {
				ok = ok || a == u.Kind
			}
			if !ok {
				report(ErrUntagged, fmt.Sprintf("* %s in answer to %s", u.Kind, op))
			}
		}
	}
}

// fail counts a failure that ended the connection, by kind.
func (s *imapSession) fail(op string, err error) {
	var pe *imapc.ProtocolError
	var se *imapc.StatusError
	var ne net.Error
	kind := ErrDisconnect
	switch {
	case errors.As(err, &pe):
		kind = ErrProtocol
	case errors.As(err, &se):
		kind = ErrBye
	case errors.As(err, &ne) && ne.Timeout():
		kind = ErrTimeout
	case op == OpConnect && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) &&
		!errors.Is(err, syscall.ECONNRESET):
		kind = ErrConnect
	}
	s.c.Error(op, kind, err.Error())
}
