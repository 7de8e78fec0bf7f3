package anvil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// recentChecksums is how many distinct checksums of failed attempts an IP
// entry remembers: an attempt whose checksum is among them (the same user
// and password tried again, as a misconfigured mail client does every few
// minutes) does not raise the penalty. Dovecot keeps the same small ring
// (CHECKSUM_VALUE_COUNT).
const recentChecksums = 3

// maxPenaltyEntries bounds the penalty table: past it, Sweep runs on every
// increase and, if nothing expired, the least recently updated entry is
// dropped. A spray from many addresses costs memory up to this bound only.
const maxPenaltyEntries = 1 << 18

// maxRateEntries bounds the rate table the same way.
const maxRateEntries = 1 << 18

// rate is one ident's RATE window: count events since start (Postfix
// anvil's fixed window, restarted by the first event after it elapsed).
type rate struct {
	start  time.Time
	window time.Duration
	count  int
}

// ioTimeout bounds one reply write: a client that does not read its
// replies is dropped instead of blocking the server goroutine forever.
const ioTimeout = 10 * time.Second

// connKey identifies one row of the connection table.
type connKey struct {
	ident string
	pid   int
}

type penalty struct {
	value       int
	lastPenalty time.Time // when value was last raised
	lastUpdate  time.Time // last PENALTY-INC of any kind: expiry counts from here
	checksums   [recentChecksums]uint32
	next        int // ring position in checksums
}

// Server holds the connection table and the penalty table. It serves any
// number of client connections concurrently.
type Server struct {
	log *zap.Logger
	now func() time.Time // test seam; time.Now in production

	mu        sync.Mutex // guards everything below
	conns     map[connKey]int
	idents    map[string]int // total count per ident across pids
	penalties map[netip.Addr]*penalty
	expire    time.Duration
	rates     map[string]*rate
}

// NewServer returns an empty Server logging to log.
func NewServer(log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{
		log:       log,
		now:       time.Now,
		conns:     map[connKey]int{},
		idents:    map[string]int{},
		penalties: map[netip.Addr]*penalty{},
		rates:     map[string]*rate{},
		expire:    DefaultPenaltyExpire,
	}
}

// ServeConn serves one client until it disconnects, sends a malformed line
// (logged, then the connection is closed: the service goes on), or ctx is
// cancelled. The connections the client registered and did not
// disconnect are forgotten when it returns: the process that held them is
// gone or will register them again when it redials.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	owned := map[connKey]int{}
	defer s.release(owned)
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()

	r := bufio.NewReaderSize(c, MaxLine+1)
	w := bufio.NewWriter(c)
	handshaked := false
	for {
		line, err := readLine(r)
		if err != nil {
			if !errors.Is(err, errEOF) && ctx.Err() == nil {
				s.log.Info("anvil client dropped", zap.Error(err))
			}
			return
		}
		req, err := parseRequest(line)
		if err == nil && !handshaked && req.cmd != cmdVersion {
			err = errors.New("anvil: the first line must be VERSION")
		}
		if err == nil && req.cmd == cmdVersion && req.major != 1 {
			err = fmt.Errorf("anvil: unsupported protocol major version %d", req.major)
		}
		if err != nil {
			s.log.Warn("anvil client sent a bad line, closing it", zap.Error(err))
			return
		}
		if req.cmd == cmdVersion {
			handshaked = true
			continue
		}
		s.handle(req, owned, w)
		// Flush only when no further request is already buffered, so a
		// pipelining client gets its replies in one write.
		if r.Buffered() == 0 && w.Buffered() > 0 {
			c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if err := w.Flush(); err != nil {
				s.log.Info("anvil client dropped", zap.Error(err))
				return
			}
		}
	}
}

var errEOF = errors.New("eof")

// readLine reads one LF-terminated line of at most MaxLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || (err == nil && len(b)-1 > MaxLine) {
		return "", fmt.Errorf("anvil: line longer than %d bytes", MaxLine)
	}
	if err != nil {
		if len(b) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)) {
			return "", errEOF
		}
		return "", err
	}
	return string(b[:len(b)-1]), nil
}

func (s *Server) handle(req request, owned map[connKey]int, w *bufio.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch req.cmd {
	case cmdConnect:
		k := connKey{req.ident, req.pid}
		s.conns[k]++
		s.idents[req.ident]++
		owned[k]++
	case cmdDisconnect:
		k := connKey{req.ident, req.pid}
		if s.conns[k] == 0 {
			// Dovecot logs this too: a bug in the client, not an attack.
			s.log.Warn("anvil DISCONNECT without CONNECT", zap.Int("pid", req.pid))
			return
		}
		s.drop(k, 1)
		if owned[k] > 0 {
			if owned[k]--; owned[k] == 0 {
				delete(owned, k)
			}
		}
	case cmdKill:
		for k, n := range s.conns {
			if k.pid == req.pid {
				s.drop(k, n)
			}
		}
		for k := range owned {
			if k.pid == req.pid {
				delete(owned, k)
			}
		}
	case cmdLookup:
		fmt.Fprintf(w, "%d\n", s.idents[req.ident])
	case cmdConnectDump:
		keys := make([]connKey, 0, len(s.conns))
		for k := range s.conns {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].ident != keys[j].ident {
				return keys[i].ident < keys[j].ident
			}
			return keys[i].pid < keys[j].pid
		})
		for _, k := range keys {
			w.WriteString(formatLine(k.ident, strconv.Itoa(k.pid), strconv.Itoa(s.conns[k])))
		}
		w.WriteString("\n")
	case cmdRate:
		fmt.Fprintf(w, "%d\n", s.rateInc(req.ident, time.Duration(req.value)*time.Second, now))
	case cmdPenaltyGet:
		p := s.penaltyOf(req.ip, now)
		if p == nil {
			w.WriteString("0 0\n")
			return
		}
		fmt.Fprintf(w, "%d %d\n", p.value, p.lastPenalty.Unix())
	case cmdPenaltyInc:
		s.penaltyInc(req.ip, req.checksum, req.value, now)
	case cmdPenaltyExp:
		s.expire = time.Duration(req.value) * time.Second
	case cmdPenaltyDump:
		ips := make([]netip.Addr, 0, len(s.penalties))
		for ip, p := range s.penalties {
			if now.Sub(p.lastUpdate) < s.expire {
				ips = append(ips, ip)
			}
		}
		sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
		for _, ip := range ips {
			p := s.penalties[ip]
			w.WriteString(formatLine(ip.String(), strconv.Itoa(p.value),
				strconv.FormatInt(p.lastPenalty.Unix(), 10), strconv.FormatInt(p.lastUpdate.Unix(), 10)))
		}
		w.WriteString("\n")
	}
}

// drop removes n connections of k. s.mu is held.
func (s *Server) drop(k connKey, n int) {
	if s.conns[k] -= n; s.conns[k] <= 0 {
		delete(s.conns, k)
	}
	if s.idents[k.ident] -= n; s.idents[k.ident] <= 0 {
		delete(s.idents, k.ident)
	}
}

// release forgets what one client connection registered.
func (s *Server) release(owned map[connKey]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, n := range owned {
		if have := s.conns[k]; have < n {
			n = have // a KILL from another client already took some
		}
		if n > 0 {
			s.drop(k, n)
		}
	}
}

// penaltyOf returns ip's live entry, deleting an expired one. s.mu is held.
func (s *Server) penaltyOf(ip netip.Addr, now time.Time) *penalty {
	p := s.penalties[ip.Unmap()]
	if p != nil && now.Sub(p.lastUpdate) >= s.expire {
		delete(s.penalties, ip.Unmap())
		return nil
	}
	return p
}

// penaltyInc applies PENALTY-INC. s.mu is held.
func (s *Server) penaltyInc(ip netip.Addr, checksum uint32, value int, now time.Time) {
	ip = ip.Unmap()
	p := s.penaltyOf(ip, now)
	if p == nil {
		if len(s.penalties) >= maxPenaltyEntries {
			s.sweepLocked(now)
			if len(s.penalties) >= maxPenaltyEntries {
				s.evictOldest()
			}
		}
		p = &penalty{}
		s.penalties[ip] = p
	}
	p.lastUpdate = now
	if checksum != 0 {
		for _, c := range p.checksums {
			if c == checksum {
				return // the same attempt again: no higher penalty
			}
		}
		p.checksums[p.next] = checksum
		p.next = (p.next + 1) % recentChecksums
	}
	p.value = value
	p.lastPenalty = now
}

// rateInc counts one RATE event and returns the count in its window.
// s.mu is held.
func (s *Server) rateInc(ident string, window time.Duration, now time.Time) int {
	r := s.rates[ident]
	if r == nil {
		if len(s.rates) >= maxRateEntries {
			s.sweepLocked(now)
			if len(s.rates) >= maxRateEntries {
				s.evictOldestRate()
			}
		}
		r = &rate{}
		s.rates[ident] = r
	}
	if r.count == 0 || now.Sub(r.start) >= window || now.Before(r.start) {
		r.start, r.count = now, 0
	}
	r.window = window
	r.count++
	return r.count
}

func (s *Server) evictOldestRate() {
	var oldest string
	var t time.Time
	first := true
	for id, r := range s.rates {
		if first || r.start.Before(t) {
			oldest, t, first = id, r.start, false
		}
	}
	delete(s.rates, oldest)
}

func (s *Server) evictOldest() {
	var oldest netip.Addr
	var t time.Time
	for ip, p := range s.penalties {
		if !oldest.IsValid() || p.lastUpdate.Before(t) {
			oldest, t = ip, p.lastUpdate
		}
	}
	delete(s.penalties, oldest)
}

// Sweep drops expired penalty entries and elapsed rate windows. cmd/anvil calls it periodically so
// that memory follows the live entries, not every IP ever seen.
func (s *Server) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
}

func (s *Server) sweepLocked(now time.Time) {
	for ip, p := range s.penalties {
		if now.Sub(p.lastUpdate) >= s.expire {
			delete(s.penalties, ip)
		}
	}
	for id, r := range s.rates {
		if now.Sub(r.start) >= r.window {
			delete(s.rates, id)
		}
	}
}
