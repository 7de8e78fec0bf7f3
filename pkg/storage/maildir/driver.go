package maildir

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

// Driver holds what one process shares among all sessions that use
// Maildirs: the open mailboxes (one in-memory index per mailbox, however
// many sessions have it selected) and the one inotify watcher. Build one
// in main and pass its Open to storage.OpenUser.
type Driver struct {
	log *zap.Logger

	mu    sync.Mutex // guards boxes, idle, usage
	boxes map[string]*box
	usage map[string]usageMemo // counted usage of released boxes (quota.go)
	// idle holds the last few boxes no session has open, most recently
	// released last, with their in-memory index kept: a client that
	// SELECTs the same mailbox again (or switches among a few) then only
	// revalidates the index against the files (refresh) instead of
	// decoding it again, which costs a 100,000-message mailbox about a
	// hundred milliseconds. They hold no file descriptor.
	idle []*box
	// idleBoxes and idleMsgs bound idle (SetIdleLimits): at most
	// idleBoxes boxes holding at most idleMsgs messages in all (0: no
	// bound on messages).
	idleBoxes, idleMsgs int

	watch *watcher

	// decode converts the charset of a text part while a message is
	// saved, for its cached preview (SetCharsetDecoder); nil leaves
	// previews that need one to the IMAP engine.
	decode message.CharsetDecoder
}

// SetCharsetDecoder sets the converter used for the cached preview of
// messages saved through d (pkg/message/charset.Decode in the processes that
// link the charset tables). Call it before the first Open.
func (d *Driver) SetCharsetDecoder(dec message.CharsetDecoder) { d.decode = dec }

// New returns a Driver. The watcher starts with the first watched
// mailbox; Close stops it.
func New(log *zap.Logger) *Driver {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Driver{log: log, boxes: map[string]*box{}, idleBoxes: maxIdleBoxes}
	d.watch = newWatcher(d, log)
	return d
}

// Close stops the watcher. Stores opened from d must be closed first.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.idle = nil
	d.mu.Unlock()
	return d.watch.close()
}

// Open is a storage.Driver: it opens the Maildir++ tree at loc.
func (d *Driver) Open(loc storage.Location, opts storage.DriverOptions) (storage.Storage, error) {
	for k, v := range loc.Params {
		switch {
		case k == "LAYOUT" && strings.EqualFold(v, "maildir++"):
		default:
			return nil, storage.Errorf("open", "", storage.ErrTemporary,
				fmt.Errorf("mail location parameter %s=%s is not supported by the maildir driver", k, v))
		}
	}
	log := opts.Log
	if log == nil {
		log = d.log
	}
	s := &Store{d: d, root: loc.Path, log: log, checkQuota: opts.CheckQuota,
		quotaBackend: opts.QuotaBackend, quotaLimits: opts.QuotaLimits, quotaVSizes: opts.QuotaVSizes}
	// INBOX is the root Maildir; Dovecot creates it on first use.
	if err := makeMaildir(s.root, false); err != nil {
		return nil, storage.Errorf("open", "INBOX", kindOfOS(err), err)
	}
	return s, nil
}

// acquire returns the shared box of dir, loading its index.
func (d *Driver) acquire(dir, name string, log *zap.Logger) (*box, error) {
	d.mu.Lock()
	b := d.boxes[dir]
	if b == nil {
		b = d.takeIdle(dir)
		if b == nil {
			b = &box{d: d, dir: dir, name: name, log: log.With(zap.String("mailbox", name)), subs: map[*mailbox]struct{}{}}
		}
		d.boxes[dir] = b
	}
	b.refs++
	d.mu.Unlock()
	return b, nil
}

func (d *Driver) release(b *box) {
	d.mu.Lock()
	b.refs--
	last := b.refs == 0
	var evicted []*box
	if last {
		delete(d.boxes, b.dir)
		b.mu.Lock()
		d.rememberUsage(b)
		// Under d.mu, so whoever takes the box from idle finds the lock
		// file closed before it opens its own.
		b.closeLock()
		if b.st != nil {
			b.idleMsgs = len(b.st.msgs)
		}
		b.mu.Unlock()
		d.idle = append(d.idle, b)
		msgs := 0
		for _, ib := range d.idle {
			msgs += ib.idleMsgs
		}
		tight := memoryTight()
		for len(d.idle) > d.idleBoxes || (d.idleMsgs > 0 && msgs > d.idleMsgs && len(d.idle) > 0) || (tight && len(d.idle) > 0) {
			msgs -= d.idle[0].idleMsgs
			evicted = append(evicted, d.idle[0])
			d.idle = slices.Delete(d.idle, 0, 1)
		}
	}
	d.mu.Unlock()
	for _, e := range evicted {
		e.mu.Lock()
		e.closeFiles()
		e.mu.Unlock()
	}
}

// memoryTight reports whether the Go heap holds more than half the
// process's memory limit (GOMEMLIMIT, from vsz_limit): then released
// mailboxes are not kept. An index costs a few hundred bytes per message
// in the heap and the sessions of the process share the limit, so an idle
// 100,000-message index is kept only while memory is plentiful.
func memoryTight() bool {
	limit := debug.SetMemoryLimit(-1)
	if limit <= 0 || limit == math.MaxInt64 {
		return false
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return false
	}
	return int64(sample[0].Value.Uint64()) > limit/2
}

// maxIdleBoxes is the default bound on the released boxes a Driver keeps
// (Driver.idle): enough for a client moving among a few folders, few
// enough that the memory of indexes nobody uses stays small.
const maxIdleBoxes = 4

// SetIdleLimits sets how many released mailboxes d keeps with their
// index in memory (4 by default, no bound on their messages): at most
// boxes of them, holding at most msgs messages in all (msgs <= 0: no
// such bound), the least recently released dropped first. A delivery
// process, which opens each recipient's INBOX for one save, keeps many
// so that the next delivery to the same user only reads what changed
// since instead of the whole index. Call it before the first Open.
func (d *Driver) SetIdleLimits(boxes, msgs int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.idleBoxes, d.idleMsgs = max(boxes, 0), max(msgs, 0)
}

// takeIdle removes and returns the idle box of dir, or nil; the caller
// holds d.mu. Its index is revalidated by the next openLocked, as any
// box's is.
func (d *Driver) takeIdle(dir string) *box {
	for i, b := range d.idle {
		if b.dir == dir {
			d.idle = slices.Delete(d.idle, i, i+1)
			return b
		}
	}
	return nil
}

// makeMaildir creates dir with cur/, new/ and tmp/ (the missing ones),
// and the maildirfolder marker for a Maildir++ folder.
func makeMaildir(dir string, folder bool) error {
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil && !os.IsExist(err) {
			return err
		}
	}
	if folder {
		f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

func kindOfOS(err error) error {
	switch {
	case os.IsNotExist(err):
		return storage.ErrNotFound
	case os.IsExist(err):
		return storage.ErrExists
	case os.IsPermission(err):
		return storage.ErrNoPerm
	}
	return storage.ErrTemporary
}
