package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBusy is returned by an admin operation while the daemon delivers the message.
var ErrBusy = errors.New("queue: message is being delivered")

// ErrNotFound is returned for an ID that is in none of the queues the operation looks at.
var ErrNotFound = errors.New("queue: no such message")

// Entry describes one queued message for `coteadm queue list` and mailq.
type Entry struct {
	ID       string
	Queue    string // active, deferred, hold or corrupt
	Size     int64  // body size
	Arrival  time.Time
	From     string
	Rcpts    []Recipient
	Status   []RcptStatus // per recipient, same order
	Attempts int
	Next     time.Time
	Err      string // parse error for a corrupt file
}

// List returns every message of the spool at dir (active, deferred, hold, corrupt), sorted by ID.
// It reads the files without locks: a file moved concurrently is skipped.
func List(dir string) ([]Entry, error) {
	var out []Entry
	for _, q := range []string{DirActive, DirDeferred, DirHold, DirCorrupt} {
		ents, err := os.ReadDir(filepath.Join(dir, q))
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		for _, e := range ents {
			data, err := os.ReadFile(filepath.Join(dir, q, e.Name()))
			if err != nil {
				continue
			}
			ent := Entry{ID: e.Name(), Queue: q}
			qf, err := ParseFile(data)
			if err != nil {
				ent.Err = err.Error()
			} else {
				ent.Size, ent.Arrival, ent.From, ent.Rcpts = qf.BodySize, qf.Env.Received, qf.Env.From, qf.Env.Rcpts
				ent.Status, ent.Attempts, ent.Next = qf.Progress.Rcpts, qf.Progress.Attempts, qf.Progress.Next
			}
			out = append(out, ent)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// lockedFile is a queue file opened and flocked exclusively.
type lockedFile struct {
	f    *os.File
	path string
}

// lockQueueFile opens and locks path without blocking; it then checks that path still names
// the locked file (a concurrent move would leave us holding a lock on a file elsewhere).
func lockQueueFile(path string) (*lockedFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, err
	}
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil || a.Ino != b.Ino || a.Dev != b.Dev {
		f.Close()
		return nil, os.ErrNotExist
	}
	return &lockedFile{f: f, path: path}, nil
}

func (l *lockedFile) Close() error { return l.f.Close() }

// move renames the locked file into sub/ of the spool and fsyncs the target directory.
func (s *Spool) move(l *lockedFile, sub string) error {
	dst := filepath.Join(s.dir, sub, filepath.Base(l.path))
	if err := os.Rename(l.path, dst); err != nil {
		return err
	}
	l.path = dst
	return syncDir(filepath.Join(s.dir, sub))
}

// find locates id in the listed queues.
func (s *Spool) find(id string, queues ...string) (string, error) {
	if !ValidID(id) {
		return "", fmt.Errorf("queue: bad queue ID %q", id)
	}
	for _, q := range queues {
		p := s.path(q, id)
		if _, err := os.Lstat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

func (s *Spool) moveID(id, to string, from ...string) error {
	p, err := s.find(id, from...)
	if err != nil {
		return err
	}
	l, err := lockQueueFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNotFound
		}
		return err
	}
	defer l.Close()
	return s.move(l, to)
}

// Hold moves a message from active/ or deferred/ to hold/, where the daemon never delivers it.
// It fails with ErrBusy while a delivery of it runs.
func Hold(dir, id string) error {
	s, err := OpenSpool(dir)
	if err != nil {
		return err
	}
	return s.moveID(id, DirHold, DirActive, DirDeferred)
}

// Release moves a held message back to active/ for immediate delivery.
func Release(dir, id string) error {
	s, err := OpenSpool(dir)
	if err != nil {
		return err
	}
	return s.moveID(id, DirActive, DirHold)
}

// Delete removes a message from any queue without a bounce (Postfix's postsuper -d).
func Delete(dir, id string) error {
	s, err := OpenSpool(dir)
	if err != nil {
		return err
	}
	p, err := s.find(id, DirActive, DirDeferred, DirHold, DirCorrupt)
	if err != nil {
		return err
	}
	l, err := lockQueueFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNotFound
		}
		return err
	}
	defer l.Close()
	if err := os.Remove(l.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(l.path))
}

// Flush asks for an immediate retry of every deferred message: it moves them into active/,
// which the running daemon watches (so Flush needs no connection to it). Messages being
// delivered are skipped. It returns how many were moved.
func Flush(dir string) (int, error) {
	s, err := OpenSpool(dir)
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, DirDeferred))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if !ValidID(e.Name()) {
			continue
		}
		if s.moveID(e.Name(), DirActive, DirDeferred) == nil {
			n++
		}
	}
	return n, nil
}
