package queue

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Spool subdirectories.
const (
	DirIncoming = "incoming"
	DirActive   = "active"
	DirDeferred = "deferred"
	DirHold     = "hold"
	DirCorrupt  = "corrupt"
)

var spoolDirs = []string{DirIncoming, DirActive, DirDeferred, DirHold, DirCorrupt}

// Recipient is one envelope recipient.
type Recipient struct {
	Addr   string   // final recipient after alias expansion, "local@domain"
	ORcpt  string   // DSN ORCPT as "addr-type;address" (smtpd: the RCPT address when none was given)
	Notify []string // DSN NOTIFY: NEVER | SUCCESS FAILURE DELAY; nil = default
}

// Envelope is what the queue keeps besides the message bytes.
type Envelope struct {
	From       string // "" for the null sender
	Rcpts      []Recipient
	Received   time.Time
	ClientAddr string
	ClientHelo string
	AuthUser   string // for Received: and logs
	RET        string // DSN RET: FULL | HDRS | ""
	EnvID      string // DSN ENVID
	SMTPUTF8   bool
	// EightBitMIME records BODY=8BITMIME.
	EightBitMIME bool
}

// Spool is a queue_directory. It is safe for concurrent use by many goroutines and, through
// the file system, by several processes (smtpd and the queue daemon).
type Spool struct {
	dir  string
	sync map[string]*dirSyncer
	// tmpfile says Create writes an unnamed O_TMPFILE in active/ that Commit links under its
	// name (one journal commit per message on ext4); false where the file system or a
	// missing /proc does not allow it, and Create uses incoming/ (see Commit).
	tmpfile atomic.Bool
	// linkSynced says the file system of active/ makes a tmpfile's link durable with the
	// file's own fsync (fileSyncCoversLink): commitTmp then skips the fsync of active/.
	linkSynced bool
	// fault, when set (tests: SetFault), is asked before each write, fsync and link.
	fault func(op string) error
}

// SetFault installs a fault-injection hook for tests (ENOSPC where no small file system can
// be mounted): f is called with "write", "sync" or "link" before that step of Create, Write
// and Commit, and a non-nil error fails the step as the system call would. Set it before
// the spool is shared between goroutines.
func (s *Spool) SetFault(f func(op string) error) { s.fault = f }

func (s *Spool) check(op string) error {
	if s.fault != nil {
		return s.fault(op)
	}
	return nil
}

// OpenSpool opens dir (queue_directory), creating it (0700) and its subdirectories if missing.
func OpenSpool(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	s := &Spool{dir: dir, sync: map[string]*dirSyncer{}}
	for _, d := range spoolDirs {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("queue: %w", err)
		}
		s.sync[d] = &dirSyncer{path: p}
	}
	// Linking an O_TMPFILE by name needs /proc/self/fd (linkat AT_EMPTY_PATH needs
	// CAP_DAC_READ_SEARCH); a chroot without /proc falls back to incoming/.
	_, err := os.Stat("/proc/self/fd")
	s.tmpfile.Store(err == nil)
	s.linkSynced = fileSyncCoversLink(filepath.Join(dir, DirActive))
	return s, nil
}

// Dir returns the spool's root directory.
func (s *Spool) Dir() string { return s.dir }

// path returns the path of message id in subdirectory sub.
func (s *Spool) path(sub, id string) string { return filepath.Join(s.dir, sub, id) }

// Writer is a message being written: an unnamed tmpfile in active/, or incoming/ID where the
// spool cannot use tmpfiles (see Commit).
type Writer struct {
	s      *Spool
	f      *os.File
	bw     *bufio.Writer
	id     string
	hdrLen int64
	size   int64
	err    error
	done   bool
	// tmp: f is an unnamed O_TMPFILE in active/ (no incoming/ name exists).
	tmp bool
	// linked: the active/ name exists (set by Commit in tmp mode).
	linked bool
}

var lastMicros atomic.Int64

// newID returns a queue ID: 13 uppercase hex digits of microseconds since the epoch (strictly
// increasing within the process) then 6 of the process id, so IDs from concurrent processes
// differ and string order is time order.
func newID() string {
	now := time.Now().UnixMicro()
	for {
		last := lastMicros.Load()
		if now <= last {
			now = last + 1
		}
		if lastMicros.CompareAndSwap(last, now) {
			break
		}
	}
	return fmt.Sprintf("%013X%06X", now, os.Getpid()&0xFFFFFF)
}

// ValidID reports whether id has the form newID produces (used before touching paths).
func ValidID(id string) bool {
	if len(id) != 19 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Create starts a message (an unnamed file, or one in incoming/: see Commit); nothing of it is
// visible in active/ before Commit. The caller writes the message bytes (CRLF lines, as
// received after DATA, with the Received: header it prepends) and then Commit.
func (s *Spool) Create(env Envelope) (*Writer, error) {
	if len(env.Rcpts) == 0 {
		return nil, errors.New("queue: envelope without recipients")
	}
	if env.Received.IsZero() {
		env.Received = time.Now()
	}
	f, id, tmp, err := s.createTmp()
	if err != nil {
		return nil, err
	}
	for tries := 0; !tmp; tries++ {
		id = newID()
		var err error
		f, err = os.OpenFile(s.path(DirIncoming, id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || tries > 100 {
			return nil, fmt.Errorf("queue: create: %w", err)
		}
	}
	// The lock tells Recover that a live writer owns the file; on a tmpfile it keeps the
	// daemon off the active/ name between Commit's link and its fsyncs.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if !tmp {
			os.Remove(f.Name())
		}
		return nil, fmt.Errorf("queue: lock: %w", err)
	}
	hdr := encodeHeader(env, 0)
	w := &Writer{s: s, f: f, id: id, tmp: tmp, bw: bufio.NewWriterSize(f, 64<<10), hdrLen: int64(len(hdr))}
	if _, err := w.bw.Write(hdr); err != nil {
		w.Abort()
		return nil, fmt.Errorf("queue: %w", err)
	}
	return w, nil
}

// createTmp opens an unnamed file (O_TMPFILE) in active/ when the spool allows it. It
// returns tmp false, and no error, when the file system refuses O_TMPFILE (the caller then
// uses incoming/); the spool remembers that.
func (s *Spool) createTmp() (f *os.File, id string, tmp bool, err error) {
	if !s.tmpfile.Load() {
		return nil, "", false, nil
	}
	dir := filepath.Join(s.dir, DirActive)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	switch {
	case err == nil:
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL):
		// EISDIR, EINVAL: a kernel or file system without O_TMPFILE.
		s.tmpfile.Store(false)
		return nil, "", false, nil
	default:
		return nil, "", false, fmt.Errorf("queue: create: %w", err)
	}
	id = newID()
	return os.NewFile(uintptr(fd), filepath.Join(dir, id)), id, true, nil
}

// Write appends message bytes.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("queue: write after commit or abort")
	}
	if err := w.s.check("write"); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.bw.Write(p)
	w.size += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Commit makes the message durable under its name in active/ and returns its queue ID; once it
// returns nil the queue daemon will deliver it. A tmpfile (the common case) is linked into
// active/ while locked, then the file and active/ are fsynced; the fallback links the incoming/
// file after its fsync (see doc.go, crash safety of Commit). The link never replaces an
// existing queue file.
func (w *Writer) Commit() (string, error) {
	if w.done {
		return "", errors.New("queue: commit after commit or abort")
	}
	if w.err != nil {
		w.Abort()
		return "", w.err
	}
	fail := func(err error) (string, error) {
		w.Abort()
		return "", fmt.Errorf("queue: commit: %w", err)
	}
	if err := w.s.check("write"); err != nil {
		return fail(err)
	}
	if err := w.bw.Flush(); err != nil {
		return fail(err)
	}
	if _, err := w.f.WriteAt(fmt.Appendf(nil, sizeFmt, w.size), int64(len(fileMagic))); err != nil {
		return fail(err)
	}
	if w.tmp {
		return w.commitTmp(fail)
	}
	if err := w.s.check("sync"); err != nil {
		return fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	// The daemon locks the file it delivers: release ours before the active/ name appears, or
	// its first attempt would find the file busy. Recover leaves young files alone meanwhile.
	if err := unix.Flock(int(w.f.Fd()), unix.LOCK_UN); err != nil {
		return fail(err)
	}
	src := w.s.path(DirIncoming, w.id)
	if err := w.s.check("link"); err != nil {
		return fail(err)
	}
	if err := os.Link(src, w.s.path(DirActive, w.id)); err != nil {
		return fail(err)
	}
	if err := w.s.sync[DirActive].Sync(); err != nil {
		// The file may be in active/ without being durable: remove it so nothing is
		// delivered that was not acknowledged.
		os.Remove(w.s.path(DirActive, w.id))
		return fail(err)
	}
	w.done = true
	// The incoming/ name goes without an fsync of incoming/: after a crash
	// that loses the unlink, the name is a second link to a file that is
	// already in active/, and Recover removes it. The 250 waits for two
	// fsyncs (the file, active/), not three.
	os.Remove(src)
	w.f.Close()
	return w.id, nil
}

// commitTmp links the complete tmpfile into active/ and then fsyncs it and, unless the file
// system makes the link durable with the file's fsync (Spool.linkSynced: ext4, XFS), active/.
// The link comes before the file's first fsync so that this one fsync carries the name too
// (Postfix pays one fsync too; the linked-after-fsync order paid two). The writer's flock,
// taken at Create, is held until the fsyncs returned: the daemon, which locks before it
// reads, finds the new name busy and retries (retryBusy), so it never delivers a message
// whose Commit has not succeeded, and a failed fsync removes the name while still locked.
func (w *Writer) commitTmp(fail func(error) (string, error)) (string, error) {
	dst := w.s.path(DirActive, w.id)
	if err := w.s.check("link"); err != nil {
		return fail(err)
	}
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(w.f.Fd())), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			// /proc gone since OpenSpool (or active/ removed): later messages use incoming/.
			w.s.tmpfile.Store(false)
		}
		return fail(&os.LinkError{Op: "link", Old: "tmpfile", New: dst, Err: err})
	}
	w.linked = true
	if err := w.s.check("sync"); err != nil {
		return fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	if !w.s.linkSynced {
		if err := w.s.sync[DirActive].Sync(); err != nil {
			return fail(err)
		}
	}
	w.done = true
	w.f.Close() // releases the lock: the daemon may deliver it now
	return w.id, nil
}

// Abort removes the uncommitted file (the incoming/ one, or a tmpfile's active/ name while
// the lock still keeps the daemon away); safe after a failed Write and after Commit (then a
// no-op).
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	var err error
	if w.tmp {
		// An unnamed tmpfile vanishes on close.
		if w.linked {
			err = os.Remove(w.f.Name())
		}
		w.f.Close()
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return err
	}
	err = os.Remove(w.f.Name())
	w.f.Close()
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

// ID returns the queue ID the message will have once committed.
func (w *Writer) ID() string { return w.id }

// recoverMinAge is how old an unlocked incoming/ file must be before Recover removes it.
const recoverMinAge = 10 * time.Second

// Recover removes incoming/ files no live writer holds (left by a crash; never acknowledged)
// and older than recoverMinAge. The queue daemon calls it at start and on each rescan.
// It returns the number removed.
func (s *Spool) Recover() (int, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, DirIncoming))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		p := s.path(DirIncoming, e.Name())
		// A writer creates its file and then locks it: a young file may be unlocked yet live.
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < recoverMinAge {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if os.Remove(p) == nil {
				n++
			}
		}
		f.Close()
	}
	return n, nil
}

// dirSyncer group-commits directory fsyncs: a caller waits for an fsync that started after
// its request; concurrent callers share one.
type dirSyncer struct {
	path    string
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	gen     uint64 // number of fsyncs started
	doneGen uint64 // number of fsyncs finished
	lastErr error
}

func (d *dirSyncer) Sync() error {
	d.mu.Lock()
	if d.cond == nil {
		d.cond = sync.NewCond(&d.mu)
	}
	// An fsync that has already started may miss our entry: we need one starting after now.
	need := d.gen + 1
	for {
		if d.doneGen >= need {
			err := d.lastErr
			d.mu.Unlock()
			return err
		}
		if !d.running {
			d.running = true
			d.gen++
			mine := d.gen
			d.mu.Unlock()
			err := syncDir(d.path)
			d.mu.Lock()
			d.running = false
			d.doneGen = mine
			d.lastErr = err
			d.cond.Broadcast()
			if mine >= need {
				d.mu.Unlock()
				return err
			}
			continue
		}
		d.cond.Wait()
	}
}

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	return err
}
