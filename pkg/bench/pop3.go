package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Operations of the POP3 workload.
const (
	OpPOP3Login = "pop3-login" // greeting, USER, PASS
	OpStat      = "stat"
	OpRetr      = "retr"     // one message, its octets checked
	OpDownload  = "download" // the whole mailbox: STAT, RETR 1..n, QUIT
)

// POP3Error is a -ERR answer the workload did not expect.
type POP3Error struct{ Cmd, Line string }

func (e *POP3Error) Error() string { return fmt.Sprintf("%s: %s", e.Cmd, e.Line) }

// POP3Config configures the mailbox download workload.
type POP3Config struct {
	Addr string
	// TLS, when set, makes every connection implicit TLS (pop3s, RFC 8314).
	TLS *tls.Config
	// Users: client i logs in as Users[i % len]; each should own the same
	// mailbox (the comparison writes it with WriteMaildir before the
	// servers start).
	Users   []Credential
	Timeout time.Duration
}

// POP3 downloads a whole mailbox per operation, the way a POP3 client
// without "leave on server" bookkeeping does: connect, USER, PASS, STAT,
// RETR of every message, QUIT (RFC 1939). Nothing is deleted, so every
// download sees the same mailbox. Each RETR is checked: a "+OK" line,
// the dot-terminated multi-line body, and the octets (after removing the
// dot-stuffing, lines counted with CRLF) must sum to what STAT announced;
// a difference is counted as missing data.
type POP3 struct {
	cfg POP3Config
	// bytes counts message octets of the RETRs completed inside the run.
	bytes atomic.Int64
}

// NewPOP3 checks the configuration.
func NewPOP3(cfg POP3Config) (*POP3, error) {
	if cfg.Addr == "" {
		return nil, errors.New("pop3 workload: no server address")
	}
	if len(cfg.Users) == 0 {
		return nil, errors.New("pop3 workload: no users")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &POP3{cfg: cfg}, nil
}

// Name implements Workload.
func (w *POP3) Name() string {
	if w.cfg.TLS != nil {
		return "pop3s"
	}
	return "pop3"
}

// Target implements Workload.
func (w *POP3) Target() string { return w.cfg.Addr }

// Ops implements Workload.
func (w *POP3) Ops() []string { return []string{OpConnect, OpPOP3Login, OpStat, OpRetr, OpDownload} }

// Bytes returns the message octets downloaded by RETRs counted in the run
// (divide by Result.Seconds for the throughput).
func (w *POP3) Bytes() int64 { return w.bytes.Load() }

// Run implements Workload.
func (w *POP3) Run(ctx context.Context, c *Client) {
	u := w.cfg.Users[c.ID%len(w.cfg.Users)]
	for ctx.Err() == nil {
		if !w.download(ctx, c, u) {
			pause(ctx)
		}
	}
}

type pop3Conn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

func (p *pop3Conn) line() (string, error) {
	p.nc.SetDeadline(time.Now().Add(p.timeout))
	s, err := p.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", &ReplyError{"line too long", string(s[:80])}
	}
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(string(s), "\r\n") {
		return "", &ReplyError{"line not ended by CRLF", string(s)}
	}
	return string(s[:len(s)-2]), nil
}

// status reads a status line: "+OK ..." returns its text, "-ERR" a
// POP3Error, anything else a ReplyError.
func (p *pop3Conn) status(cmd string) (string, error) {
	l, err := p.line()
	if err != nil {
		return "", err
	}
	switch {
	case l == "+OK" || strings.HasPrefix(l, "+OK "):
		return strings.TrimPrefix(strings.TrimPrefix(l, "+OK"), " "), nil
	case strings.HasPrefix(l, "-ERR"):
		return "", &POP3Error{cmd, l}
	}
	return "", &ReplyError{"not +OK or -ERR", l}
}

func (p *pop3Conn) cmd(line string) (string, error) {
	p.nc.SetDeadline(time.Now().Add(p.timeout))
	if _, err := p.nc.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	name, _, _ := strings.Cut(line, " ")
	return p.status(name)
}

// multiline reads a dot-terminated body and returns its octets with the
// dot-stuffing removed (RFC 1939 §3).
func (p *pop3Conn) multiline() (int64, error) {
	var n int64
	// mid: the last read ended inside a line longer than the buffer, so
	// this one does not start a line (no terminator, no stuffed dot).
	mid := false
	for {
		p.nc.SetDeadline(time.Now().Add(p.timeout))
		s, err := p.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return n, err
		}
		if !mid {
			if len(s) == 3 && s[0] == '.' && s[1] == '\r' && s[2] == '\n' {
				return n, nil
			}
			if s[0] == '.' {
				s = s[1:]
			}
		}
		n += int64(len(s))
		mid = err == bufio.ErrBufferFull
	}
}

// download runs one whole session; false means it failed before logging in.
func (w *POP3) download(ctx context.Context, c *Client, u Credential) bool {
	start := time.Now()
	d := net.Dialer{Timeout: w.cfg.Timeout}
	var nc net.Conn
	var err error
	if w.cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: w.cfg.TLS}
		nc, err = td.DialContext(ctx, "tcp", w.cfg.Addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", w.cfg.Addr)
	}
	if err != nil {
		c.Error(OpConnect, lmtpKind(err, true), err.Error())
		return false
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	p := &pop3Conn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), timeout: w.cfg.Timeout}
	if _, err := p.status("greeting"); err != nil {
		c.Error(OpConnect, pop3Kind(err), "greeting: "+err.Error())
		return false
	}
	c.Record(OpConnect, start)
	t := time.Now()
	if _, err := p.cmd("USER " + u.User); err != nil {
		c.Error(OpPOP3Login, pop3Kind(err), err.Error())
		return false
	}
	if _, err := p.cmd("PASS " + u.Password); err != nil {
		c.Error(OpPOP3Login, pop3Kind(err), err.Error())
		return false
	}
	c.Record(OpPOP3Login, t)
	t = time.Now()
	st, err := p.cmd("STAT")
	if err != nil {
		c.Error(OpStat, pop3Kind(err), err.Error())
		return true
	}
	f := strings.Fields(st)
	var count int
	var size int64
	if len(f) >= 2 {
		count, err = strconv.Atoi(f[0])
		if err == nil {
			size, err = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if len(f) < 2 || err != nil || count < 0 || size < 0 {
		c.Error(OpStat, ErrProtocol, "STAT: "+st)
		return true
	}
	c.Record(OpStat, t)
	var got int64
	for i := 1; i <= count; i++ {
		t := time.Now()
		if _, err := p.cmd("RETR " + strconv.Itoa(i)); err != nil {
			c.Error(OpRetr, pop3Kind(err), err.Error())
			return true
		}
		n, err := p.multiline()
		if err != nil {
			c.Error(OpRetr, pop3Kind(err), fmt.Sprintf("RETR %d: %v", i, err))
			return true
		}
		got += n
		if !c.Stopped() {
			c.Record(OpRetr, t)
			w.bytes.Add(n)
		}
	}
	if got != size {
		c.Error(OpDownload, ErrMissing, fmt.Sprintf("STAT announced %d octets in %d messages, RETR gave %d", size, count, got))
		return true
	}
	if _, err := p.cmd("QUIT"); err != nil {
		c.Error(OpDownload, pop3Kind(err), err.Error())
		return true
	}
	c.Record(OpDownload, start)
	return true
}

// pop3Kind classifies a POP3 failure into the report's error kinds.
func pop3Kind(err error) string {
	var pe *POP3Error
	if errors.As(err, &pe) {
		return ErrNO
	}
	return lmtpKind(err, false)
}
