package imapd

import (
	"slices"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/storage"
)

// tnode is one container of RFC 5256 §2.2's threading: a message, or a
// dummy (uid 0) standing for a referenced message that is not among the
// matches.
type tnode struct {
	uid    uint32
	date   time.Time // sent date; for a dummy, set when sorting
	subj   string    // base subject, folded
	reply  bool      // the subject marked a reply or forward
	parent *tnode
	kids   []*tnode
}

// cmdThread: THREAD and UID THREAD (RFC 5256 §3) with ORDEREDSUBJECT,
// REFERENCES and Dovecot's REFS.
func cmdThread(s *Session, c *cmdCtx) error {
	parsed, err := imap.ParseThread(c.args, !s.rev2, charset.Decode)
	if err != nil {
		return err
	}
	prog, err := s.compile(parsed.Search.Key)
	if err != nil {
		return err
	}
	hits, err := s.searchUIDs(c, prog)
	if err != nil {
		return err
	}
	var roots []*tnode
	switch parsed.Algorithm {
	case imap.ThreadOrderedSubject:
		roots, err = s.threadOrderedSubject(hits)
	default:
		roots, err = s.threadReferences(hits, parsed.Algorithm == imap.ThreadRefs)
	}
	if err != nil {
		return err
	}
	num := func(uid uint32) uint32 { return uid }
	if !c.uid {
		num = s.mbox.Seq
	}
	var b strings.Builder
	b.WriteString("* THREAD ")
	for _, r := range roots {
		b.WriteByte('(')
		writeThreadNode(&b, r, num)
		b.WriteByte(')')
	}
	s.w.WriteString(strings.TrimSuffix(b.String(), " "))
	s.w.CRLF()
	return nil
}

// writeThreadNode writes a node and its descendants in RFC 5256 §4's
// thread-list form: a chain of single children is a run of numbers, and
// several children are each put in parentheses.
func writeThreadNode(b *strings.Builder, n *tnode, num func(uint32) uint32) {
	for {
		if n.uid != 0 {
			b.WriteString(itoa(num(n.uid)))
		}
		switch len(n.kids) {
		case 0:
			return
		case 1:
			if n.uid != 0 {
				b.WriteByte(' ')
			}
			n = n.kids[0]
			continue
		}
		if n.uid != 0 {
			b.WriteByte(' ')
		}
		for _, k := range n.kids {
			b.WriteByte('(')
			writeThreadNode(b, k, num)
			b.WriteByte(')')
		}
		return
	}
}

// threadInfo loads a message's sent date and base subject.
func (s *Session) threadInfo(m storage.Message) (*tnode, *sortHeaders, error) {
	h, err := s.headersOf(m.UID)
	if err != nil {
		return nil, nil, err
	}
	n := &tnode{uid: m.UID, date: sentDate(h, m.InternalDate)}
	n.subj, n.reply = baseSubject(h.f[hSubject])
	return n, h, nil
}

// threadOrderedSubject is RFC 5256 §2.2's ORDEREDSUBJECT: messages
// sorted by base subject, then sent date; each run of one subject is a
// thread whose first message is the parent of all the others; threads
// are ordered by the sent date of their first message.
func (s *Session) threadOrderedSubject(msgs []storage.Message) ([]*tnode, error) {
	nodes := make([]*tnode, 0, len(msgs))
	for _, m := range msgs {
		n, _, err := s.threadInfo(m)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	slices.SortStableFunc(nodes, func(a, b *tnode) int {
		if r := strings.Compare(a.subj, b.subj); r != 0 {
			return r
		}
		return cmpNodeDate(a, b)
	})
	var roots []*tnode
	for i := 0; i < len(nodes); {
		j := i + 1
		for j < len(nodes) && nodes[j].subj == nodes[i].subj {
			nodes[i].kids = append(nodes[i].kids, nodes[j])
			j++
		}
		roots = append(roots, nodes[i])
		i = j
	}
	slices.SortStableFunc(roots, cmpNodeDate)
	return roots, nil
}

// cmpNodeDate orders by sent date, then by sequence number (UID order).
func cmpNodeDate(a, b *tnode) int {
	if r := a.date.Compare(b.date); r != 0 {
		return r
	}
	return cmpInt64(int64(firstUID(a)), int64(firstUID(b)))
}

func firstUID(n *tnode) uint32 {
	for n.uid == 0 && len(n.kids) > 0 {
		n = n.kids[0]
	}
	return n.uid
}

// maxReferences is how many msg-ids of one References field are linked
// (the last ones); real threads stay far below it.
const maxReferences = 1000

// threadReferences is RFC 5256 §2.2's REFERENCES. With refs it is
// Dovecot's REFS: no grouping by subject (step 5), and threads ordered by
// their most recent message.
func (s *Session) threadReferences(msgs []storage.Message, refs bool) ([]*tnode, error) {
	ids := make(map[string]*tnode, len(msgs))
	var all []*tnode // every container, in creation order
	container := func(id string) *tnode {
		n := ids[id]
		if n == nil {
			n = &tnode{}
			ids[id] = n
			all = append(all, n)
		}
		return n
	}
	for _, m := range msgs {
		msg, h, err := s.threadInfo(m)
		if err != nil {
			return nil, err
		}
		// (1) The message's container: the dummy already made for its
		// Message-ID, or a new one. A missing, invalid or duplicate
		// Message-ID gets a unique one (a container of its own).
		var node *tnode
		if id := firstMsgID(h.f[hMessageID]); id != "" && (ids[id] == nil || ids[id].uid == 0) {
			node = container(id)
		} else {
			node = &tnode{}
			all = append(all, node)
		}
		node.uid, node.date, node.subj, node.reply = msg.uid, msg.date, msg.subj, msg.reply

		chain := msgIDs(h.f[hReferences])
		if len(chain) > maxReferences {
			// Each link walks up to the root to refuse loops: a
			// hostile References of many thousand ids must not make
			// the command quadratic. The nearest ones matter.
			chain = chain[len(chain)-maxReferences:]
		}
		if len(chain) == 0 {
			if irt := msgIDs(h.f[hInReplyTo]); len(irt) > 0 {
				chain = irt[:1]
			}
		}
		// (1A) Link the references in order, each the parent of the
		// next, unless the child has a parent or it makes a loop.
		var prev *tnode
		for _, id := range chain {
			r := container(id)
			if prev != nil && r.parent == nil && !isAncestor(r, prev) {
				link(prev, r)
			}
			prev = r
		}
		// (1B) The last reference is the message's parent, replacing
		// any parent a truncated References gave it; no references, no
		// parent.
		if prev == nil {
			unlink(node)
		} else if !isAncestor(node, prev) {
			unlink(node)
			link(prev, node)
		}
	}
	// (2) The root set, (4) without dummies.
	var roots []*tnode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	roots = pruneDummies(nil, roots)
	if !refs {
		// Dovecot gathers by subject in date order (a dummy dated by
		// its first child), so which two messages meet first, and so
		// whether a reply goes under a message or beside it under a
		// new dummy, follows the dates, not the order of arrival.
		sortThread(roots)
		roots = groupBySubject(roots)
	}
	// (6) Siblings by sent date; a dummy takes its first child's.
	sortThread(roots)
	if refs {
		latest := make(map[*tnode]time.Time, len(roots))
		for _, r := range roots {
			latest[r] = latestDate(r)
		}
		slices.SortStableFunc(roots, func(a, b *tnode) int {
			if r := latest[a].Compare(latest[b]); r != 0 {
				return r
			}
			return cmpNodeDate(a, b)
		})
	}
	return roots, nil
}

// isAncestor reports whether a is b or one of b's ancestors.
func isAncestor(a, b *tnode) bool {
	for n := b; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

func link(parent, child *tnode) {
	child.parent = parent
	parent.kids = append(parent.kids, child)
}

func unlink(n *tnode) {
	p := n.parent
	if p == nil {
		return
	}
	if i := slices.Index(p.kids, n); i >= 0 {
		p.kids = slices.Delete(p.kids, i, i+1)
	}
	n.parent = nil
}

// pruneDummies is step (4): a dummy without children goes; one with
// children is replaced by them, except at the root level where only a
// single child is promoted.
func pruneDummies(parent *tnode, list []*tnode) []*tnode {
	var out []*tnode
	for _, n := range list {
		n.kids = pruneDummies(n, n.kids)
		if n.uid == 0 {
			if len(n.kids) == 0 {
				continue
			}
			if parent != nil || len(n.kids) == 1 {
				for _, k := range n.kids {
					k.parent = parent
				}
				out = append(out, n.kids...)
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// threadSubject is a root's subject for step (5): a dummy's is its first
// child's.
func threadSubject(n *tnode) (string, bool) {
	if n.uid == 0 && len(n.kids) > 0 {
		return n.kids[0].subj, n.kids[0].reply
	}
	return n.subj, n.reply
}

// groupBySubject is step (5): roots with the same base subject are
// gathered under one.
func groupBySubject(roots []*tnode) []*tnode {
	table := make(map[string]*tnode)
	for _, r := range roots {
		subj, reply := threadSubject(r)
		if subj == "" {
			continue
		}
		old := table[subj]
		if old == nil {
			table[subj] = r
			continue
		}
		_, oldReply := threadSubject(old)
		if (old.uid != 0 && r.uid == 0) || (oldReply && !reply) {
			table[subj] = r
		}
	}
	removed := make(map[*tnode]bool)
	replaced := make(map[*tnode]*tnode)
	for _, r := range roots {
		subj, reply := threadSubject(r)
		if subj == "" || r.parent != nil {
			// r.parent: a table entry already put under a new dummy.
			continue
		}
		t := table[subj]
		if t == nil || t == r {
			continue
		}
		_, tReply := threadSubject(t)
		switch {
		case t.uid == 0 && r.uid == 0:
			for _, k := range r.kids {
				link(t, k)
			}
			r.kids = nil
		case t.uid == 0:
			link(t, r)
		case reply && !tReply:
			link(t, r)
		default:
			// t stays in the root list's place, now as the dummy.
			d := &tnode{}
			replaced[t] = d
			link(d, t)
			link(d, r)
			table[subj] = d
		}
		removed[r] = true
	}
	out := roots[:0:0]
	for _, r := range roots {
		if removed[r] {
			continue
		}
		if d, ok := replaced[r]; ok {
			out = append(out, d)
			continue
		}
		out = append(out, r)
	}
	return out
}

// sortThread is step (6): every sibling list by sent date, a dummy
// dated by its first child after its children are sorted.
func sortThread(list []*tnode) {
	for _, n := range list {
		if len(n.kids) > 0 {
			sortThread(n.kids)
			if n.uid == 0 {
				n.date = n.kids[0].date
			}
		}
	}
	slices.SortStableFunc(list, cmpNodeDate)
}

func latestDate(n *tnode) time.Time {
	t := n.date
	for _, k := range n.kids {
		if kt := latestDate(k); kt.After(t) {
			t = kt
		}
	}
	return t
}

// msgIDs returns the msg-ids of a References or In-Reply-To value
// (RFC 5322 §3.6.4), each without its angle brackets and with white
// space removed; text outside brackets (phrases, comments) is skipped.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return out
		}
		v = v[i+1:]
		j := strings.IndexAny(v, "<>")
		if j < 0 {
			return out
		}
		if v[j] == '<' {
			// "<" inside an id: start again from there.
			v = v[j:]
			continue
		}
		id := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, v[:j])
		if id != "" {
			out = append(out, id)
		}
		v = v[j+1:]
	}
}

func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}
