package authproto

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Master is a client of auth-master or auth-userdb: post-login processes
// redeem cookies (REQUEST), lmtp and coteadm look users up (USER, PASS,
// LIST). Requests run concurrently, told apart by id.
type Master struct {
	conn net.Conn
	c    *Conn
	spid int

	mu      sync.Mutex // guards nextID, pending, err
	nextID  uint32
	pending map[uint32]*masterCall
	err     error

	dead chan struct{}
}

type masterCall struct {
	replies chan masterReply
	gone    chan struct{} // closed when the caller stopped waiting
}

// listBuffer lets a LIST stream ahead of a slow callback; the reader blocks
// beyond it (other requests on the connection wait meanwhile).
const listBuffer = 64

// masterHandshakeLines bounds the lines read before SPID.
const masterHandshakeLines = 16

// DialMaster connects to an auth-master or auth-userdb socket and runs the
// handshake.
func DialMaster(ctx context.Context, path string) (*Master, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	m, err := NewMaster(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return m, nil
}

// NewMaster runs the handshake on an open connection and takes it over.
func NewMaster(ctx context.Context, conn net.Conn) (*Master, error) {
	stop := deadlineFromContext(ctx, conn)
	defer stop()
	pc := NewConn(conn)
	if err := pc.WriteLine("VERSION", strconv.Itoa(MasterMajor), strconv.Itoa(MasterMinor)); err != nil {
		return nil, ctxErr(ctx, err)
	}
	spid, err := readMasterHandshake(pc)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("authproto: auth-master handshake: %w", err))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	m := &Master{conn: conn, c: pc, spid: spid, nextID: 1, pending: map[uint32]*masterCall{}, dead: make(chan struct{})}
	go m.readLoop()
	return m, nil
}

func readMasterHandshake(c *Conn) (int, error) {
	sawVersion := false
	for n := 0; n < masterHandshakeLines; n++ {
		args, err := c.ReadLine()
		if err != nil {
			return 0, err
		}
		if !sawVersion {
			if args[0] != "VERSION" || len(args) < 3 {
				return 0, fmt.Errorf("%w: handshake must start with VERSION", ErrMalformed)
			}
			if args[1] != strconv.Itoa(MasterMajor) {
				return 0, fmt.Errorf("%w: server speaks %s.%s", ErrVersion, args[1], args[2])
			}
			sawVersion = true
			continue
		}
		if args[0] == "SPID" {
			if len(args) < 2 {
				return 0, fmt.Errorf("%w: SPID", ErrMalformed)
			}
			pid, err := strconv.Atoi(args[1])
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("%w: SPID %q", ErrMalformed, args[1])
			}
			return pid, nil
		}
	}
	return 0, fmt.Errorf("%w: no SPID in handshake", ErrMalformed)
}

// ServerPID is the auth server's pid from the handshake. A post-login
// process compares it with the SPID its login process saw.
func (m *Master) ServerPID() int { return m.spid }

// Close closes the connection; running requests fail with ErrClosed.
func (m *Master) Close() error {
	m.fail(ErrClosed)
	err := m.conn.Close()
	<-m.dead
	return err
}

func (m *Master) fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.mu.Unlock()
}

func (m *Master) broken(err error) {
	m.fail(err)
	m.conn.Close()
}

func (m *Master) readLoop() {
	defer close(m.dead)
	for {
		args, err := m.c.ReadLine()
		if err != nil {
			m.broken(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		id, r, err := parseMasterReply(args)
		if err != nil {
			m.broken(err)
			return
		}
		m.mu.Lock()
		call := m.pending[id]
		m.mu.Unlock()
		if call == nil {
			// The caller gave up (context cancelled); drop the rest.
			continue
		}
		select {
		case call.replies <- r:
		case <-call.gone:
		}
	}
}

// call sends one request line and returns the call to read replies from.
func (m *Master) call(build func(id string) []byte) (uint32, *masterCall, error) {
	m.mu.Lock()
	if m.err != nil {
		err := m.err
		m.mu.Unlock()
		return 0, nil, err
	}
	id := m.nextID
	for id == 0 || m.pending[id] != nil {
		id++
	}
	m.nextID = id + 1
	call := &masterCall{replies: make(chan masterReply, listBuffer), gone: make(chan struct{})}
	m.pending[id] = call
	m.mu.Unlock()
	line := build(formatID(id))
	if len(line) > MaxLineLength {
		m.done(id, call)
		return 0, nil, ErrLineTooLong
	}
	if err := m.c.Write(line); err != nil {
		m.done(id, call)
		m.broken(fmt.Errorf("%w: %v", ErrClosed, err))
		return 0, nil, err
	}
	return id, call, nil
}

func (m *Master) done(id uint32, call *masterCall) {
	m.mu.Lock()
	delete(m.pending, id)
	m.mu.Unlock()
	close(call.gone)
}

func (m *Master) wait(ctx context.Context, call *masterCall) (masterReply, error) {
	select {
	case r := <-call.replies:
		return r, nil
	case <-ctx.Done():
		return masterReply{}, ctx.Err()
	case <-m.dead:
		select {
		case r := <-call.replies:
			return r, nil
		default:
		}
		m.mu.Lock()
		err := m.err
		m.mu.Unlock()
		return masterReply{}, err
	}
}

func failErr(r masterReply) error {
	reason, _ := r.fields.Get("reason")
	return &FailError{Reason: reason}
}

// Request redeems a login's auth id and cookie: the auth server answers with
// the user and the userdb fields, once.
func (m *Master) Request(ctx context.Context, clientPID int, authID uint32, cookie string) (string, Fields, error) {
	if !ValidCookie(cookie) {
		return "", nil, fmt.Errorf("authproto: cookie must be %d hex digits", CookieLen)
	}
	id, call, err := m.call(func(id string) []byte {
		return FormatLine(CmdRequest, id, strconv.Itoa(clientPID), formatID(authID), cookie)
	})
	if err != nil {
		return "", nil, err
	}
	defer m.done(id, call)
	return m.userReply(ctx, call)
}

func (m *Master) userReply(ctx context.Context, call *masterCall) (string, Fields, error) {
	r, err := m.wait(ctx, call)
	if err != nil {
		return "", nil, err
	}
	switch r.kind {
	case "USER":
		return r.user, r.fields, nil
	case "NOTFOUND":
		return "", nil, ErrNotFound
	case "FAIL":
		return "", nil, failErr(r)
	}
	m.broken(fmt.Errorf("%w: unexpected %s reply", ErrMalformed, r.kind))
	return "", nil, ErrMalformed
}

// User looks user up in the userdbs (service: "imap", "lmtp"...; f: extra
// request fields such as rip). It returns the canonical user name and the
// userdb fields, or ErrNotFound.
func (m *Master) User(ctx context.Context, user, service string, f Fields) (string, Fields, error) {
	id, call, err := m.call(func(id string) []byte {
		args := []string{CmdUser, id, user}
		if service != "" {
			args = append(args, "service="+service)
		}
		return FormatLine(append(args, f.Args()...)...)
	})
	if err != nil {
		return "", nil, err
	}
	defer m.done(id, call)
	return m.userReply(ctx, call)
}

// Pass looks user up in the passdbs without a password (PASS): the passdb
// fields, or ErrNotFound.
func (m *Master) Pass(ctx context.Context, user, service string, f Fields) (Fields, error) {
	id, call, err := m.call(func(id string) []byte {
		args := []string{CmdPass, id, user}
		if service != "" {
			args = append(args, "service="+service)
		}
		return FormatLine(append(args, f.Args()...)...)
	})
	if err != nil {
		return nil, err
	}
	defer m.done(id, call)
	r, err := m.wait(ctx, call)
	if err != nil {
		return nil, err
	}
	switch r.kind {
	case "PASS":
		return r.fields, nil
	case "NOTFOUND":
		return nil, ErrNotFound
	case "FAIL":
		return nil, failErr(r)
	}
	m.broken(fmt.Errorf("%w: unexpected %s reply", ErrMalformed, r.kind))
	return nil, ErrMalformed
}

// List iterates the users the userdbs can list, matching mask (Dovecot's
// wildcards * and ?; "" for all), calling fn for each. An error from fn stops
// the iteration and is returned; the rest of the answer is dropped.
func (m *Master) List(ctx context.Context, mask string, fn func(user string) error) error {
	id, call, err := m.call(func(id string) []byte {
		if mask == "" {
			return FormatLine(CmdList, id)
		}
		return FormatLine(CmdList, id, "user="+mask)
	})
	if err != nil {
		return err
	}
	defer m.done(id, call)
	for {
		r, err := m.wait(ctx, call)
		if err != nil {
			return err
		}
		switch r.kind {
		case "LIST":
			if err := fn(r.user); err != nil {
				return err
			}
		case "DONE":
			return nil
		case "FAIL":
			return failErr(r)
		default:
			m.broken(fmt.Errorf("%w: unexpected %s reply to LIST", ErrMalformed, r.kind))
			return ErrMalformed
		}
	}
}
