package imapc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options says how to reach the server.
type Options struct {
	// TLS, when set, is the client configuration for implicit TLS (imaps)
	// or, with StartTLS, for the STARTTLS upgrade.
	TLS      *tls.Config
	StartTLS bool
	// Timeout bounds every command round trip and the connection set-up;
	// zero means 30 seconds.
	Timeout time.Duration
}

// Literal is a command argument sent as an IMAP literal: non-synchronizing
// ({n+}, RFC 7888) when the server announced LITERAL+, else synchronizing.
type Literal []byte

// Result is the outcome of one command: its tagged completion and the
// untagged responses that arrived while it was the oldest pending command.
type Result struct {
	Status   *Response
	Untagged []*Response
}

// Conn is one client connection. It is not safe for concurrent use.
type Conn struct {
	nc      net.Conn
	r       *Reader
	w       *bufio.Writer
	timeout time.Duration

	greeting *Response
	caps     map[string]bool

	tagN    uint64
	pending []string           // tags sent and not yet completed, oldest first
	results map[string]*Result // results of pending commands collected so far
	backlog []*Response        // responses read while waiting for a continuation
	stop    func() bool        // detaches the context watcher

	// mu guards cancelled and orders deadline changes against the context
	// watcher, which runs on its own goroutine.
	mu        sync.Mutex
	cancelled bool
}

// Dial connects to addr, performs TLS as the options say, and reads the
// greeting. The context bounds the set-up and, for as long as the Conn
// lives, closes it when cancelled (so a blocked read returns).
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{timeout: timeout, results: map[string]*Result{}}
	c.setConn(nc)
	c.stop = context.AfterFunc(ctx, func() {
		// A past deadline unblocks any read or write in progress; the
		// flag keeps deadline() from moving it back to the future.
		c.mu.Lock()
		defer c.mu.Unlock()
		c.cancelled = true
		c.nc.SetDeadline(time.Unix(1, 0))
	})
	if o.TLS != nil && !o.StartTLS {
		if err := c.handshake(o.TLS); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.deadline()
	g, err := c.r.ReadResponse()
	if err != nil {
		c.Close()
		return nil, err
	}
	if g.Tag != "*" || (g.Kind != "OK" && g.Kind != "PREAUTH") {
		c.Close()
		if g.Kind == "BYE" {
			return nil, &StatusError{Resp: g}
		}
		return nil, protoErr("greeting is not * OK or * PREAUTH", []byte(g.Tag+" "+g.Kind))
	}
	c.greeting = g
	c.noteCaps(g)
	if o.StartTLS {
		if o.TLS == nil {
			c.Close()
			return nil, errors.New("imapc: STARTTLS needs a TLS configuration")
		}
		res, err := c.Do("STARTTLS")
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("STARTTLS: %w", err)
		}
		if err := c.handshake(o.TLS); err != nil {
			c.Close()
			return nil, err
		}
		// RFC 9051 §6.2.1: capabilities learnt before TLS are void.
		c.caps = nil
		res, err = c.Do("CAPABILITY")
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("CAPABILITY after STARTTLS: %w", err)
		}
	}
	return c, nil
}

func (c *Conn) setConn(nc net.Conn) {
	c.mu.Lock()
	c.nc = nc
	c.mu.Unlock()
	c.r = NewReader(nc)
	c.w = bufio.NewWriterSize(nc, 16<<10)
}

func (c *Conn) handshake(cfg *tls.Config) error {
	if c.r.br.Buffered() > 0 {
		// Bytes after the STARTTLS OK and before the handshake would be
		// injected plaintext: refuse them.
		return protoErr("data after STARTTLS completion", nil)
	}
	tc := tls.Client(c.nc, cfg)
	c.deadline()
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.setConn(tc)
	return nil
}

// deadline sets the deadline of the next round trip, unless the context
// was cancelled.
func (c *Conn) deadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelled {
		c.nc.SetDeadline(time.Unix(1, 0))
		return
	}
	c.nc.SetDeadline(time.Now().Add(c.timeout))
}

// Close closes the connection without LOGOUT.
func (c *Conn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	return c.nc.Close()
}

// Greeting returns the server's greeting.
func (c *Conn) Greeting() *Response { return c.greeting }

// Has reports whether the server announced the capability (upper case).
func (c *Conn) Has(capability string) bool { return c.caps[capability] }

// noteCaps records capabilities from a CAPABILITY response or a
// [CAPABILITY ...] response code.
func (c *Conn) noteCaps(r *Response) {
	var list string
	switch {
	case r.Code == "CAPABILITY":
		list = r.CodeArg
	case r.Tag == "*" && r.Kind == "CAPABILITY":
		list = string(r.Text)
	default:
		return
	}
	c.caps = map[string]bool{}
	for _, name := range strings.Fields(list) {
		c.caps[strings.ToUpper(name)] = true
	}
}

// Send writes one command and returns its tag without waiting for the
// completion, so several commands can be pipelined. Arguments are written
// separated by spaces: a string as it is (the caller quotes), a Literal as
// a literal. With synchronizing literals Send reads until the server's
// continuation request; if the server completes the command instead, the
// rest is not sent and Wait returns that completion.
func (c *Conn) Send(args ...any) (string, error) {
	c.tagN++
	tag := "b" + strconv.FormatUint(c.tagN, 10)
	c.pending = append(c.pending, tag)
	c.results[tag] = &Result{}
	c.deadline()
	c.w.WriteString(tag)
	for _, a := range args {
		c.w.WriteByte(' ')
		switch v := a.(type) {
		case string:
			c.w.WriteString(v)
		case Literal:
			if c.caps["LITERAL+"] {
				fmt.Fprintf(c.w, "{%d+}\r\n", len(v))
				c.w.Write(v)
				continue
			}
			fmt.Fprintf(c.w, "{%d}\r\n", len(v))
			if err := c.w.Flush(); err != nil {
				return tag, err
			}
			ok, err := c.awaitContinuation(tag)
			if err != nil || !ok {
				return tag, err
			}
			c.w.Write(v)
		default:
			return tag, fmt.Errorf("imapc: unsupported argument type %T", a)
		}
	}
	c.w.WriteString("\r\n")
	return tag, c.w.Flush()
}

// awaitContinuation reads until a continuation request (true) or the
// completion of tag (false); other responses are kept for Wait.
func (c *Conn) awaitContinuation(tag string) (bool, error) {
	for {
		r, err := c.r.ReadResponse()
		if err != nil {
			return false, err
		}
		if r.Tag == "+" {
			return true, nil
		}
		c.backlog = append(c.backlog, r)
		if r.Tag == tag {
			return false, nil
		}
	}
}

// Wait reads responses until the command with the given tag completes and
// returns its result. Completions of other pending commands read on the way
// are kept for their own Wait.
func (c *Conn) Wait(tag string) (*Result, error) {
	res, ok := c.results[tag]
	if !ok {
		return nil, fmt.Errorf("imapc: Wait for unknown tag %q", tag)
	}
	for res.Status == nil {
		var r *Response
		if len(c.backlog) > 0 {
			r, c.backlog = c.backlog[0], c.backlog[1:]
		} else {
			c.deadline()
			var err error
			if r, err = c.r.ReadResponse(); err != nil {
				return nil, err
			}
		}
		if err := c.dispatch(r); err != nil {
			return nil, err
		}
	}
	delete(c.results, tag)
	return res, nil
}

// dispatch files one response under the command it belongs to.
func (c *Conn) dispatch(r *Response) error {
	switch r.Tag {
	case "+":
		return protoErr("continuation request while no literal is pending", nil)
	case "*":
		c.noteCaps(r)
		if len(c.pending) == 0 {
			// Unsolicited data between commands (RFC 9051 §7 allows
			// it) belongs to the next completion the caller waits for.
			return protoErr("untagged response with no command pending", []byte(r.Kind))
		}
		res := c.results[c.pending[0]]
		res.Untagged = append(res.Untagged, r)
		return nil
	}
	res, ok := c.results[r.Tag]
	if !ok || res.Status != nil {
		return protoErr("completion for a tag that is not pending", []byte(r.Tag))
	}
	c.noteCaps(r)
	res.Status = r
	for i, t := range c.pending {
		if t == r.Tag {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	return nil
}

// Do sends one command and waits for its completion.
func (c *Conn) Do(args ...any) (*Result, error) {
	tag, err := c.Send(args...)
	if err != nil {
		return nil, err
	}
	return c.Wait(tag)
}

// StatusError is a NO or BAD completion, or a BYE greeting.
type StatusError struct {
	Resp *Response
}

func (e *StatusError) Error() string {
	code := ""
	if e.Resp.Code != "" {
		code = "[" + e.Resp.Code + "] "
	}
	return fmt.Sprintf("%s %s%s", e.Resp.Kind, code, e.Resp.Text)
}

// Err returns a *StatusError unless the command completed with OK.
func (r *Result) Err() error {
	if r.Status.Kind == "OK" {
		return nil
	}
	return &StatusError{Resp: r.Status}
}

// Quote returns s as an IMAP quoted string; s must not contain CR or LF.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
