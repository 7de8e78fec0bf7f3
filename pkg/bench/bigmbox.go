package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
)

// Operations of the large-mailbox workload.
const (
	OpSelectFirst   = "select1"       // the run's first SELECT (cold in a fresh server)
	OpFetchAllFlags = "fetch1:*flags" // FETCH 1:* (FLAGS)
	OpSearchUnseen  = "search-unseen" // SEARCH UNSEEN (flags only)
	OpSearchSubject = "search-subj"   // SEARCH SUBJECT word (headers)
)

// GenerateSmallMessage returns message i of a large mailbox: headers and a
// short body (about 600-1,500 bytes), the same for the same seed and i, so
// 100,000 of them stay near 100 MB per copy.
func GenerateSmallMessage(seed uint64, i int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	var b strings.Builder
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	from := r.IntN(50)
	fmt.Fprintf(&b, "Message-ID: <big.%d@bench.example.org>\r\n", i)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: User %d <user%d@example.org>\r\n", from, from)
	fmt.Fprintf(&b, "To: user%d@example.org\r\n", r.IntN(50))
	fmt.Fprintf(&b, "Subject: %s %s %s\r\n", pick(r), pick(r), pick(r))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	writeText(&b, r, 300+r.IntN(900), "")
	return []byte(b.String())
}

// WriteMaildir writes n generated messages into dir (a Maildir: cur, new
// and tmp are created) as files both Dovecot and cote read: cur/ names
// "<time>.M<i>P1.bench,S=<size>:2,<flags>", about a third of them without
// \Seen, some \Flagged, each with the mtime (INTERNALDATE) of its Date
// header. Files and directories are owned by uid:gid. The same seed and n
// give the same mailbox byte for byte, so both servers load the same data.
func WriteMaildir(dir string, seed uint64, n, uid, gid int) error {
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		msg := GenerateSmallMessage(seed, i)
		flags := ""
		switch {
		case i%3 == 0:
		case i%7 == 0:
			flags = "FS"
		default:
			flags = "S"
		}
		when := base.Add(time.Duration(i) * time.Minute)
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d:2,%s", when.Unix(), i, len(msg), flags)
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, msg, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
		if err := os.Chtimes(p, when, when); err != nil {
			return err
		}
	}
	return nil
}

// BigMailboxConfig configures the large-mailbox workload.
type BigMailboxConfig struct {
	Addr    string
	Dial    imapc.Options
	User    Credential
	Mailbox string
	// Count is the number of messages the mailbox holds; every SELECT
	// and FETCH 1:* must agree with it.
	Count int
}

// BigMailbox repeats, on one logged-in session per client, SELECT, FETCH
// 1:* (FLAGS), SEARCH UNSEEN and SEARCH SUBJECT on a large mailbox that
// nothing modifies. A wrong message count is an error.
type BigMailbox struct {
	cfg   BigMailboxConfig
	first atomic.Bool
}

// NewBigMailbox checks the configuration.
func NewBigMailbox(cfg BigMailboxConfig) (*BigMailbox, error) {
	if cfg.Addr == "" || cfg.User.User == "" || cfg.Count < 1 {
		return nil, errors.New("bigmailbox: an address, a user and a message count are needed")
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	return &BigMailbox{cfg: cfg}, nil
}

// Name implements Workload.
func (w *BigMailbox) Name() string { return fmt.Sprintf("bigmailbox-%d", w.cfg.Count) }

// Target implements Workload.
func (w *BigMailbox) Target() string { return w.cfg.Addr }

// Ops implements Workload.
func (w *BigMailbox) Ops() []string {
	return []string{OpSelectFirst, OpSelect, OpFetchAllFlags, OpSearchUnseen, OpSearchSubject}
}

// Run implements Workload.
func (w *BigMailbox) Run(ctx context.Context, c *Client) {
	for ctx.Err() == nil {
		if !w.session(ctx, c) {
			pause(ctx)
		}
	}
}

func (w *BigMailbox) session(ctx context.Context, c *Client) bool {
	conn, err := imapc.Dial(ctx, w.cfg.Addr, w.cfg.Dial)
	if err != nil {
		c.Error(OpConnect, ErrConnect, err.Error())
		return false
	}
	defer conn.Close()
	res, err := conn.Do("LOGIN", imapc.Quote(w.cfg.User.User), imapc.Quote(w.cfg.User.Password))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		c.Error(OpLogin, imapKind(err), err.Error())
		return false
	}
	want := uint32(w.cfg.Count)
	mbox := imapc.Quote(w.cfg.Mailbox)
	for ctx.Err() == nil {
		op := OpSelect
		if w.first.CompareAndSwap(false, true) {
			op = OpSelectFirst
		}
		start := time.Now()
		res, ok := w.do(c, conn, op, "SELECT", mbox)
		if !ok {
			return true
		}
		exists := uint32(0)
		for _, u := range res.Untagged {
			if u.Kind == "EXISTS" {
				exists = u.Num
			}
		}
		if exists != want {
			c.Error(op, ErrSequence, fmt.Sprintf("SELECT announced %d messages, the mailbox has %d", exists, want))
			return true
		}
		c.Record(op, start)

		start = time.Now()
		if res, ok = w.do(c, conn, OpFetchAllFlags, "FETCH", "1:*", "(FLAGS)"); !ok {
			return true
		}
		n := uint32(0)
		for _, u := range res.Untagged {
			if u.Kind == "FETCH" {
				if u.Num == 0 || u.Num > want {
					c.Error(OpFetchAllFlags, ErrSequence, fmt.Sprintf("* %d FETCH with %d messages", u.Num, want))
					return true
				}
				n++
			}
		}
		if n != want {
			c.Error(OpFetchAllFlags, ErrMissing, fmt.Sprintf("FETCH 1:* returned %d of %d messages", n, want))
			return true
		}
		c.Record(OpFetchAllFlags, start)

		for _, s := range []struct{ op, key string }{
			{OpSearchUnseen, "UNSEEN"},
			{OpSearchSubject, "SUBJECT " + words[c.Rand.IntN(len(words))]},
		} {
			start = time.Now()
			if res, ok = w.do(c, conn, s.op, "SEARCH", s.key); !ok {
				return true
			}
			found := false
			for _, u := range res.Untagged {
				if u.Kind != "SEARCH" {
					continue
				}
				found = true
				for _, f := range u.Fields() {
					var m uint32
					if _, err := fmt.Sscan(string(f), &m); err != nil || m == 0 || m > want {
						c.Error(s.op, ErrSequence, fmt.Sprintf("SEARCH result %q with %d messages", f, want))
						return true
					}
				}
			}
			if !found {
				c.Error(s.op, ErrMissing, "SEARCH completed without * SEARCH")
				return true
			}
			c.Record(s.op, start)
		}
	}
	return true
}

// do runs one command; any failure is counted and ends the session.
func (w *BigMailbox) do(c *Client, conn *imapc.Conn, op string, args ...any) (*imapc.Result, bool) {
	res, err := conn.Do(args...)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		c.Error(op, imapKind(err), err.Error())
		return nil, false
	}
	for _, u := range res.Untagged {
		switch u.Kind {
		case "BAD", "BYE", "EXPUNGE":
			c.Error(op, ErrUntagged, fmt.Sprintf("* %s in answer to %s on a mailbox nothing changes", u.Kind, args[0]))
			return nil, false
		}
	}
	return res, true
}
