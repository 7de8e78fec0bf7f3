package anvil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// requestTimeout bounds one request's round trip on an established
// connection. anvil answers from memory; a slower answer means it is stuck,
// and callers are better off without it than waiting.
const requestTimeout = 5 * time.Second

// Client is a connection to the anvil service.
type Client struct {
	path string

	mu     sync.Mutex // guards everything below and serializes requests
	conn   net.Conn
	r      *bufio.Reader
	live   map[connKey]int // registered by Connect, re-sent after a redial
	closed bool
}

// Dial connects to the anvil socket at path and sends the handshake.
func Dial(ctx context.Context, path string) (*Client, error) {
	c := &Client{path: path, live: map[connKey]int{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.ensure(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection; the server forgets the connections this
// client registered.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// ensure dials when there is no connection; redialled reports a fresh
// connection, on which the live connections have been re-sent. c.mu is held.
func (c *Client) ensure(ctx context.Context) (redialled bool, err error) {
	if c.closed {
		return false, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	if c.conn != nil {
		return false, nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var b strings.Builder
	b.WriteString(Handshake + "\n")
	for k, n := range c.live {
		for range n {
			b.WriteString(formatLine(cmdConnect, strconv.Itoa(k.pid), k.ident))
		}
	}
	conn.SetWriteDeadline(time.Now().Add(requestTimeout))
	if _, err := conn.Write([]byte(b.String())); err != nil {
		conn.Close()
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c.conn, c.r = conn, bufio.NewReaderSize(conn, MaxLine+1)
	return true, nil
}

func (c *Client) reset() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// do sends line and, when reply is set, returns the reply lines (one, or
// until an empty line when multi is set). A failure on an established
// connection is retried once on a new one. coveredByReplay says the
// request is already part of the re-sent live set, so a fresh connection
// needs nothing more. c.mu is held.
func (c *Client) do(ctx context.Context, line string, reply, multi, coveredByReplay bool) ([]string, error) {
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		redialled, err := c.ensure(ctx)
		if err != nil {
			return nil, err
		}
		if redialled && coveredByReplay {
			return nil, nil
		}
		out, err := c.roundTrip(ctx, line, reply, multi)
		if err == nil {
			return out, nil
		}
		c.reset()
		lastErr = err
		if redialled {
			break // a fresh connection failed: anvil is not there
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrUnavailable, lastErr)
}

func (c *Client) roundTrip(ctx context.Context, line string, reply, multi bool) ([]string, error) {
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.conn.Write([]byte(line)); err != nil {
		return nil, err
	}
	if !reply {
		return nil, nil
	}
	var out []string
	for {
		l, err := readLine(c.r)
		if errors.Is(err, errEOF) {
			err = errors.New("connection closed by anvil")
		}
		if err != nil {
			return nil, err
		}
		if !multi {
			return []string{l}, nil
		}
		if l == "" {
			return out, nil
		}
		out = append(out, l)
	}
}

// Connect registers one connection of user from ip to service, held by
// process pid (for mail_max_userip_connections and `coteadm who`).
func (c *Client) Connect(pid int, service, user string, ip netip.Addr) error {
	k := connKey{Ident(service, user, ip), pid}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[k]++
	_, err := c.do(context.Background(), formatLine(cmdConnect, strconv.Itoa(pid), k.ident), false, false, true)
	return err
}

// Disconnect unregisters one connection registered with Connect.
func (c *Client) Disconnect(pid int, service, user string, ip netip.Addr) error {
	k := connKey{Ident(service, user, ip), pid}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live[k] == 0 {
		return fmt.Errorf("anvil: Disconnect without Connect for %s", k.ident)
	}
	if c.live[k]--; c.live[k] == 0 {
		delete(c.live, k)
	}
	_, err := c.do(context.Background(), formatLine(cmdDisconnect, strconv.Itoa(pid), k.ident), false, false, true)
	return err
}

// Kill makes anvil forget every connection held by process pid (the
// process died without disconnecting them).
func (c *Client) Kill(pid int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.live {
		if k.pid == pid {
			delete(c.live, k)
		}
	}
	_, err := c.do(context.Background(), formatLine(cmdKill, strconv.Itoa(pid)), false, false, false)
	return err
}

// Lookup returns how many connections user from ip holds on service,
// across all processes.
func (c *Client) Lookup(service, user string, ip netip.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.do(context.Background(), formatLine(cmdLookup, Ident(service, user, ip)), true, false, false)
	if err != nil {
		return 0, err
	}
	n, err := parseUint(out[0], 1<<31-1)
	if err != nil {
		c.reset()
		return 0, fmt.Errorf("anvil: malformed LOOKUP reply")
	}
	return n, nil
}

// Rate counts one event of user from ip on service (a connection, for
// smtpd_client_connection_rate_limit) and returns how many there were in
// the current window, this one included. The window is Postfix anvil's:
// it starts at the first event and restarts at the first event after
// window has elapsed. window is rounded down to whole seconds (at least
// one). RATE is cote's extension of Dovecot's protocol.
func (c *Client) Rate(service, user string, ip netip.Addr, window time.Duration) (int, error) {
	secs := max(1, min(int(window/time.Second), maxRateWindow))
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.do(context.Background(), formatLine(cmdRate, Ident(service, user, ip), strconv.Itoa(secs)), true, false, false)
	if err != nil {
		return 0, err
	}
	n, err := parseUint(out[0], 1<<31-1)
	if err != nil {
		c.reset()
		return 0, fmt.Errorf("anvil: malformed RATE reply")
	}
	return n, nil
}

// PenaltyGet returns ip's authentication penalty and when it was last
// raised (the zero Time when ip has none).
func (c *Client) PenaltyGet(ip netip.Addr) (penalty int, last time.Time, err error) {
	if !ip.IsValid() {
		return 0, time.Time{}, errors.New("anvil: PenaltyGet: invalid IP")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.do(context.Background(), formatLine(cmdPenaltyGet, ip.Unmap().String()), true, false, false)
	if err != nil {
		return 0, time.Time{}, err
	}
	p, ts, ok := strings.Cut(out[0], " ")
	pv, err1 := parseUint(p, maxPenaltyValue)
	tv, err2 := strconv.ParseInt(ts, 10, 64)
	if !ok || err1 != nil || err2 != nil || tv < 0 {
		c.reset()
		return 0, time.Time{}, fmt.Errorf("anvil: malformed PENALTY-GET reply")
	}
	if tv > 0 {
		last = time.Unix(tv, 0)
	}
	return pv, last, nil
}

// PenaltyInc sets ip's penalty to value. The caller sends the new value
// (normally PenaltyGet's plus one, as Dovecot's auth does), so concurrent
// failures from one IP do not compound. checksum identifies the attempt
// (a hash of user and password; 0 for none): when it is among the IP's
// last few, the penalty is left as it is, so a client retrying one stale
// password is not pushed to the maximum delay.
func (c *Client) PenaltyInc(ip netip.Addr, checksum uint32, value int) error {
	if !ip.IsValid() {
		return errors.New("anvil: PenaltyInc: invalid IP")
	}
	value = max(0, min(value, maxPenaltyValue))
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.do(context.Background(), formatLine(cmdPenaltyInc, ip.Unmap().String(),
		strconv.FormatUint(uint64(checksum), 10), strconv.Itoa(value)), false, false, false)
	return err
}

// PenaltySetExpire sets how long penalties are kept after their last
// update, for every client of this anvil (whole seconds).
func (c *Client) PenaltySetExpire(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.do(context.Background(), formatLine(cmdPenaltyExp, strconv.Itoa(int(d/time.Second))), false, false, false)
	return err
}

// Who returns the connection table, ordered by ident and pid. Entries
// whose ident is not service/ip/user are skipped.
func (c *Client) Who(ctx context.Context) ([]Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.do(ctx, formatLine(cmdConnectDump), true, true, false)
	if err != nil {
		return nil, err
	}
	conns := make([]Conn, 0, len(out))
	for _, l := range out {
		cn, err := parseDumpLine(l)
		if err != nil {
			continue
		}
		conns = append(conns, cn)
	}
	return conns, nil
}
