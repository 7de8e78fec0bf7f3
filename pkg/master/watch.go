package master

import (
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// reloadDebounce coalesces the burst of events one save makes (an editor
// writes a temporary file, renames it over the old one, chmods it).
const reloadDebounce = 200 * time.Millisecond

// configWatcher watches the parent directories of every configuration file
// and include glob: inotify is not recursive and editors save by rename, so
// watching the files themselves would lose track after the first save.
type configWatcher struct {
	log *zap.Logger
	w   *fsnotify.Watcher

	mu    sync.Mutex // guards dirs, files, globs: set runs in the master's loop, run in its own goroutine
	dirs  map[string]bool
	files map[string]bool
	globs []string
}

func newConfigWatcher(log *zap.Logger, reload chan<- struct{}, done <-chan struct{}) (*configWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	cw := &configWatcher{log: log, w: w, dirs: map[string]bool{}, files: map[string]bool{}}
	go cw.run(reload, done)
	return cw, nil
}

// set replaces the watched set; called after every successful reload, as
// an include may have added or removed files and directories.
func (cw *configWatcher) set(files, globs []string) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	want := map[string]bool{}
	cw.files = map[string]bool{}
	cw.globs = nil
	for _, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			cw.files[abs] = true
			want[filepath.Dir(abs)] = true
		}
	}
	for _, g := range globs {
		if abs, err := filepath.Abs(g); err == nil {
			cw.globs = append(cw.globs, abs)
			want[filepath.Dir(abs)] = true
		}
	}
	for d := range cw.dirs {
		if !want[d] {
			cw.w.Remove(d)
			delete(cw.dirs, d)
		}
	}
	for d := range want {
		if cw.dirs[d] {
			continue
		}
		if err := cw.w.Add(d); err != nil {
			cw.log.Warn("cannot watch configuration directory", zap.String("dir", d), zap.Error(err))
			continue
		}
		cw.dirs[d] = true
	}
}

// relevant reports whether a change to name concerns the configuration.
func (cw *configWatcher) relevant(name string) bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.files[name] {
		return true
	}
	for _, g := range cw.globs {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}

func (cw *configWatcher) run(reload chan<- struct{}, done <-chan struct{}) {
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case ev, ok := <-cw.w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !cw.relevant(filepath.Clean(ev.Name)) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(reloadDebounce)
			} else {
				timer.Reset(reloadDebounce)
			}
			fire = timer.C
		case err, ok := <-cw.w.Errors:
			if !ok {
				return
			}
			cw.log.Warn("configuration watch error", zap.Error(err))
		case <-fire:
			fire = nil
			select {
			case reload <- struct{}{}:
			default: // a reload is already queued
			}
		case <-done:
			return
		}
	}
}

func (cw *configWatcher) close() { cw.w.Close() }
