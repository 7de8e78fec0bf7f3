package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
)

// VisibleConfig configures the end-to-end delivery latency workload.
type VisibleConfig struct {
	LMTPAddr string // "host:port" or "unix:PATH"
	IMAPAddr string
	Dial     imapc.Options
	// User logs in over IMAP and is the recipient (Rcpt, when set, is the
	// address LMTP delivers to; default User).
	User Credential
	Rcpt string
	// SMTPAddr, when set, replaces LMTPAddr: messages are submitted over
	// SMTP (a port 25 listener) and travel through the server's queue, so
	// the figure is SMTP 250 to visible.
	SMTPAddr string
	// Users and Rcpts (parallel lists), when set, give client i the login
	// Users[i%len] and the recipient Rcpts[i%len] instead of User and
	// Rcpt: with one INBOX per client, each EXISTS is its own message.
	Users []Credential
	Rcpts []string
	Size  int
	// Wait bounds how long a delivered message may take to show up
	// (default 10 s); longer is counted as a timeout.
	Wait time.Duration
}

// Visible measures the time from a delivery's 250 to the message being
// visible to an IMAP client of the recipient: each simulated client keeps
// an IMAP session of its own in IDLE on INBOX (RFC 2177) and an LMTP
// session; it delivers one message, notes the time of the 250, and waits
// for the EXISTS that announces it. Clients should be few (one is the
// measurement; several deliver to the same INBOX and each waits for the
// count to pass what it had).
type Visible struct {
	cfg VisibleConfig
	msg []byte
}

// NewVisible checks the configuration.
func NewVisible(cfg VisibleConfig) (*Visible, error) {
	if (cfg.LMTPAddr == "" && cfg.SMTPAddr == "") || cfg.IMAPAddr == "" {
		return nil, errors.New("visible workload: an LMTP (or SMTP) and an IMAP address are needed")
	}
	if len(cfg.Users) != len(cfg.Rcpts) {
		return nil, errors.New("visible workload: Users and Rcpts differ in length")
	}
	if len(cfg.Users) > 0 {
		cfg.User, cfg.Rcpt = cfg.Users[0], cfg.Rcpts[0]
	}
	if cfg.User.User == "" {
		return nil, errors.New("visible workload: no user")
	}
	if cfg.Rcpt == "" {
		cfg.Rcpt = cfg.User.User
	}
	if cfg.Size <= 0 {
		cfg.Size = 4096
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 10 * time.Second
	}
	return &Visible{cfg: cfg, msg: SizedMessage(0, cfg.Size)}, nil
}

// Name implements Workload.
func (w *Visible) Name() string { return "visible" }

// Target implements Workload.
func (w *Visible) Target() string { return w.deliverAddr() + " -> " + w.cfg.IMAPAddr }

func (w *Visible) deliverAddr() string {
	if w.cfg.SMTPAddr != "" {
		return w.cfg.SMTPAddr
	}
	return w.cfg.LMTPAddr
}

// Ops implements Workload.
func (w *Visible) Ops() []string { return []string{OpDeliver, OpVisible} }

// Run implements Workload.
func (w *Visible) Run(ctx context.Context, c *Client) {
	for ctx.Err() == nil {
		if !w.session(ctx, c) {
			pause(ctx)
		}
	}
}

// session runs until the context ends or something fails; false means it
// failed before delivering anything.
func (w *Visible) session(ctx context.Context, c *Client) bool {
	user, rcpt := w.cfg.User, w.cfg.Rcpt
	if n := len(w.cfg.Users); n > 0 {
		user, rcpt = w.cfg.Users[c.ID%n], w.cfg.Rcpts[c.ID%n]
	}
	ic, err := imapc.Dial(ctx, w.cfg.IMAPAddr, w.cfg.Dial)
	if err != nil {
		c.Error(OpConnect, ErrConnect, err.Error())
		return false
	}
	defer ic.Close()
	var exists uint32
	for _, cmd := range [][]any{
		{"LOGIN", imapc.Quote(user.User), imapc.Quote(user.Password)},
		{"SELECT", "INBOX"},
	} {
		res, err := ic.Do(cmd...)
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			c.Error(OpConnect, imapKind(err), fmt.Sprintf("%s: %v", cmd[0], err))
			return false
		}
		for _, u := range res.Untagged {
			if u.Kind == "EXISTS" {
				exists = u.Num
			}
		}
	}
	tag, err := ic.StartIdle()
	if err != nil {
		c.Error(OpConnect, imapKind(err), "IDLE: "+err.Error())
		return false
	}
	lc, err := dialMail(ctx, w.deliverAddr(), w.cfg.Dial.Timeout, w.cfg.SMTPAddr != "")
	if err != nil {
		c.Error(OpConnect, lmtpKind(err, true), err.Error())
		return false
	}
	defer lc.Close()
	for ctx.Err() == nil {
		start := time.Now()
		if err := lc.Deliver("bench@example.org", []string{rcpt}, w.msg); err != nil {
			c.Error(OpDeliver, lmtpKind(err, false), err.Error())
			return true
		}
		c.Record(OpDeliver, start)
		at250 := time.Now()
		want := exists + 1
		deadline := at250.Add(w.cfg.Wait)
		for exists < want {
			r, err := ic.ReadIdle(deadline)
			if err != nil {
				if ctx.Err() == nil {
					c.Error(OpVisible, imapKind(err), fmt.Sprintf("waiting for message %d: %v", want, err))
				}
				return true
			}
			switch r.Kind {
			case "EXISTS":
				exists = r.Num
			case "BYE":
				c.Error(OpVisible, ErrBye, "* BYE "+string(r.Text))
				return true
			case "EXPUNGE":
				c.Error(OpVisible, ErrUntagged, "EXPUNGE while only deliveries happen")
				return true
			}
		}
		c.Record(OpVisible, at250)
	}
	ic.EndIdle(tag)
	return true
}

// imapKind classifies an imapc error into the report's error kinds.
func imapKind(err error) string {
	var pe *imapc.ProtocolError
	var se *imapc.StatusError
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &pe):
		return ErrProtocol
	case errors.As(err, &se):
		switch se.Resp.Kind {
		case "BAD":
			return ErrBAD
		case "BYE":
			return ErrBye
		}
		return ErrNO
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return ErrDisconnect
}
