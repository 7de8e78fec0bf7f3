package delivery

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/storage"
)

// maxCommits bounds the recipients of one DeliverAll whose Commit runs
// at the same time: each holds a user's store open, and beyond a few
// the shared fsync cost no longer drops.
const maxCommits = 16

// Recipient is one recipient of DeliverAll.
type Recipient struct {
	User storage.UserConfig
	Env  Envelope
}

// DeliverAll saves msg for every recipient of one transaction and calls
// done(i, mailbox, err) for rcpts[i] once its save committed (the message
// is on stable storage) or failed; err is nil or a *Failure. done may be
// called from several goroutines at once, in any order; DeliverAll
// returns after the last call.
//
// With one recipient it is Deliver. With several, the message is written
// once and linked into the other recipients' mailboxes where the store
// can (storage.Delivery), and the recipients' Commits run concurrently,
// so their syncs overlap. The trace fields then leave out the
// per-recipient parts (Delivered-To, Received's "for"), as Dovecot's
// lmtp does for a transaction with several recipients: every recipient
// stores the same bytes. Return-Path and Received come from rcpts[0].Env
// (one transaction has one sender and session).
func (d *Deliverer) DeliverAll(rcpts []Recipient, msg Message, done func(i int, mailbox string, err error)) {
	switch len(rcpts) {
	case 0:
		return
	case 1:
		mb, err := d.Deliver(rcpts[0].User, rcpts[0].Env, msg)
		done(0, mb, err)
		return
	}
	hdr := d.Options.headers(rcpts[0].Env, "")
	if d.Sieve != nil {
		// A Sieve script may pick several mailboxes per recipient; the
		// one-write path is for the default mailbox only.
		for i, rc := range rcpts {
			mb, err := d.deliverHdr(rc.User, rc.Env, msg, hdr)
			done(i, mb, err)
		}
		return
	}
	dl := storage.NewDelivery(func() io.Reader {
		return io.MultiReader(bytes.NewReader(hdr), io.NewSectionReader(msg.R, 0, msg.Size))
	})
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxCommits)
	// Appends through dl run one after the other (storage.Delivery's
	// rule); each recipient's Commit starts as soon as its Append is
	// done, so the first recipients' syncs overlap the later appends.
	for i, rc := range rcpts {
		p, name, err := d.stage(rc, dl)
		if err != nil {
			done(i, name, err)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			done(i, name, p.commit(d.Options))
		}()
	}
	wg.Wait()
	if err := dl.Close(); err != nil {
		d.log().Warn("removing the shared copy", zap.Error(err))
	}
}

// deliverHdr is Deliver with the trace fields given.
func (d *Deliverer) deliverHdr(cfg storage.UserConfig, env Envelope, msg Message, hdr []byte) (string, error) {
	if err := mailuser.MakeHome(cfg.Home); err != nil {
		return "", TempFailure(fmt.Errorf("home directory: %w", err))
	}
	u, err := storage.OpenUser(cfg, d.Drivers, d.log())
	if err != nil {
		return "", d.Options.failure(err)
	}
	defer u.Close()
	return d.deliverUser(u, env, msg, hdr)
}

// pending is a recipient whose message is appended but not committed.
type pending struct {
	u  *storage.User
	mb storage.Mailbox
	sv storage.Save
}

// commit commits and closes; the result is nil or a *Failure.
func (p *pending) commit(o Options) error {
	_, _, err := p.sv.Commit()
	p.mb.Close()
	p.u.Close()
	if err != nil {
		return o.failure(err)
	}
	return nil
}

// stage opens rc's store and appends the message through dl into the
// target mailbox, with Deliver's fallbacks (autocreate, INBOX). It
// returns the open save to commit, or a *Failure.
func (d *Deliverer) stage(rc Recipient, dl *storage.Delivery) (*pending, string, error) {
	if err := mailuser.MakeHome(rc.User.Home); err != nil {
		return nil, "", TempFailure(fmt.Errorf("home directory: %w", err))
	}
	u, err := storage.OpenUser(rc.User, d.Drivers, d.log())
	if err != nil {
		return nil, "", d.Options.failure(err)
	}
	var p *pending
	name, err := d.saveTo(u, d.target(rc.Env), func(name string) error {
		mb, err := u.OpenSave(name)
		if err != nil {
			return err
		}
		sv, err := mb.BeginSave()
		if err != nil {
			mb.Close()
			return err
		}
		if err := dl.Append(sv, storage.AppendOptions{}); err != nil {
			sv.Abort()
			mb.Close()
			return err
		}
		p = &pending{u: u, mb: mb, sv: sv}
		return nil
	})
	if err != nil {
		u.Close()
		return nil, name, d.Options.failure(err)
	}
	return p, name, nil
}
