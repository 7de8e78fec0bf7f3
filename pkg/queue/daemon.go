package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Config is what the delivery daemon needs; cmd/queue fills it from the settings.
type Config struct {
	Spool      *Spool
	Log        *zap.Logger
	MyHostname string
	// Local reports whether a recipient domain is delivered over LMTP (mydestination and
	// virtual_mailbox_domains: pkg/smtp's Routing classes Local and Virtual).
	Local    func(domain string) bool
	LMTPPath string // base_dir/lmtp
	// Relayhost is Postfix's relayhost: "" (MX of each domain), "host[:port]" (MX of host) or
	// "[host][:port]" (that host, no MX lookup).
	Relayhost string
	Resolver  string // "ip:port" of the DNS server for MX/A/AAAA lookups; "" = the system's
	SMTPPort  int    // port of remote SMTP servers (25)
	TLSLevel  string // smtp_tls_security_level: none, may (opportunistic) or encrypt (mandatory)
	// TLSConfig is cloned for STARTTLS (ServerName is set per host). Nil: certificates are not
	// verified, as Postfix does at levels may and encrypt.
	TLSConfig      *tls.Config
	MinBackoff     time.Duration // minimal_backoff_time
	MaxBackoff     time.Duration // maximal_backoff_time
	MaxLifetime    time.Duration // maximal_queue_lifetime
	BounceLifetime time.Duration // bounce_queue_lifetime (null-sender mail)
	DelayWarning   time.Duration // delay_warning_time; 0 = none
	// DestConcurrency bounds parallel deliveries to one destination (a remote domain, or the
	// LMTP socket): default_destination_concurrency_limit.
	DestConcurrency int
	Workers         int           // messages delivered at once (default 20)
	ScanInterval    time.Duration // deferred/ and active/ rescans (default: 10 s or MinBackoff if less)
	ConnectTimeout  time.Duration // remote connect timeout (default 30 s)
	Now             func() time.Time
}

// Daemon delivers the messages of a spool.
type Daemon struct {
	cfg  Config
	s    *Spool
	log  *zap.Logger
	work chan string

	mu       sync.Mutex
	inflight map[string]bool
	busy     map[string]int // ErrBusy retries per queue id (retryBusy)
	dest     map[string]chan struct{}
	lmtpIdle chan *lmtpConn // idle LMTP connections for reuse
}

// NewDaemon checks cfg and applies defaults.
func NewDaemon(cfg Config) (*Daemon, error) {
	if cfg.Spool == nil || cfg.Local == nil {
		return nil, errors.New("queue: Config needs Spool and Local")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.MyHostname == "" {
		cfg.MyHostname = "localhost"
	}
	if cfg.SMTPPort == 0 {
		cfg.SMTPPort = 25
	}
	switch cfg.TLSLevel {
	case "", "none", "may", "encrypt":
	default:
		return nil, fmt.Errorf("queue: unknown TLS level %q", cfg.TLSLevel)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 300 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = 5 * 24 * time.Hour
	}
	if cfg.BounceLifetime <= 0 {
		cfg.BounceLifetime = cfg.MaxLifetime
	}
	if cfg.DestConcurrency <= 0 {
		cfg.DestConcurrency = 20
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 20
	}
	if cfg.ScanInterval <= 0 {
		// Retries are due at minimal_backoff_time granularity at best.
		cfg.ScanInterval = min(10*time.Second, cfg.MinBackoff)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Daemon{cfg: cfg, s: cfg.Spool, log: cfg.Log, work: make(chan string, 4096),
		inflight: map[string]bool{}, busy: map[string]int{}, dest: map[string]chan struct{}{},
		lmtpIdle: make(chan *lmtpConn, cfg.DestConcurrency)}, nil
}

// Run delivers until ctx ends: it removes incoming/ leftovers, watches active/ (fsnotify)
// and rescans active/ and deferred/ every ScanInterval, moving due deferred messages back.
// It returns after every delivery in progress has finished.
func (d *Daemon) Run(ctx context.Context) error {
	if n, err := d.s.Recover(); err != nil {
		return err
	} else if n > 0 {
		d.log.Info("removed unacknowledged incoming files", zap.Int("count", n))
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Join(d.s.dir, DirActive)); err != nil {
		return fmt.Errorf("queue: watch: %w", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < d.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-d.work:
					d.process(id)
					d.mu.Lock()
					delete(d.inflight, id)
					d.mu.Unlock()
				}
			}
		}()
	}
	defer d.closeIdle()
	defer wg.Wait()
	d.scan()
	t := time.NewTicker(d.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("queue: watcher closed")
			}
			if ev.Op&fsnotify.Create != 0 {
				d.enqueue(filepath.Base(ev.Name))
			}
		case err := <-w.Errors:
			// An overflow loses events: the rescan finds the files.
			d.log.Warn("watch error, rescanning", zap.Error(err))
			d.scan()
		case <-t.C:
			d.scan()
		}
	}
}

// retryBusy queues id again shortly: a writer (smtpd, pickup) holds the
// file's lock from the link into active/ until its fsyncs are done, and an
// admin operation (release, flush) while it moves the file, so the watcher
// reports files before their lock is let go. The delay doubles from 20 ms
// to at most 200 ms; after busyRetries tries (about 10 s, longer than an
// fsync under heavy load) the rescan takes over: a message locked for that
// long is being delivered by another queue process, the one finishing its
// work after a reload.
func (d *Daemon) retryBusy(id string) {
	d.mu.Lock()
	n := d.busy[id]
	if n >= busyRetries {
		delete(d.busy, id)
		d.mu.Unlock()
		return
	}
	d.busy[id] = n + 1
	d.mu.Unlock()
	delay := (20 * time.Millisecond) << min(n, 4)
	if delay > 200*time.Millisecond {
		delay = 200 * time.Millisecond
	}
	time.AfterFunc(delay, func() { d.enqueue(id) })
}

const busyRetries = 55

// enqueue hands id to a worker unless it is already queued or being delivered.
func (d *Daemon) enqueue(id string) {
	if !ValidID(id) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[id] {
		return
	}
	select {
	case d.work <- id:
		d.inflight[id] = true
	default: // full: the next scan retries
	}
}

// scan moves due deferred messages to active/ and queues everything in active/.
func (d *Daemon) scan() {
	if n, _ := d.s.Recover(); n > 0 {
		d.log.Info("removed unacknowledged incoming files", zap.Int("count", n))
	}
	now := d.cfg.Now()
	if ents, err := os.ReadDir(filepath.Join(d.s.dir, DirDeferred)); err == nil {
		for _, e := range ents {
			// The retry time is the file's mtime (set when deferring), as Postfix does.
			if info, err := e.Info(); err == nil && !info.ModTime().After(now) {
				d.s.moveID(e.Name(), DirActive, DirDeferred)
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(d.s.dir, DirActive))
	if err != nil {
		d.log.Error("scan active", zap.Error(err))
		return
	}
	for _, e := range ents {
		d.enqueue(e.Name())
	}
}

// msg is one message under delivery, its file locked.
type msg struct {
	id   string
	l    *lockedFile
	q    *QFile
	mu   sync.Mutex // serializes record appends from parallel destinations
	werr error
	// success lists the recipients delivered in this attempt that asked for NOTIFY=SUCCESS,
	// with their DSN action in actions.
	success []int
	actions []string
}

// record appends lines to the queue file and fsyncs it before returning, so what it says
// survives a crash before the caller moves on.
func (m *msg) record(lines ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.werr != nil {
		return m.werr
	}
	if _, err := m.l.f.Seek(0, io.SeekEnd); err != nil {
		m.werr = err
		return err
	}
	if _, err := m.l.f.WriteString(strings.Join(lines, "")); err != nil {
		m.werr = err
		return err
	}
	m.werr = m.l.f.Sync()
	return m.werr
}

// setStatus records the status of recipient i (in memory and in the file).
func (m *msg) setStatus(i int, st RcptStatus) error {
	if err := m.record(recordDone(i, st)); err != nil {
		return err
	}
	m.mu.Lock()
	st.Attempt = m.q.Progress.Rcpts[i].Attempt
	m.q.Progress.Rcpts[i] = st
	m.mu.Unlock()
	return nil
}

// startAttempt appends an "attempt" record for recipients idx before their LMTP transaction
// and returns the resume bound: the first attempt of any of them, zero when none had one.
// The record is written without fsync (the hot path pays one write, no sync): a crash of the
// process keeps it in the page cache; a power loss may lose it together with the outcome,
// and then the recipient is delivered again without the check (a duplicate, never a loss).
// A write error is the same case and only logged by the caller.
func (m *msg) startAttempt(now time.Time, idx []int) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var since time.Time
	for _, i := range idx {
		if a := m.q.Progress.Rcpts[i].Attempt; !a.IsZero() && (since.IsZero() || a.Before(since)) {
			since = a
		}
	}
	if m.werr != nil {
		return since, m.werr
	}
	if _, err := m.l.f.Seek(0, io.SeekEnd); err != nil {
		return since, err
	}
	if _, err := m.l.f.WriteString(recordAttempt(now, idx)); err != nil {
		// A partial record is cut at the next parse (no final newline) and the next
		// record() starts after it; record's own error handling covers the rest.
		m.werr = err
		return since, err
	}
	for _, i := range idx {
		m.q.Progress.Rcpts[i].markAttempt(now)
	}
	return since, nil
}

func (d *Daemon) process(id string) {
	log := d.log.With(zap.String("queue_id", id))
	l, err := lockQueueFile(d.s.path(DirActive, id))
	if err != nil {
		if errors.Is(err, ErrBusy) {
			d.retryBusy(id)
		} else if !errors.Is(err, os.ErrNotExist) {
			log.Error("open queue file", zap.Error(err))
		}
		return
	}
	defer l.Close()
	d.mu.Lock()
	delete(d.busy, id)
	d.mu.Unlock()
	data, err := io.ReadAll(l.f)
	if err != nil {
		log.Error("read queue file", zap.Error(err))
		return
	}
	q, err := ParseFile(data)
	if err != nil {
		log.Error("corrupt queue file moved to corrupt/", zap.Error(err))
		if err := d.s.move(l, DirCorrupt); err != nil {
			log.Error("move to corrupt/", zap.Error(err))
		}
		return
	}
	if int64(len(data)) > q.ValidLen {
		// A record cut by a crash: drop it so the next append starts on a line.
		if err := l.f.Truncate(q.ValidLen); err != nil {
			log.Error("truncate", zap.Error(err))
			return
		}
	}
	m := &msg{id: id, l: l, q: q}
	d.deliver(m, log)
}

// deliver runs one attempt of message m and files it (removed, deferred).
func (d *Daemon) deliver(m *msg, log *zap.Logger) {
	now := d.cfg.Now()
	q := m.q
	lifetime := d.cfg.MaxLifetime
	if q.Env.From == "" {
		lifetime = d.cfg.BounceLifetime
	}
	if now.Sub(q.Env.Received) >= lifetime {
		for i, st := range q.Progress.Rcpts {
			if st.State == Pending {
				diag := "message expired in the queue"
				if st.Diag != "" {
					diag += " after: " + st.Diag
				}
				if m.setStatus(i, RcptStatus{State: Failed, Time: now, Status: "4.4.7", MTA: st.MTA, Diag: diag}) != nil {
					break
				}
			}
		}
	} else {
		d.attempt(m, log)
	}
	if m.werr != nil {
		log.Error("recording progress failed; message stays in active/", zap.Error(m.werr))
		return
	}
	if err := d.bounceFailed(m, log); err != nil {
		log.Error("queueing bounce", zap.Error(err))
	}
	if err := d.successReports(m, log); err != nil {
		log.Error("queueing success report", zap.Error(err))
	}
	pending := 0
	for _, st := range q.Progress.Rcpts {
		if st.State == Pending || st.State == Failed {
			pending++
		}
	}
	if pending == 0 {
		// No directory fsync: if a crash undoes the unlink, the file comes back with every
		// recipient recorded done or bounced and is removed again without a delivery.
		if err := os.Remove(m.l.path); err != nil {
			log.Error("remove delivered message", zap.Error(err))
			return
		}
		log.Info("removed", zap.Int("recipients", len(q.Env.Rcpts)))
		return
	}
	if err := d.delayWarning(m, now, log); err != nil {
		log.Error("queueing delay warning", zap.Error(err))
	}
	attempts := q.Progress.Attempts + 1
	back := d.cfg.MinBackoff
	for i := 1; i < attempts && back < d.cfg.MaxBackoff; i++ {
		back *= 2
	}
	back = min(back, d.cfg.MaxBackoff)
	next := now.Add(back)
	if err := m.record(fmt.Sprintf("next %d %d\n", next.UnixNano(), attempts)); err != nil {
		log.Error("record next attempt", zap.Error(err))
		return
	}
	if err := os.Chtimes(m.l.path, next, next); err != nil {
		log.Error("set retry time", zap.Error(err))
	}
	if err := d.s.move(m.l, DirDeferred); err != nil {
		log.Error("move to deferred/", zap.Error(err))
		return
	}
	log.Info("deferred", zap.Int("pending", pending), zap.Duration("retry_in", back), zap.Int("attempts", attempts))
}

// destSem returns the concurrency semaphore of a destination.
func (d *Daemon) destSem(dest string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.dest[dest]
	if c == nil {
		c = make(chan struct{}, d.cfg.DestConcurrency)
		d.dest[dest] = c
	}
	return c
}

// attempt delivers every pending recipient once: local ones in one LMTP transaction, remote
// ones grouped per domain (or all to the relayhost), destinations in parallel.
func (d *Daemon) attempt(m *msg, log *zap.Logger) {
	groups := map[string][]int{}
	var order []string
	for i, st := range m.q.Progress.Rcpts {
		if st.State != Pending {
			continue
		}
		addr := m.q.Env.Rcpts[i].Addr
		dom := ""
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			dom = strings.ToLower(addr[at+1:])
		}
		key := "lmtp:"
		if !d.cfg.Local(dom) {
			key = "smtp:" + dom
			if d.cfg.Relayhost != "" {
				key = "relay:"
			}
		}
		if groups[key] == nil {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	var wg sync.WaitGroup
	for _, key := range order {
		idx := groups[key]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := d.destSem(key)
			sem <- struct{}{}
			defer func() { <-sem }()
			var res []result
			if key == "lmtp:" {
				res = d.deliverLMTP(m, idx)
			} else {
				res = d.deliverSMTP(m, idx, strings.TrimPrefix(strings.TrimPrefix(key, "smtp:"), "relay:"))
			}
			now := d.cfg.Now()
			for _, r := range res {
				st := RcptStatus{State: Pending, Time: now, Status: r.status, MTA: r.mta, Diag: r.diag}
				switch {
				case r.ok:
					st.State = Delivered
					if r.action != "" && m.q.Env.From != "" && hasNotify(m.q.Env.Rcpts[r.idx], "SUCCESS") {
						m.mu.Lock()
						m.success = append(m.success, r.idx)
						m.actions = append(m.actions, r.action)
						m.mu.Unlock()
					}
				case !r.temp:
					st.State = Failed
				}
				if err := m.setStatus(r.idx, st); err != nil {
					return
				}
				log.Info("recipient", zap.String("to", m.q.Env.Rcpts[r.idx].Addr), zap.String("state", map[bool]string{true: "sent", false: map[bool]string{true: "deferred", false: "bounced"}[r.temp]}[r.ok]),
					zap.String("relay", r.mta), zap.String("status", r.status), zap.String("diag", r.diag))
			}
		}()
	}
	wg.Wait()
}

// result is the outcome of one recipient in one attempt.
type result struct {
	idx  int
	ok   bool
	temp bool
	// action is the DSN action a SUCCESS notification reports for an ok result: "delivered"
	// (LMTP) or "relayed" (to an SMTP server without DSN); "" when the next hop took over
	// DSN duties.
	action string
	status string
	mta    string
	diag   string
}

func allResults(idx []int, r result) []result {
	out := make([]result, len(idx))
	for k, i := range idx {
		out[k] = r
		out[k].idx = i
	}
	return out
}

// body returns a fresh reader over m's message bytes.
func (m *msg) body() io.Reader { return m.q.Body(m.l.f) }
