package delivery

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/storage"
)

// maxTrace bounds the trace fields delivery prepends (Return-Path,
// Delivered-To, Received): a stored message longer than the spooled one
// by more than this is not a copy of it.
const maxTrace = 8 << 10

// Delivered reports whether msg is already stored for the recipient of
// env: a message saved at or after since (SAVEDATE, whole seconds) in the
// mailbox delivery would pick, or INBOX (its fallback), whose bytes end
// with msg's bytes after at most maxTrace bytes of trace fields. It is
// the queue's resume check (pkg/lmtp): the queue had started delivering
// this message when it died, and the message carries its queue ID in the
// smtpd or pickup Received field, so identical bytes are this delivery.
// The scan walks the mailbox from its newest message down and stops at
// the first one saved before since, so its cost is the mail saved since
// the attempt, not the mailbox size. A mailbox that does not exist holds
// nothing; other errors are returned (the caller then delivers: a
// duplicate is better than a loss).
func (d *Deliverer) Delivered(cfg storage.UserConfig, env Envelope, msg Message, since time.Time) (string, bool, error) {
	if err := mailuser.MakeHome(cfg.Home); err != nil {
		return "", false, err
	}
	u, err := storage.OpenUser(cfg, d.Drivers, d.log())
	if err != nil {
		return "", false, err
	}
	defer u.Close()
	names := []string{d.target(env)}
	if !storage.IsInbox(names[0]) {
		names = append(names, "INBOX")
	}
	// SAVEDATE has whole seconds; one more second absorbs a clock step.
	bound := since.Truncate(time.Second).Add(-time.Second)
	for _, name := range names {
		found, err := storedSince(u, name, msg, bound)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return name, false, err
		}
		if found {
			return name, true, nil
		}
	}
	return "", false, nil
}

// storedSince looks for a copy of msg saved in mailbox name at or after
// bound.
func storedSince(u *storage.User, name string, msg Message, bound time.Time) (bool, error) {
	mb, err := u.Open(name, true)
	if err != nil {
		return false, err
	}
	defer mb.Close()
	uids := mb.UIDs()
	for k := len(uids) - 1; k >= 0; k-- {
		m, err := mb.Message(uids[k])
		if errors.Is(err, storage.ErrExpunged) {
			continue
		}
		if err != nil {
			return false, err
		}
		if m.SaveDate.Before(bound) {
			return false, nil
		}
		if m.PhysicalSize < msg.Size || m.PhysicalSize > msg.Size+maxTrace {
			continue
		}
		same, err := endsWith(mb, m.UID, msg)
		if err != nil && !errors.Is(err, storage.ErrExpunged) {
			return false, err
		}
		if same {
			return true, nil
		}
	}
	return false, nil
}

// endsWith compares the last msg.Size bytes of the stored message uid
// with msg.
func endsWith(mb storage.Mailbox, uid uint32, msg Message) (bool, error) {
	b, err := mb.Open(uid)
	if err != nil {
		return false, err
	}
	defer b.Close()
	off := b.Size() - msg.Size
	if off < 0 {
		return false, nil
	}
	const chunk = 64 << 10
	x, y := make([]byte, chunk), make([]byte, chunk)
	for pos := int64(0); pos < msg.Size; pos += chunk {
		n := min(chunk, msg.Size-pos)
		if _, err := b.ReadAt(x[:n], off+pos); err != nil && !(errors.Is(err, io.EOF) && pos+n == msg.Size) {
			return false, err
		}
		if _, err := msg.R.ReadAt(y[:n], pos); err != nil && !(errors.Is(err, io.EOF) && pos+n == msg.Size) {
			return false, err
		}
		if !bytes.Equal(x[:n], y[:n]) {
			return false, nil
		}
	}
	return true, nil
}
