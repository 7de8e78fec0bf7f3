package maildir

import (
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watcher is the one inotify instance of a process (the per-uid limit
// is 128 instances: never one per session). It watches new/ and cur/ of
// every mailbox some session of this process has open and wakes those
// sessions when another process delivers, renames or deletes there.
type watcher struct {
	d   *Driver
	log *zap.Logger

	mu     sync.Mutex // guards w, refs
	w      *fsnotify.Watcher
	refs   map[string]int // mailbox dir -> sessions watching
	closed bool
	done   chan struct{}
}

func newWatcher(d *Driver, log *zap.Logger) *watcher {
	return &watcher{d: d, log: log, refs: map[string]int{}}
}

func (w *watcher) add(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.w == nil {
		fw, err := fsnotify.NewWatcher()
		if err != nil {
			// Without inotify sessions still see changes at their next
			// command; IDLE falls back to its own timer.
			w.log.Warn("inotify unavailable, changes by other processes are seen at the next sync", zap.Error(err))
			return
		}
		w.w = fw
		w.done = make(chan struct{})
		go w.run(fw, w.done)
	}
	w.refs[dir]++
	if w.refs[dir] == 1 {
		for _, sub := range []string{"new", "cur"} {
			if err := w.w.Add(filepath.Join(dir, sub)); err != nil {
				w.log.Warn("cannot watch mailbox", zap.String("dir", sub), zap.Error(err))
			}
		}
	}
}

func (w *watcher) remove(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil || w.refs[dir] == 0 {
		return
	}
	w.refs[dir]--
	if w.refs[dir] == 0 {
		delete(w.refs, dir)
		for _, sub := range []string{"new", "cur"} {
			w.w.Remove(filepath.Join(dir, sub))
		}
	}
}

func (w *watcher) run(fw *fsnotify.Watcher, done chan struct{}) {
	defer close(done)
	for {
		select {
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			w.d.notifyDir(filepath.Dir(filepath.Dir(ev.Name)))
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			// An overflow loses events: wake everyone so they resync.
			w.log.Warn("inotify error, waking all sessions", zap.Error(err))
			w.mu.Lock()
			dirs := make([]string, 0, len(w.refs))
			for d := range w.refs {
				dirs = append(dirs, d)
			}
			w.mu.Unlock()
			for _, d := range dirs {
				w.d.notifyDir(d)
			}
		}
	}
}

func (w *watcher) close() error {
	w.mu.Lock()
	fw, done := w.w, w.done
	w.w, w.closed = nil, true
	w.mu.Unlock()
	if fw == nil {
		return nil
	}
	err := fw.Close()
	<-done
	return err
}
