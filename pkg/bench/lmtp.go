package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Operations of the LMTP workloads.
const (
	OpDeliver = "deliver" // MAIL, RCPT..., DATA until every recipient's reply
	OpVisible = "visible" // from the last 250 to the message's EXISTS over IMAP
)

// maxReplyLines bounds one multi-line LMTP reply, maxReplyLine one line:
// a broken server produces an error, not an unbounded read.
const (
	maxReplyLines = 100
	maxReplyLine  = 4096
)

// Reply is one SMTP/LMTP reply (RFC 5321 §4.2): the code and the text of
// every line.
type Reply struct {
	Code  int
	Lines []string
}

func (r *Reply) String() string {
	return fmt.Sprintf("%d %s", r.Code, strings.Join(r.Lines, " / "))
}

// ReplyError is a reply that breaks RFC 5321 §4.2's syntax.
type ReplyError struct{ Msg, Line string }

func (e *ReplyError) Error() string { return fmt.Sprintf("lmtp reply: %s: %q", e.Msg, e.Line) }

// ReadReply reads one reply: lines "NNN-text" ending with "NNN text" (or
// "NNN" alone), every line with the same code and ended by CRLF.
func ReadReply(br *bufio.Reader) (*Reply, error) {
	r := &Reply{}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(line) > maxReplyLine {
			return nil, &ReplyError{"line too long", string(line[:min(len(line), 80)])}
		}
		if err != nil {
			return nil, err
		}
		s := string(line)
		if !strings.HasSuffix(s, "\r\n") {
			return nil, &ReplyError{"line not ended by CRLF", s}
		}
		s = s[:len(s)-2]
		if len(s) < 3 || (len(s) > 3 && s[3] != ' ' && s[3] != '-') {
			return nil, &ReplyError{"no reply code", s}
		}
		code, err := strconv.Atoi(s[:3])
		if err != nil || code < 200 || code > 599 || s[0] > '5' {
			return nil, &ReplyError{"bad reply code", s}
		}
		if r.Code != 0 && code != r.Code {
			return nil, &ReplyError{"reply code changed within a reply", s}
		}
		r.Code = code
		text := ""
		if len(s) > 4 {
			text = s[4:]
		}
		r.Lines = append(r.Lines, text)
		if len(s) == 3 || s[3] == ' ' {
			return r, nil
		}
		if len(r.Lines) >= maxReplyLines {
			return nil, &ReplyError{"too many lines in one reply", s}
		}
	}
}

// LMTPConn is a minimal LMTP client (RFC 2033): a benchmark's, checking
// every reply and sharing no code with cote's server.
type LMTPConn struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// timeout bounds every round trip.
	timeout time.Duration
	// stop detaches the context watcher.
	stop func() bool
	// smtp: the session speaks SMTP (EHLO, one reply after the data for
	// the whole transaction, RFC 5321 §4.1.1.4) instead of LMTP.
	smtp bool
}

// DialLMTP connects to addr ("host:port", or "unix:PATH" for a socket),
// reads the greeting and sends LHLO.
func DialLMTP(ctx context.Context, addr string, timeout time.Duration) (*LMTPConn, error) {
	return dialMail(ctx, addr, timeout, false)
}

// DialSMTP connects to an SMTP server at addr, reads the greeting and sends
// EHLO; Deliver then reads one reply after the data (RFC 5321).
func DialSMTP(ctx context.Context, addr string, timeout time.Duration) (*LMTPConn, error) {
	return dialMail(ctx, addr, timeout, true)
}

func dialMail(ctx context.Context, addr string, timeout time.Duration, smtp bool) (*LMTPConn, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	network := "tcp"
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &LMTPConn{nc: nc, br: bufio.NewReaderSize(nc, 8192), bw: bufio.NewWriterSize(nc, 32<<10), timeout: timeout, smtp: smtp}
	// Cancelling ctx unblocks a read in progress, so a run ends on time.
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	if err := c.expect(220); err != nil {
		c.stop()
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	hello := "LHLO"
	if smtp {
		hello = "EHLO"
	}
	if err := c.cmd(250, hello+" bench.example.org"); err != nil {
		c.stop()
		nc.Close()
		return nil, fmt.Errorf("%s: %w", hello, err)
	}
	return c, nil
}

// CodeError is a reply with an unexpected code.
type CodeError struct {
	Want  int
	Reply *Reply
}

func (e *CodeError) Error() string { return fmt.Sprintf("want %d, got %s", e.Want, e.Reply) }

func (c *LMTPConn) expect(code int) error {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	r, err := ReadReply(c.br)
	if err != nil {
		return err
	}
	if r.Code != code {
		return &CodeError{Want: code, Reply: r}
	}
	return nil
}

func (c *LMTPConn) cmd(code int, line string) error {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	c.bw.WriteString(line + "\r\n")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	return c.expect(code)
}

// Deliver runs one transaction: MAIL FROM, one RCPT TO per recipient, DATA
// and the message (dot-stuffed), then reads one reply per recipient (RFC
// 2033 §4.2; over SMTP one reply for the transaction). Every reply must be the success code; the first failure is
// returned after the transaction's replies are all read.
func (c *LMTPConn) Deliver(from string, rcpts []string, msg []byte) error {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	// PIPELINING (RFC 2920, which LMTP servers announce): the envelope
	// goes in one write.
	fmt.Fprintf(c.bw, "MAIL FROM:<%s>\r\n", from)
	for _, r := range rcpts {
		fmt.Fprintf(c.bw, "RCPT TO:<%s>\r\n", r)
	}
	c.bw.WriteString("DATA\r\n")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	if err := c.expect(250); err != nil {
		if _, ok := err.(*CodeError); !ok {
			return err
		}
		note(fmt.Errorf("MAIL: %w", err))
	}
	accepted := 0
	for _, r := range rcpts {
		if err := c.expect(250); err != nil {
			if _, ok := err.(*CodeError); !ok {
				return err
			}
			note(fmt.Errorf("RCPT %s: %w", r, err))
			continue
		}
		accepted++
	}
	if err := c.expect(354); err != nil {
		if _, ok := err.(*CodeError); !ok {
			return err
		}
		// With no valid recipient DATA is refused (RFC 2033 §4.2).
		note(fmt.Errorf("DATA: %w", err))
		return first
	}
	c.bw.Write(dotStuff(msg))
	c.bw.WriteString(".\r\n")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if c.smtp && accepted > 0 {
		accepted = 1
	}
	for range accepted {
		if err := c.expect(250); err != nil {
			if _, ok := err.(*CodeError); !ok {
				return err
			}
			note(fmt.Errorf("after DATA: %w", err))
		}
	}
	return first
}

// dotStuff doubles the dot that starts a line (RFC 5321 §4.5.2); msg ends
// with CRLF.
func dotStuff(msg []byte) []byte {
	if !bytes.Contains(msg, []byte("\n.")) && !bytes.HasPrefix(msg, []byte(".")) {
		return msg
	}
	var b bytes.Buffer
	for line := range bytes.Lines(msg) {
		if line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
	}
	return b.Bytes()
}

// Close sends QUIT and closes the connection.
func (c *LMTPConn) Close() error {
	c.stop()
	c.nc.SetDeadline(time.Now().Add(time.Second))
	c.bw.WriteString("QUIT\r\n")
	c.bw.Flush()
	return c.nc.Close()
}

// SizedMessage returns message i of a delivery run: RFC 5322 headers and a
// text body of about size bytes, the same for the same arguments.
func SizedMessage(i, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Bench <bench@example.org>\r\nTo: <rcpt@example.org>\r\nSubject: delivery %d %s\r\n", i, words[i%len(words)])
	fmt.Fprintf(&b, "Message-ID: <deliver.%d@bench.example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n", i)
	for j := 0; b.Len() < size; j++ {
		fmt.Fprintf(&b, "%s %s %s %s %s %s %s %s line %d\r\n", words[(i+j)%len(words)], words[(i+2*j)%len(words)],
			words[(i+3*j)%len(words)], words[(j+5)%len(words)], words[(j+7)%len(words)], words[(j+11)%len(words)],
			words[(j+13)%len(words)], words[(j+17)%len(words)], j)
	}
	return b.Bytes()
}

// LMTPConfig configures the LMTP delivery workload.
type LMTPConfig struct {
	// Addr is "host:port" or "unix:PATH".
	Addr string
	// Recipients are spread over the sessions: session i delivers to
	// Recipients[i % len]. PerMessage recipients go in each transaction
	// (default 1), taken in turn from the list.
	Recipients []string
	PerMessage int
	From       string
	// Size of each message in bytes (default 4096, the figure the
	// reference measurements use).
	Size    int
	Timeout time.Duration
}

// LMTP is the durable-delivery workload: each simulated client keeps one
// LMTP session and delivers messages back to back. An operation counts
// when every recipient's 250 has arrived: the server promises the message
// is on disk by then.
type LMTP struct {
	cfg  LMTPConfig
	msgs [][]byte
	// smtp: the workload is NewSMTP's (SMTP sessions, one reply per
	// transaction after the data).
	smtp bool
}

// NewSMTP is the same durable-acceptance workload over SMTP (RFC 5321):
// each client keeps one session to cfg.Addr (a port 25 listener) and an
// operation counts at the 250 after the data, when the server has taken
// responsibility for the message (RFC 5321 §6.1: it is in a durable queue).
func NewSMTP(cfg LMTPConfig) (*LMTP, error) {
	w, err := NewLMTP(cfg)
	if err != nil {
		return nil, err
	}
	w.smtp = true
	return w, nil
}

// NewLMTP checks the configuration.
func NewLMTP(cfg LMTPConfig) (*LMTP, error) {
	if cfg.Addr == "" {
		return nil, errors.New("lmtp workload: no server address")
	}
	if len(cfg.Recipients) == 0 {
		return nil, errors.New("lmtp workload: no recipients")
	}
	for _, r := range append([]string{cfg.From}, cfg.Recipients...) {
		if strings.ContainsAny(r, "\r\n<>") {
			return nil, fmt.Errorf("lmtp workload: bad address %q", r)
		}
	}
	if cfg.PerMessage < 1 {
		cfg.PerMessage = 1
	}
	if cfg.From == "" {
		cfg.From = "bench@example.org"
	}
	if cfg.Size <= 0 {
		cfg.Size = 4096
	}
	w := &LMTP{cfg: cfg}
	for i := range 16 {
		w.msgs = append(w.msgs, SizedMessage(i, cfg.Size))
	}
	return w, nil
}

// Name implements Workload.
func (w *LMTP) Name() string {
	if w.smtp {
		return "smtp"
	}
	return "lmtp"
}

// Target implements Workload.
func (w *LMTP) Target() string { return w.cfg.Addr }

// Ops implements Workload.
func (w *LMTP) Ops() []string { return []string{OpConnect, OpDeliver} }

// Run implements Workload.
func (w *LMTP) Run(ctx context.Context, c *Client) {
	for ctx.Err() == nil {
		start := time.Now()
		conn, err := dialMail(ctx, w.cfg.Addr, w.cfg.Timeout, w.smtp)
		if err != nil {
			c.Error(OpConnect, lmtpKind(err, true), err.Error())
			pause(ctx)
			continue
		}
		c.Record(OpConnect, start)
		w.session(ctx, c, conn)
		conn.Close()
	}
}

func (w *LMTP) session(ctx context.Context, c *Client, conn *LMTPConn) {
	next := c.ID
	for i := 0; ctx.Err() == nil; i++ {
		rcpts := make([]string, w.cfg.PerMessage)
		for j := range rcpts {
			rcpts[j] = w.cfg.Recipients[next%len(w.cfg.Recipients)]
			next++
		}
		start := time.Now()
		err := conn.Deliver(w.cfg.From, rcpts, w.msgs[i%len(w.msgs)])
		if err != nil {
			c.Error(OpDeliver, lmtpKind(err, false), err.Error())
			var ce *CodeError
			if !errors.As(err, &ce) {
				return // the connection is unusable
			}
			continue
		}
		c.Record(OpDeliver, start)
	}
}

// lmtpKind classifies an LMTP failure into the report's error kinds.
func lmtpKind(err error, connecting bool) string {
	var ce *CodeError
	var re *ReplyError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		if ce.Reply.Code >= 500 {
			return ErrBAD
		}
		if ce.Reply.Code < 400 {
			// A success code where another was due (250 to DATA
			// instead of 354: the data was never taken).
			return ErrProtocol
		}
		return ErrNO
	case errors.As(err, &re):
		return ErrProtocol
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case connecting:
		return ErrConnect
	}
	return ErrDisconnect
}

// pause waits a little before a failed connection is retried, so a server
// that is down is not hammered.
func pause(ctx context.Context) {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
