package authproto

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// MasterConn is the one auth-master or auth-userdb connection a process's
// sessions share (imap redeeming logins, lmtp looking up recipients). It is
// dialled on first use and, when a request fails because the connection
// broke (auth restarted), redialled once.
type MasterConn struct {
	path string
	mu   sync.Mutex // guards m
	m    *Master
}

// NewMasterConn returns a MasterConn for the socket at path; nothing is
// dialled yet.
func NewMasterConn(path string) *MasterConn { return &MasterConn{path: path} }

// Do runs fn on the shared connection. When fn fails with anything but an
// answer from auth (a FAIL reply, ErrNotFound) or the context's end, the
// connection is dropped and fn runs once more on a new one.
func (c *MasterConn) Do(ctx context.Context, fn func(*Master) error) error {
	for attempt := 0; ; attempt++ {
		m, err := c.get(ctx)
		if err != nil {
			return err
		}
		err = fn(m)
		var fe *FailError
		if err == nil || errors.As(err, &fe) || errors.Is(err, ErrNotFound) || ctx.Err() != nil || attempt > 0 {
			return err
		}
		c.drop(m)
	}
}

func (c *MasterConn) get(ctx context.Context) (*Master, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m != nil {
		return c.m, nil
	}
	m, err := DialMaster(ctx, c.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	c.m = m
	return m, nil
}

func (c *MasterConn) drop(m *Master) {
	c.mu.Lock()
	if c.m == m {
		c.m = nil
	}
	c.mu.Unlock()
	m.Close()
}

// Close closes the connection; a later Do dials again.
func (c *MasterConn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m != nil {
		c.m.Close()
		c.m = nil
	}
}

// Map returns the fields as a map (a flag without a value maps to "");
// a later field of the same key wins, as in Dovecot's userdb replies.
func (f Fields) Map() map[string]string {
	out := make(map[string]string, len(f))
	for _, x := range f {
		out[x.Key] = x.Value
	}
	return out
}
