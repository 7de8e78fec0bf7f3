package imapd

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

// The model-based concurrency test: several sessions on one mailbox and
// a store handle standing in for deliveries by another process run a
// seeded random interleaving of commands. Each session's view (sequence
// number -> UID, flags) is rebuilt only from the untagged responses that
// session received, as a client would; the test also keeps the true
// state of the mailbox from the tagged results (APPENDUID, COPYUID) and
// the semantics of STORE and EXPUNGE. After every command the session's
// own FETCH 1:* (UID FLAGS) must agree with its view, and after every
// NOOP the view must equal the true state.

// modelFlags are the only flags the test sets; each is one bit.
var modelFlags = []string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`, "$Kw1", "$Kw2"}

const flagDeletedBit = 1 << 2

func flagBits(t testing.TB, list string) uint8 {
	var b uint8
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, `\Recent`) {
			continue // per-session, not part of the shared state
		}
		i := slices.IndexFunc(modelFlags, func(m string) bool { return strings.EqualFold(m, f) })
		if i < 0 {
			t.Fatalf("unexpected flag %q in %q", f, list)
		}
		b |= 1 << i
	}
	return b
}

func flagNames(b uint8) string {
	var out []string
	for i, f := range modelFlags {
		if b&(1<<i) != 0 {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

func applyStore(cur uint8, op byte, f uint8) uint8 {
	switch op {
	case '+':
		return cur | f
	case '-':
		return cur &^ f
	}
	return f
}

// viewMsg is one message of a session's view; uid 0 means an EXISTS
// announced it and no FETCH has told its UID yet.
type viewMsg struct {
	uid   uint32
	flags uint8
}

type modelSession struct {
	t    *testing.T
	name string
	conn net.Conn
	br   *bufio.Reader
	rev2 bool
	// idling: in IDLE while other actors run.
	idling bool
	view   []viewMsg
	tags   int
	log    *[]string
}

// respOpts says how the untagged responses of one command are checked.
type respOpts struct {
	noExpunge bool // a command by sequence number: EXPUNGE is forbidden
	check     bool // the check FETCH: flags are compared, not learned
}

func (s *modelSession) fail(format string, args ...any) {
	s.t.Helper()
	tail := *s.log
	if len(tail) > 60 && !testing.Verbose() {
		tail = tail[len(tail)-60:]
	}
	s.t.Fatalf("%s: %s\nlast operations:\n  %s", s.name, fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

// send writes a command (and the literal that follows it) and returns the
// untagged lines and the tagged completion.
func (s *modelSession) send(cmd string, literal string) (tag string) {
	s.tags++
	tag = s.name + strconv.Itoa(s.tags)
	*s.log = append(*s.log, s.name+": "+tag+" "+cmd)
	if _, err := s.conn.Write([]byte(tag + " " + cmd + "\r\n" + literal)); err != nil {
		s.fail("write: %v", err)
	}
	return tag
}

func (s *modelSession) readLine() string {
	s.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := s.br.ReadString('\n')
	if err != nil {
		s.fail("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// wait reads up to the tagged completion of tag, applying each untagged
// response to the view; it returns the FETCH and SEARCH lines and the
// completion.
func (s *modelSession) wait(tag string, o respOpts) (untagged []string, done string) {
	for {
		l := s.readLine()
		if strings.HasPrefix(l, tag+" ") {
			*s.log = append(*s.log, s.name+": "+l)
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		if strings.HasPrefix(l, "+ ") {
			continue
		}
		if !strings.HasPrefix(l, "* ") {
			s.fail("unexpected line %q", l)
		}
		untagged = append(untagged, l)
		if !o.check {
			*s.log = append(*s.log, s.name+": "+l)
		}
		s.apply(l, o)
	}
}

func (s *modelSession) cmd(cmd string, o respOpts) ([]string, string) {
	return s.wait(s.send(cmd, ""), o)
}

// apply updates the view from one untagged response.
func (s *modelSession) apply(l string, o respOpts) {
	f := strings.Fields(l)
	if len(f) < 3 {
		return
	}
	n, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		if f[1] == "VANISHED" {
			s.fail("VANISHED without QRESYNC: %q", l)
		}
		return // FLAGS, OK, SEARCH, ESEARCH, ENABLED, ...
	}
	seq := int(n)
	switch strings.ToUpper(f[2]) {
	case "EXISTS":
		if seq < len(s.view) {
			s.fail("EXISTS %d shrinks the view of %d", seq, len(s.view))
		}
		for len(s.view) < seq {
			s.view = append(s.view, viewMsg{})
		}
	case "EXPUNGE":
		if o.noExpunge {
			s.fail("EXPUNGE during a command by sequence number: %q", l)
		}
		if seq < 1 || seq > len(s.view) {
			s.fail("EXPUNGE %d outside 1:%d", seq, len(s.view))
		}
		s.view = slices.Delete(s.view, seq-1, seq)
	case "FETCH":
		if seq < 1 || seq > len(s.view) {
			s.fail("FETCH %d outside 1:%d: %q", seq, len(s.view), l)
		}
		uid, flags, hasFlags := parseFetchLine(s.t, l)
		m := &s.view[seq-1]
		known := m.uid != 0
		if uid != 0 {
			if known && m.uid != uid {
				s.fail("FETCH %d says UID %d, the view has %d", seq, uid, m.uid)
			}
			m.uid = uid
		}
		if hasFlags && (!o.check || !known) {
			m.flags = flags
		}
	}
}

// parseFetchLine extracts UID and FLAGS from "* n FETCH (...)".
func parseFetchLine(t testing.TB, l string) (uid uint32, flags uint8, hasFlags bool) {
	if i := strings.Index(l, "UID "); i >= 0 {
		rest := l[i+4:]
		j := strings.IndexAny(rest, " )")
		v, err := strconv.ParseUint(rest[:j], 10, 32)
		if err != nil {
			t.Fatalf("bad UID in %q", l)
		}
		uid = uint32(v)
	}
	if i := strings.Index(l, "FLAGS ("); i >= 0 {
		rest := l[i+7:]
		j := strings.IndexByte(rest, ')')
		flags, hasFlags = flagBits(t, rest[:j]), true
	}
	return uid, flags, hasFlags
}

// parseNumbers reads the numbers of "* SEARCH 1 2 3" or of the ALL set of
// "* ESEARCH (TAG "x") [UID] ALL 1:3,5".
func parseNumbers(t testing.TB, lines []string) []uint32 {
	var out []uint32
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[1] == "SEARCH":
			for _, v := range f[2:] {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					t.Fatalf("bad SEARCH %q", l)
				}
				out = append(out, uint32(n))
			}
		case len(f) >= 2 && f[1] == "ESEARCH":
			for i := 2; i+1 < len(f); i++ {
				if f[i] == "ALL" {
					out = append(out, parseSet(t, f[i+1])...)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func parseSet(t testing.TB, set string) []uint32 {
	var out []uint32
	for _, r := range strings.Split(set, ",") {
		lo, hi, _ := strings.Cut(r, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if hi != "" {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("bad set %q", set)
		}
		if a > b {
			a, b = b, a
		}
		for v := a; v <= b; v++ {
			out = append(out, uint32(v))
		}
	}
	return out
}

func formatNums(nums []uint32) string {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = itoa(n)
	}
	return strings.Join(parts, ",")
}

// modelRun is one seeded run.
type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	ts    *testServer
	sess  []*modelSession
	truth map[uint32]uint8 // UID -> flags of the mailbox as it is
	ext   storage.Mailbox  // another handle: deliveries and changes by "another process"
	log   []string
	body  int
}

func (r *modelRun) truthUIDs() []uint32 {
	out := make([]uint32, 0, len(r.truth))
	for uid := range r.truth {
		out = append(out, uid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *modelRun) randFlags() uint8 {
	return uint8(r.rng.IntN(1 << len(modelFlags)))
}

func (r *modelRun) newBody() string {
	r.body++
	return fmt.Sprintf("From: model@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n", r.body, r.body)
}

// randSeqs picks a few sequence numbers of the session's view.
func (r *modelRun) randSeqs(s *modelSession) []uint32 {
	var out []uint32
	for i := range s.view {
		if r.rng.IntN(3) == 0 {
			out = append(out, uint32(i+1))
		}
	}
	if len(out) == 0 {
		out = append(out, uint32(r.rng.IntN(len(s.view))+1))
	}
	return out
}

// check runs the session's FETCH 1:* (UID FLAGS) and compares it with
// its view: every UID matches, sequence numbers are dense, flags are
// those of the store now; a message expunged by another session and not
// yet reported may be left out, with NO [EXPUNGEISSUED].
func (r *modelRun) check(s *modelSession) {
	if len(s.view) == 0 {
		return
	}
	lines, done := s.cmd("FETCH 1:* (UID FLAGS)", respOpts{noExpunge: true, check: true})
	got := map[int]bool{}
	prev := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 || f[2] != "FETCH" {
			continue
		}
		seq, _ := strconv.Atoi(f[1])
		if seq <= prev {
			s.fail("FETCH responses out of order: %d after %d", seq, prev)
		}
		prev = seq
		got[seq] = true
		uid, flags, _ := parseFetchLine(r.t, l)
		want, ok := r.truth[uid]
		if !ok {
			s.fail("FETCH shows UID %d, which was expunged: %q", uid, l)
		}
		if flags != want {
			s.fail("FETCH %d (UID %d) FLAGS (%s), the store has (%s)", seq, uid, flagNames(flags), flagNames(want))
		}
	}
	missing := false
	var last uint32
	for i, m := range s.view {
		if m.uid == 0 {
			s.fail("sequence %d has no UID after FETCH 1:*", i+1)
		}
		if m.uid <= last {
			s.fail("UIDs not ascending at sequence %d: %d after %d", i+1, m.uid, last)
		}
		last = m.uid
		_, exists := r.truth[m.uid]
		switch {
		case got[i+1]:
		case exists:
			s.fail("FETCH 1:* left out sequence %d (UID %d), which exists", i+1, m.uid)
		default:
			missing = true
		}
	}
	if missing && !strings.HasPrefix(done, "NO [EXPUNGEISSUED]") {
		s.fail("FETCH 1:* of a view with expunged messages: %q", done)
	}
	if !missing && !strings.HasPrefix(done, "OK") {
		s.fail("FETCH 1:*: %q", done)
	}
}

// synced checks that the view equals the store, as it must after a NOOP;
// the UIDs of messages announced by EXISTS come from the check FETCH.
func (r *modelRun) synced(s *modelSession) {
	r.check(s)
	uids := r.truthUIDs()
	if len(uids) != len(s.view) {
		s.fail("after NOOP the view has %d messages, the store %d", len(s.view), len(uids))
	}
	for i, uid := range uids {
		m := s.view[i]
		if m.uid != uid {
			s.fail("after NOOP sequence %d is UID %d, the store's is %d", i+1, m.uid, uid)
		}
		if m.flags != r.truth[uid] {
			s.fail("after NOOP UID %d has FLAGS (%s) in the view, (%s) in the store", uid, flagNames(m.flags), flagNames(r.truth[uid]))
		}
	}
}

// sessionOp runs one random command on s, then checks s.
func (r *modelRun) idlers() int {
	n := 0
	for _, s := range r.sess {
		if s.idling {
			n++
		}
	}
	return n
}

func (r *modelRun) sessionOp(s *modelSession) {
	op := r.rng.IntN(100)
	switch {
	case op < 22 && len(s.view) > 0:
		r.store(s)
	case op < 30:
		s.cmd("NOOP", respOpts{})
		r.synced(s)
		return
	case op < 38:
		r.expunge(s)
	case op < 48:
		r.appendMsg(s)
	case op < 56 && len(s.view) > 0:
		r.copyMsgs(s)
	case op < 68 && len(s.view) > 0:
		r.fetch(s)
	case op < 80 && len(s.view) > 0:
		r.search(s)
	case op < 88 && r.idlers() < 2:
		r.idle(s)
	default:
		s.cmd("NOOP", respOpts{})
		r.synced(s)
		return
	}
	r.check(s)
}

func (r *modelRun) store(s *modelSession) {
	ops := "+-="
	op := ops[r.rng.IntN(3)]
	flags := r.randFlags()
	silent := r.rng.IntN(2) == 0
	useUID := r.rng.IntN(2) == 0
	seqs := r.randSeqs(s)
	uids := make([]uint32, len(seqs))
	for i, q := range seqs {
		uids[i] = s.view[q-1].uid
	}
	item := "FLAGS"
	if op != '=' {
		item = string(op) + item
	}
	if silent {
		item += ".SILENT"
	}
	cmd := "STORE " + formatNums(seqs)
	if useUID {
		cmd = "UID STORE " + formatNums(uids)
	}
	_, done := s.cmd(cmd+" "+item+" ("+flagNames(flags)+")", respOpts{noExpunge: !useUID})
	if !strings.HasPrefix(done, "OK") {
		s.fail("%s: %q", cmd, done)
	}
	for _, uid := range uids {
		if cur, ok := r.truth[uid]; ok {
			r.truth[uid] = applyStore(cur, op, flags)
		}
	}
	if silent {
		// The client knows what it asked for; the server tells it only
		// of changes by others.
		for i := range s.view {
			if slices.Contains(uids, s.view[i].uid) {
				s.view[i].flags = applyStore(s.view[i].flags, op, flags)
			}
		}
	}
}

func (r *modelRun) expunge(s *modelSession) {
	if r.rng.IntN(2) == 0 || len(s.view) == 0 {
		_, done := s.cmd("EXPUNGE", respOpts{})
		if !strings.HasPrefix(done, "OK") {
			s.fail("EXPUNGE: %q", done)
		}
		for uid, f := range r.truth {
			if f&flagDeletedBit != 0 {
				delete(r.truth, uid)
			}
		}
		return
	}
	var uids []uint32
	for _, q := range r.randSeqs(s) {
		uids = append(uids, s.view[q-1].uid)
	}
	_, done := s.cmd("UID EXPUNGE "+formatNums(uids), respOpts{})
	if !strings.HasPrefix(done, "OK") {
		s.fail("UID EXPUNGE: %q", done)
	}
	for _, uid := range uids {
		if f, ok := r.truth[uid]; ok && f&flagDeletedBit != 0 {
			delete(r.truth, uid)
		}
	}
}

func (r *modelRun) appendMsg(s *modelSession) {
	body := r.newBody()
	flags := r.randFlags()
	tag := s.send(fmt.Sprintf("APPEND INBOX (%s) {%d+}", flagNames(flags), len(body)), body+"\r\n")
	_, done := s.wait(tag, respOpts{})
	f := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(done))
	if len(f) < 4 || f[0] != "OK" || f[1] != "APPENDUID" {
		s.fail("APPEND: %q", done)
	}
	uid, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		s.fail("APPENDUID: %q", done)
	}
	r.truth[uint32(uid)] = flags
}

func (r *modelRun) copyMsgs(s *modelSession) {
	seqs := r.randSeqs(s)
	useUID := r.rng.IntN(2) == 0
	// The sources, taken before the command's responses change the view.
	var uids []uint32
	for _, q := range seqs {
		uids = append(uids, s.view[q-1].uid)
	}
	cmd := "COPY " + formatNums(seqs) + " INBOX"
	if useUID {
		cmd = "UID COPY " + formatNums(uids) + " INBOX"
	}
	_, done := s.cmd(cmd, respOpts{})
	if !strings.HasPrefix(done, "OK") {
		if strings.HasPrefix(done, "NO [EXPUNGEISSUED]") {
			return
		}
		s.fail("%s: %q", cmd, done)
	}
	f := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(done))
	if len(f) < 5 || f[1] != "COPYUID" {
		// Nothing left to copy: every source was expunged.
		for _, uid := range uids {
			if _, ok := r.truth[uid]; ok {
				s.fail("%s without COPYUID: %q", cmd, done)
			}
		}
		return
	}
	src, dst := parseSet(r.t, f[3]), parseSet(r.t, f[4])
	if len(src) != len(dst) {
		s.fail("COPYUID sets differ in length: %q", done)
	}
	for i := range src {
		fl, ok := r.truth[src[i]]
		if !ok {
			s.fail("COPYUID names expunged UID %d: %q", src[i], done)
		}
		r.truth[dst[i]] = fl
	}
}

func (r *modelRun) fetch(s *modelSession) {
	items := []string{"(UID)", "(UID FLAGS)", "(FLAGS UID RFC822.SIZE)", "(UID INTERNALDATE)"}[r.rng.IntN(4)]
	seqs := r.randSeqs(s)
	if r.rng.IntN(2) == 0 {
		s.cmd("FETCH "+formatNums(seqs)+" "+items, respOpts{noExpunge: true})
		return
	}
	var uids []uint32
	for _, q := range seqs {
		uids = append(uids, s.view[q-1].uid)
	}
	_, done := s.cmd("UID FETCH "+formatNums(uids)+" "+items, respOpts{})
	if !strings.HasPrefix(done, "OK") {
		s.fail("UID FETCH: %q", done)
	}
}

// search checks SEARCH results against the view and the store: they are
// computed over the view as it was when the command started.
func (r *modelRun) search(s *modelSession) {
	keys := []struct {
		key string
		fn  func(uint8) bool
	}{
		{"ALL", func(uint8) bool { return true }},
		{"FLAGGED", func(f uint8) bool { return f&(1<<1) != 0 }},
		{"DELETED", func(f uint8) bool { return f&flagDeletedBit != 0 }},
		{"UNSEEN", func(f uint8) bool { return f&(1<<3) == 0 }},
		{"KEYWORD $Kw1", func(f uint8) bool { return f&(1<<5) != 0 }},
	}
	k := keys[r.rng.IntN(len(keys))]
	useUID := r.rng.IntN(2) == 0
	var want []uint32
	for i, m := range s.view {
		f, ok := r.truth[m.uid]
		if ok && k.fn(f) {
			if useUID {
				want = append(want, m.uid)
			} else {
				want = append(want, uint32(i+1))
			}
		}
	}
	cmd := "SEARCH " + k.key
	if useUID {
		cmd = "UID " + cmd
	}
	lines, done := s.cmd(cmd, respOpts{noExpunge: !useUID})
	if !strings.HasPrefix(done, "OK") {
		s.fail("%s: %q", cmd, done)
	}
	if got := parseNumbers(r.t, lines); !slices.Equal(got, want) {
		s.fail("%s = %v, want %v", cmd, got, want)
	}
}

// idle puts s in IDLE while one or two other actors run operations,
// then ends it.
func (r *modelRun) idle(s *modelSession) {
	tag := s.send("IDLE", "")
	if l := s.readLine(); !strings.HasPrefix(l, "+ ") {
		s.fail("IDLE: %q", l)
	}
	s.idling = true
	for range 1 + r.rng.IntN(2) {
		r.step()
	}
	s.idling = false
	if _, err := s.conn.Write([]byte("DONE\r\n")); err != nil {
		s.fail("write: %v", err)
	}
	if _, done := s.wait(tag, respOpts{}); !strings.HasPrefix(done, "OK") {
		s.fail("IDLE: %q", done)
	}
}

// extOp changes the mailbox through another store handle, as lmtp or
// another process would.
func (r *modelRun) extOp() {
	if _, err := r.ext.Sync(); err != nil {
		r.t.Fatal(err)
	}
	uids := r.truthUIDs()
	switch op := r.rng.IntN(20); {
	case op == 0:
		r.deliverProcess()
	case op < 12 || len(uids) == 0:
		sv, err := r.ext.BeginSave()
		if err != nil {
			r.t.Fatal(err)
		}
		n := 1 + r.rng.IntN(2)
		flags := make([]uint8, n)
		for i := range n {
			flags[i] = r.randFlags() &^ flagDeletedBit
			sf, kws, err := storageFlags(strings.Fields(flagNames(flags[i])))
			if err != nil {
				r.t.Fatal(err)
			}
			if err := sv.Append(strings.NewReader(r.newBody()), storage.AppendOptions{Flags: sf, Keywords: kws, InternalDate: testDate}); err != nil {
				r.t.Fatal(err)
			}
		}
		_, got, err := sv.Commit()
		if err != nil {
			r.t.Fatal(err)
		}
		r.log = append(r.log, fmt.Sprintf("ext: deliver %v flags %v", got, flags))
		for i, uid := range got {
			r.truth[uid] = flags[i]
		}
	case op < 18:
		uid := uids[r.rng.IntN(len(uids))]
		flags := r.randFlags()
		sf, kws, _ := storageFlags(strings.Fields(flagNames(flags)))
		if _, err := r.ext.Store([]uint32{uid}, storage.StoreAdd, sf, kws, 0); err != nil {
			r.t.Fatal(err)
		}
		r.log = append(r.log, fmt.Sprintf("ext: store %d +(%s)", uid, flagNames(flags)))
		r.truth[uid] |= flags
	default:
		got, err := r.ext.Expunge(nil)
		if err != nil {
			r.t.Fatal(err)
		}
		r.log = append(r.log, fmt.Sprintf("ext: expunge -> %v", got))
		for uid, f := range r.truth {
			if f&flagDeletedBit != 0 {
				delete(r.truth, uid)
			}
		}
	}
}

// deliverProcess delivers one message from another process (this test
// binary re-run as TestModelDeliverHelper), so the sessions learn of it
// from the files and the inotify watcher, not from shared memory.
func (r *modelRun) deliverProcess() {
	cmd := exec.Command(os.Args[0], "-test.run=^TestModelDeliverHelper$")
	cmd.Env = append(os.Environ(), "COTE_MODEL_DELIVER_HOME="+r.ts.home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("delivery process: %v\n%s", err, out)
	}
	var uid uint32
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "delivered UID "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				r.t.Fatalf("delivery process: %q", out)
			}
			uid = uint32(n)
		}
	}
	if uid == 0 {
		r.t.Fatalf("delivery process: %q", out)
	}
	r.log = append(r.log, fmt.Sprintf("process: deliver [%d]", uid))
	r.truth[uid] = 0
}

// TestModelDeliverHelper is the delivery process of deliverProcess; run
// directly it does nothing.
func TestModelDeliverHelper(t *testing.T) {
	home := os.Getenv("COTE_MODEL_DELIVER_HOME")
	if home == "" {
		t.Skip("only run by TestModelConcurrentSessions")
	}
	d := maildir.New(nil)
	defer d.Close()
	ts := &testServer{home: home, driver: d}
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Append(strings.NewReader("Subject: from another process\r\n\r\nbody\r\n"), storage.AppendOptions{InternalDate: testDate}); err != nil {
		t.Fatal(err)
	}
	_, uids, err := sv.Commit()
	if err != nil || len(uids) != 1 {
		t.Fatalf("commit: %v %v", uids, err)
	}
	fmt.Printf("delivered UID %d\n", uids[0])
}

// step runs one operation by a random actor: the other store handle or
// a session not in IDLE.
func (r *modelRun) step() {
	var cand []*modelSession
	for _, s := range r.sess {
		if !s.idling {
			cand = append(cand, s)
		}
	}
	if len(cand) == 0 || r.rng.IntN(5) == 0 {
		r.extOp()
		return
	}
	r.sessionOp(cand[r.rng.IntN(len(cand))])
}

func runModel(t *testing.T, seed uint64, nSessions, nOps int) {
	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	r := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ts: ts, truth: map[uint32]uint8{}}
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if r.ext, err = u.Open("INBOX", false); err != nil {
		t.Fatal(err)
	}
	defer r.ext.Close()
	for range 3 {
		r.extOp()
	}
	for i := range nSessions {
		c := ts.dial(t)
		s := &modelSession{t: t, name: string(rune('a' + i)), conn: c, br: bufio.NewReader(c), log: &r.log, rev2: i == 1}
		if l := s.readLine(); !strings.HasPrefix(l, "* PREAUTH") {
			t.Fatalf("greeting %q", l)
		}
		if s.rev2 {
			s.cmd("ENABLE IMAP4rev2", respOpts{})
		}
		if _, done := s.cmd("SELECT INBOX", respOpts{}); !strings.HasPrefix(done, "OK") {
			t.Fatalf("SELECT: %q", done)
		}
		r.check(s)
		r.sess = append(r.sess, s)
	}
	for range nOps {
		r.step()
	}
	for _, s := range r.sess {
		s.cmd("NOOP", respOpts{})
		r.synced(s)
	}
	n := 0
	for _, l := range r.log {
		if strings.HasPrefix(l, "process: ") {
			n++
		}
	}
	t.Logf("%d log entries, %d deliveries by another process, %d messages at the end", len(r.log), n, len(r.truth))
	// The test's idea of the mailbox is the store's.
	if _, err := r.ext.Sync(); err != nil {
		t.Fatal(err)
	}
	store := map[uint32]uint8{}
	if err := r.ext.Messages(nil, func(m storage.Message) error {
		names := append(m.Flags.Names(), m.Keywords...)
		store[m.UID] = flagBits(t, strings.Join(names, " "))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(store) != len(r.truth) {
		t.Fatalf("store has %d messages, the model %d", len(store), len(r.truth))
	}
	for uid, f := range r.truth {
		if g, ok := store[uid]; !ok || g != f {
			t.Fatalf("UID %d: store (%s) present=%v, model (%s)", uid, flagNames(g), ok, flagNames(f))
		}
	}
}

// TestModelConcurrentSessions runs the model over a few seeds; each
// subtest is named by its seed, so
// `go test -run 'TestModelConcurrentSessions/seed=N'` reproduces one.
// COTE_MODEL_SEEDS=N runs seeds 1..N instead, for a longer hunt.
func TestModelConcurrentSessions(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	if v := os.Getenv("COTE_MODEL_SEEDS"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("COTE_MODEL_SEEDS=%q", v)
		}
		seeds = seeds[:0]
		for i := uint64(1); i <= n; i++ {
			seeds = append(seeds, i)
		}
	}
	for _, seed := range seeds {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Logf("seed %d", seed)
			runModel(t, seed, 3, 200)
		})
	}
}

// TestSilentStoreAfterForeignChange is the case the model found first: a
// session's STORE .SILENT on a message another session had changed since
// its last sync hid that change from it for good.
func TestSilentStoreAfterForeignChange(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1)
	open := func() *lineConn {
		c := ts.dial(t)
		l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
		l.until("* PREAUTH")
		l.send("s SELECT INBOX")
		l.until("s OK")
		return l
	}
	a, b := open(), open()
	b.send(`b1 STORE 1 FLAGS.SILENT (\Seen)`)
	b.until("b1 OK")
	a.send(`a1 STORE 1 +FLAGS.SILENT (\Flagged)`)
	a.until("a1 OK")
	a.send("a2 NOOP")
	got := a.until("a2 OK")
	found := false
	for _, l := range got {
		found = found || strings.HasPrefix(l, `* 1 FETCH (UID 1 FLAGS (\Flagged \Seen`)
	}
	if !found {
		t.Fatalf("NOOP after a foreign change and a silent STORE: %q", got)
	}
}
