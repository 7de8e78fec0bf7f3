package authproto

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Client is one auth-client connection of a login process (or any SASL
// client of the auth service). Many exchanges run on it at once, told apart
// by request id; one goroutine reads the replies and hands each to its
// exchange.
type Client struct {
	conn net.Conn
	c    *Conn
	hs   Handshake

	mu      sync.Mutex // guards nextID, pending, err
	nextID  uint32
	pending map[uint32]*Exchange
	err     error // set once, when the connection broke or was closed

	dead chan struct{} // closed when the reader stops
}

// Exchange is one AUTH request in progress.
type Exchange struct {
	c       *Client
	id      uint32
	replies chan Reply
	once    sync.Once
	done    bool // set by Next after OK or FAIL; used by Next's goroutine only
}

// replyBuffer: the server sends one reply per client step, so one slot is
// enough; a second unread reply means the server broke the protocol.
const replyBuffer = 1

// DialClient connects to the auth-client socket at path, sends VERSION and
// CPID (pid: this process), and reads the server's handshake. ctx bounds the
// dial and the handshake.
func DialClient(ctx context.Context, path string, pid int) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(ctx, conn, pid)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient runs the client side of the handshake on an open connection and
// takes it over (Close closes it).
func NewClient(ctx context.Context, conn net.Conn, pid int) (*Client, error) {
	stop := deadlineFromContext(ctx, conn)
	defer stop()
	pc := NewConn(conn)
	// Dovecot's clients send their greeting without waiting for the
	// server's; so do we.
	hello := FormatLine("VERSION", strconv.Itoa(ClientMajor), strconv.Itoa(ClientMinor))
	hello = append(hello, FormatLine("CPID", strconv.Itoa(pid))...)
	if err := pc.Write(hello); err != nil {
		return nil, ctxErr(ctx, err)
	}
	hs, err := readClientHandshake(pc)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("authproto: auth-client handshake: %w", err))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	c := &Client{conn: conn, c: pc, hs: hs, nextID: 1, pending: map[uint32]*Exchange{}, dead: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// deadlineFromContext makes ctx's cancellation or deadline unblock I/O on
// conn; the returned func stops that.
// Only the AfterFunc sets a deadline, so an I/O error from it comes after
// ctx is done and ctxErr reports the context's error.
func deadlineFromContext(ctx context.Context, conn net.Conn) func() {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Mechanisms returns the mechanisms the server offered.
func (c *Client) Mechanisms() []Mech { return append([]Mech(nil), c.hs.Mechs...) }

// ServerPID is the auth server's pid (SPID).
func (c *Client) ServerPID() int { return c.hs.SPID }

// ConnectUID is this connection's id at the server (CUID).
func (c *Client) ConnectUID() uint32 { return c.hs.CUID }

// Cookie is the connection cookie the post-login process presents with
// REQUEST.
func (c *Client) Cookie() string { return c.hs.Cookie }

// Close closes the connection; running exchanges fail with ErrClosed.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	err := c.conn.Close()
	<-c.dead
	return err
}

// Err returns why the connection stopped, or nil while it works.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Client) readLoop() {
	defer close(c.dead)
	for {
		args, err := c.c.ReadLine()
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			c.conn.Close()
			return
		}
		id, r, err := ParseReply(args)
		if err != nil {
			c.fail(err)
			c.conn.Close()
			return
		}
		c.mu.Lock()
		e := c.pending[id]
		if e != nil && r.Kind != KindCont {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		if e == nil {
			// The reply to an exchange that was aborted: the server may
			// have answered before it read CANCEL.
			continue
		}
		select {
		case e.replies <- r:
		default:
			c.fail(fmt.Errorf("%w: server sent a reply before the client's response", ErrMalformed))
			c.conn.Close()
			return
		}
	}
}

// Start sends AUTH for r and returns the exchange. The initial response and
// every later response are limited to MaxSASLResponse bytes.
func (c *Client) Start(ctx context.Context, r Request) (*Exchange, error) {
	if len(r.InitialResponse) > MaxSASLResponse {
		return nil, ErrTooLarge
	}
	if r.Mech == "" || r.Service == "" {
		return nil, fmt.Errorf("authproto: AUTH needs a mechanism and a service")
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	id := c.nextID
	for id == 0 || c.pending[id] != nil {
		id++
	}
	c.nextID = id + 1
	e := &Exchange{c: c, id: id, replies: make(chan Reply, replyBuffer)}
	c.pending[id] = e
	c.mu.Unlock()
	line := FormatLine(r.Args(id)...)
	if len(line) > MaxLineLength {
		c.forget(id)
		return nil, ErrLineTooLong
	}
	if err := c.c.Write(line); err != nil {
		c.forget(id)
		c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
		return nil, ctxErr(ctx, err)
	}
	return e, nil
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// ID is the request id the exchange uses (the auth id the post-login process
// redeems with the cookie).
func (e *Exchange) ID() uint32 { return e.id }

// Client is the connection the exchange runs on: its ServerPID and Cookie
// travel with ID in the login -> post-login handoff.
func (e *Exchange) Client() *Client { return e.c }

// Next waits for the server's next reply: CONT (answer with Continue), OK or
// FAIL (the exchange is over).
func (e *Exchange) Next(ctx context.Context) (Reply, error) {
	if e.done {
		return Reply{}, fmt.Errorf("authproto: exchange %d is finished", e.id)
	}
	select {
	case r := <-e.replies:
		if r.Kind != KindCont {
			e.done = true
		}
		return r, nil
	case <-ctx.Done():
		e.Abort()
		return Reply{}, ctx.Err()
	case <-e.c.dead:
		// A reply may have arrived just before the connection closed.
		select {
		case r := <-e.replies:
			if r.Kind != KindCont {
				e.done = true
			}
			return r, nil
		default:
		}
		return Reply{}, e.c.Err()
	}
}

// Continue sends the client's response to a CONT challenge.
func (e *Exchange) Continue(resp []byte) error {
	if len(resp) > MaxSASLResponse {
		return ErrTooLarge
	}
	if err := e.c.Err(); err != nil {
		return err
	}
	return e.c.c.Write(FormatLine(CmdCont, formatID(e.id), base64.StdEncoding.EncodeToString(resp)))
}

// Abort cancels the exchange (CANCEL); a reply that still arrives is dropped.
// It is safe to call more than once and after the exchange finished.
func (e *Exchange) Abort() {
	e.once.Do(func() {
		e.c.mu.Lock()
		_, pending := e.c.pending[e.id]
		delete(e.c.pending, e.id)
		broken := e.c.err != nil
		e.c.mu.Unlock()
		if pending && !broken {
			// A write error here surfaces on the next use of the client.
			if err := e.c.c.Write(FormatLine(CmdCancel, formatID(e.id))); err != nil {
				e.c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			}
		}
	})
}
