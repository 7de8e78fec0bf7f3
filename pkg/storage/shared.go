package storage

import "io"

// One write for many recipients. An LMTP transaction with several local
// recipients carries one message; writing and fsyncing it once per
// recipient multiplies the slowest part of delivery. A driver that can
// add a stored message to another mailbox by reference (the maildir
// driver: a hard link on the same file system with the same owner) lets
// a Delivery write it once and link it into every other recipient's save;
// where it cannot (another driver, file system or owner), the message is
// written again from its source. Either way each recipient's Commit
// returns only once the message is durable in that recipient's mailbox,
// and quota is checked and counted per recipient as for any save.

// SavedMessage is a message already stored once (written and on stable
// storage) that saves into other mailboxes, of any user of the same
// driver, can add without writing it again. It stays valid after the
// save that stored it commits or aborts, until Close.
type SavedMessage interface {
	// Size is the stored size in bytes.
	Size() int64
	// Close drops the reference; mailboxes the message was added to
	// keep it.
	Close() error
}

// Sharer is implemented by a Save that can hand out the message of its
// latest successful Append as a SavedMessage.
type Sharer interface {
	Share() (SavedMessage, error)
}

// Linker is implemented by a Save that can add a SavedMessage by
// reference. AppendLinked reports false (and adds nothing) when it
// cannot link this one: another driver's, another file system, another
// owner, or options the shared copy cannot carry; the caller then
// appends the message's bytes.
type Linker interface {
	AppendLinked(m SavedMessage, opts AppendOptions) (bool, error)
}

// Delivery saves one message into the mailboxes of many recipients,
// writing it once where the driver allows: the first Append writes it
// (Save.Append) and keeps it shared, the next ones link it. The content
// must be the same for every recipient (per-recipient header fields such
// as Delivered-To cannot be shared). Sharing costs a hard link and an
// unlink, so a message for one recipient is better saved with Save.Append
// directly. Appends through one Delivery must not overlap; the saves'
// Commits may run concurrently (each recipient's mailbox syncs on its
// own). Close it when every recipient's save is committed or aborted.
type Delivery struct {
	open   func() io.Reader
	shared SavedMessage
	linked int
}

// NewDelivery returns a Delivery of the message open returns, read
// whole each time a recipient needs its own copy (the first one, and
// any a link cannot serve).
func NewDelivery(open func() io.Reader) *Delivery {
	return &Delivery{open: open}
}

// Append adds the message to sv with opts: linked to the copy an earlier
// Append stored when sv's driver can, else written from the source. The
// message is durable in sv's mailbox when sv.Commit returns.
func (d *Delivery) Append(sv Save, opts AppendOptions) error {
	if d.shared != nil {
		if l, ok := sv.(Linker); ok {
			done, err := l.AppendLinked(d.shared, opts)
			if err != nil {
				return err
			}
			if done {
				d.linked++
				return nil
			}
		}
		return sv.Append(d.open(), opts)
	}
	if err := sv.Append(d.open(), opts); err != nil {
		return err
	}
	if sh, ok := sv.(Sharer); ok {
		// Without a shared copy the next recipients write their own:
		// slower, never wrong.
		if m, err := sh.Share(); err == nil {
			d.shared = m
		}
	}
	return nil
}

// Linked reports how many Appends were served by a link.
func (d *Delivery) Linked() int { return d.linked }

// Close releases the shared copy.
func (d *Delivery) Close() error {
	if d.shared == nil {
		return nil
	}
	err := d.shared.Close()
	d.shared = nil
	return err
}
