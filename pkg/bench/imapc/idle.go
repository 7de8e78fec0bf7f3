package imapc

import (
	"fmt"
	"time"
)

// StartIdle sends IDLE (RFC 2177) and waits for the server's continuation
// request. Untagged responses that arrive before it are kept and returned
// by ReadIdle. A completion instead of the continuation (the server refused
// IDLE) is a *StatusError.
func (c *Conn) StartIdle() (string, error) {
	c.tagN++
	tag := "b" + fmt.Sprint(c.tagN)
	c.pending = append(c.pending, tag)
	c.results[tag] = &Result{}
	c.deadline()
	c.w.WriteString(tag + " IDLE\r\n")
	if err := c.w.Flush(); err != nil {
		return tag, err
	}
	ok, err := c.awaitContinuation(tag)
	if err != nil {
		return tag, err
	}
	if !ok {
		res, err := c.Wait(tag)
		if err != nil {
			return tag, err
		}
		if err := res.Err(); err != nil {
			return tag, err
		}
		return tag, protoErr("IDLE completed without a continuation request", nil)
	}
	return tag, nil
}

// ReadIdle returns the next untagged response while IDLE runs, waiting
// until deadline at most (a timeout is a net.Error). Anything other than
// an untagged response (a completion of the IDLE command, a continuation)
// is a *ProtocolError: the client has not sent DONE yet.
func (c *Conn) ReadIdle(deadline time.Time) (*Response, error) {
	var r *Response
	if len(c.backlog) > 0 {
		r, c.backlog = c.backlog[0], c.backlog[1:]
	} else {
		c.mu.Lock()
		if !c.cancelled {
			c.nc.SetDeadline(deadline)
		}
		c.mu.Unlock()
		var err error
		if r, err = c.r.ReadResponse(); err != nil {
			return nil, err
		}
	}
	if r.Tag != "*" {
		return nil, protoErr("response other than untagged data during IDLE", []byte(r.Tag+" "+r.Kind))
	}
	c.noteCaps(r)
	return r, nil
}

// EndIdle sends DONE and waits for the IDLE command's completion.
func (c *Conn) EndIdle(tag string) (*Result, error) {
	c.deadline()
	c.w.WriteString("DONE\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.Wait(tag)
}
