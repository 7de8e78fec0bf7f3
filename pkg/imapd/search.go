package imapd

import (
	"context"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/message/charset"
	"github.com/cote-mail/cote/pkg/storage"
)

// searchKey is a search program node with its sets resolved against the
// session's view and its strings prepared for matching.
type searchKey struct {
	op   string
	str  string // header name
	str2 string // needle, in i;unicode-casemap form (foldString)
	num  int64
	date time.Time // midnight, server time zone
	flag storage.Flags
	uids map[uint32]bool
	kids []*searchKey
	mod  uint64 // MODSEQ
}

// compile turns pkg/imap's parsed program into a searchKey tree.
func (s *Session) compile(k imap.SearchKey) (*searchKey, error) {
	out := &searchKey{}
	switch k.Op {
	case imap.SearchAll:
		out.op = "ALL"
	case imap.SearchAnd, imap.SearchOr, imap.SearchNot:
		out.op = map[imap.SearchOp]string{imap.SearchAnd: "AND", imap.SearchOr: "OR", imap.SearchNot: "NOT"}[k.Op]
		for _, sub := range k.Sub {
			kid, err := s.compile(sub)
			if err != nil {
				return nil, err
			}
			out.kids = append(out.kids, kid)
		}
	case imap.SearchSeq, imap.SearchUID:
		uids, err := s.resolveParsed(k.Set, k.Op == imap.SearchUID)
		if err != nil {
			return nil, err
		}
		out.op, out.uids = "SET", toSet(uids)
	case imap.SearchFlag, imap.SearchNoFlag:
		if f, ok := storage.ParseFlag(k.Flag); ok {
			out.op, out.flag = "FLAG", f
		} else {
			out.op, out.str = "KEYWORD", k.Flag
		}
		if k.Op == imap.SearchNoFlag {
			out = &searchKey{op: "NOT", kids: []*searchKey{out}}
		}
	case imap.SearchRecent:
		out.op = "RECENT"
	case imap.SearchHeader:
		out.op, out.str, out.str2 = "HEADER", k.Field, foldString(k.Value)
	case imap.SearchBody:
		out.op, out.str2 = "BODY", foldString(k.Value)
	case imap.SearchText:
		out.op, out.str2 = "TEXT", foldString(k.Value)
	case imap.SearchBefore, imap.SearchOn, imap.SearchSince, imap.SearchSentBefore, imap.SearchSentOn, imap.SearchSentSince:
		out.op = k.Op.String()
		y, m, d := k.Date.Date()
		out.date = time.Date(y, m, d, 0, 0, 0, 0, time.Local)
	case imap.SearchLarger, imap.SearchSmaller:
		out.op, out.num = k.Op.String(), k.Size
	case imap.SearchModSeq:
		s.enableCondStore()
		out.op, out.mod = "MODSEQ", k.ModSeq
	case imap.SearchOlder, imap.SearchYounger:
		// RFC 5032: relative to the time the command runs.
		out.op, out.date = k.Op.String(), time.Now().Add(-time.Duration(k.Size)*time.Second)
	case imap.SearchSavedBefore, imap.SearchSavedOn, imap.SearchSavedSince:
		out.op = k.Op.String()
		y, m, d := k.Date.Date()
		out.date = time.Date(y, m, d, 0, 0, 0, 0, time.Local)
	case imap.SearchSaveDateSupported:
		// Every message has a save date in this store (RFC 8514 §4).
		out.op = "ALL"
	default:
		return nil, bad("Unsupported search key %s.", k.Op)
	}
	return out, nil
}

func toSet(uids []uint32) map[uint32]bool {
	m := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		m[u] = true
	}
	return m
}

// searchMsg loads what the keys need, once per message.
type searchMsg struct {
	s   *Session
	m   storage.Message
	msg *message.Message
	// release frees msg's bytes (storage.LoadMessage); matches calls it.
	release func()
	err     error
	hdr     []message.Field
	hc      searchHeaderCache // searchcache.go
}

func (sm *searchMsg) load() *message.Message {
	if sm.msg == nil && sm.err == nil {
		sm.msg, sm.release, sm.err = sm.s.loadMessage(sm.m.UID)
	}
	return sm.msg
}

// matches evaluates k for the message, then releases the message's bytes
// (a large message is mapped: storage.ReadBody); what was derived from them
// (header fields, decoded text) are copies.
func (sm *searchMsg) matches(k *searchKey) bool {
	ok := sm.match(k)
	if sm.release != nil {
		sm.release()
		sm.release, sm.msg = nil, nil
	}
	return ok
}

func (sm *searchMsg) header() []message.Field {
	if sm.hdr == nil {
		m := sm.msg
		if m == nil && sm.err == nil {
			// Header keys read the header only: loading every message
			// whole (and caching its MIME tree) made SEARCH SUBJECT over
			// a large mailbox read and hold far more than it needs.
			if b, err := sm.s.mbox.Open(sm.m.UID); err == nil {
				raw, err := readHeader(b)
				b.Close()
				if err == nil && len(raw) < maxHeaderRead {
					m = message.Parse(raw)
				}
			}
		}
		if m == nil {
			m = sm.load()
		}
		if m != nil {
			sm.hdr = m.PartHeader(m.Root)
			if sm.hdr == nil {
				sm.hdr = []message.Field{}
			}
		}
	}
	return sm.hdr
}

// headerContains matches a header field by name ("" any) whose value,
// unfolded and with its encoded-words decoded to UTF-8, contains needle
// (case-folded).
func (sm *searchMsg) headerContains(name, needle string) bool {
	for _, f := range sm.fieldsFor(name) {
		if name != "" && !strings.EqualFold(f.Name, name) {
			continue
		}
		if strings.Contains(foldString(decodeHeaderValue(f.Value)), needle) {
			return true
		}
	}
	return false
}

// bodyContains searches the text of every leaf part, with its transfer
// encoding undone and its charset converted to UTF-8 (decodedLeaf).
func (sm *searchMsg) bodyContains(needle string) bool {
	m := sm.load()
	if m == nil {
		return false
	}
	var walk func(p *message.Part) bool
	walk = func(p *message.Part) bool {
		if len(p.Children) > 0 && (p.IsMultipart() || p.IsMessage()) {
			for _, c := range p.Children {
				if walk(c) {
					return true
				}
			}
			return false
		}
		return sm.s.leafContains(m, p, needle)
	}
	return walk(m.Root)
}

// leafContains reports whether the decoded text of leaf p contains needle
// (case-folded). Decoding a large part holds a few times its size in
// memory (decoded, converted, folded), so that is reserved from the
// process's budget first (sessions share the process's vsz_limit); a part
// too large for the whole budget is searched undecoded, as stored.
func (s *Session) leafContains(m *message.Message, p *message.Part, needle string) bool {
	release, err := s.budget().Acquire(context.Background(), 3*p.Body.Physical)
	if err != nil {
		o := p.BodyOffset()
		return rawContains(m.Raw[o:o+p.Body.Physical], needle)
	}
	defer release()
	return strings.Contains(foldString(decodedLeaf(m, p)), needle)
}

// rawContains searches raw as stored, a window at a time (each window
// overlaps the next by the needle's length, so no match is missed).
func rawContains(raw []byte, needle string) bool {
	const window = 1 << 20
	over := len(needle) + utf8.UTFMax
	for off := 0; off < len(raw); off += window {
		end := min(off+window+over, len(raw))
		if strings.Contains(foldString(string(raw[off:end])), needle) {
			return true
		}
	}
	return false
}

func dayOf(t time.Time) time.Time {
	y, mo, d := t.In(time.Local).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.Local)
}

func (sm *searchMsg) sentDate() (time.Time, bool) {
	for _, f := range sm.fieldsFor("Date") {
		if strings.EqualFold(f.Name, "Date") {
			t, err := mail.ParseDate(strings.TrimSpace(string(f.Value)))
			if err != nil {
				return time.Time{}, false
			}
			// RFC 9051 §6.4.4: the date in its own time zone.
			y, mo, d := t.Date()
			return time.Date(y, mo, d, 0, 0, 0, 0, time.Local), true
		}
	}
	return time.Time{}, false
}

func (sm *searchMsg) match(k *searchKey) bool {
	m := sm.m
	switch k.op {
	case "ALL":
		return true
	case "AND":
		for _, kid := range k.kids {
			if !sm.match(kid) {
				return false
			}
		}
		return true
	case "NOT":
		return !sm.match(k.kids[0])
	case "OR":
		return sm.match(k.kids[0]) || sm.match(k.kids[1])
	case "SET":
		return k.uids[m.UID]
	case "FLAG":
		return m.Flags&k.flag != 0
	case "RECENT":
		return sm.s.mbox.Recent(m.UID)
	case "KEYWORD":
		for _, kw := range m.Keywords {
			if strings.EqualFold(kw, k.str) {
				return true
			}
		}
		return false
	case "LARGER":
		return m.Size > k.num
	case "SMALLER":
		return m.Size < k.num
	case "MODSEQ":
		return m.ModSeq >= k.mod
	case "OLDER":
		return !m.InternalDate.After(k.date)
	case "YOUNGER":
		return !m.InternalDate.Before(k.date)
	case "SAVEDBEFORE":
		return dayOf(saveDate(m)).Before(k.date)
	case "SAVEDON":
		return dayOf(saveDate(m)).Equal(k.date)
	case "SAVEDSINCE":
		return !dayOf(saveDate(m)).Before(k.date)
	case "BEFORE":
		return dayOf(m.InternalDate).Before(k.date)
	case "ON":
		return dayOf(m.InternalDate).Equal(k.date)
	case "SINCE":
		return !dayOf(m.InternalDate).Before(k.date)
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		d, ok := sm.sentDate()
		if !ok {
			return false
		}
		switch k.op {
		case "SENTBEFORE":
			return d.Before(k.date)
		case "SENTON":
			return d.Equal(k.date)
		}
		return !d.Before(k.date)
	case "HEADER":
		if k.str2 == "" {
			for _, f := range sm.fieldsFor(k.str) {
				if strings.EqualFold(f.Name, k.str) {
					return true
				}
			}
			return false
		}
		return sm.headerContains(k.str, k.str2)
	case "BODY":
		return sm.bodyContains(k.str2)
	case "TEXT":
		return sm.headerContains("", k.str2) || sm.bodyContains(k.str2)
	}
	return false
}

// cmdSearch: SEARCH and UID SEARCH, RFC 9051 §6.4.4, with ESEARCH return
// options (RFC 4731), SAVE (RFC 5182) and CONTEXT=SEARCH's PARTIAL,
// UPDATE and CONTEXT (RFC 5267 §4, context5267.go).
func cmdSearch(s *Session, c *cmdCtx) error {
	parsed, err := imap.ParseSearch(c.args, !s.rev2, charset.Decode)
	if err != nil {
		return err
	}
	if parsed.Charset != "" && s.utf8Accept() {
		// RFC 6855 §3: after ENABLE UTF8=ACCEPT a charset label
		// conflicts with the UTF-8 the strings are in.
		return bad("SEARCH CHARSET is not allowed after ENABLE UTF8=ACCEPT.")
	}
	prog, err := s.compile(parsed.Key)
	if err != nil {
		return err
	}
	ret := parsed.Return
	if ret == nil && s.rev2 {
		// RFC 9051 §6.4.4: IMAP4rev2 answers SEARCH with ESEARCH.
		ret = &imap.SearchReturn{All: true}
	}
	upd, err := s.prepareUpdate(c, ret)
	if err != nil {
		return err
	}
	var hits []uint32 // UIDs, ascending
	var mods []uint64 // their modseqs, when the program has MODSEQ
	withMod := parsed.Key.HasModSeq()
	fill := s.newHeaderFill(prog)
	err = s.mbox.Messages(nil, func(m storage.Message) error {
		if err := c.ctx.Err(); err != nil {
			return &ioError{errShutdown}
		}
		sm := &searchMsg{s: s, m: m, hc: searchHeaderCache{fill: fill}}
		if sm.matches(prog) {
			hits = append(hits, m.UID)
			if withMod {
				mods = append(mods, m.ModSeq)
			}
		}
		return nil
	})
	fill.flush()
	if err != nil {
		return err
	}
	nums := hits
	if !c.uid {
		nums = make([]uint32, len(hits))
		for i, u := range hits {
			nums[i] = s.mbox.Seq(u)
		}
	}
	if upd != nil {
		// After the ESEARCH response, where a NOUPDATE refusal goes
		// (RFC 5267 §4.3.1).
		defer s.addSearchContext(c, upd, prog, hits)
	}
	if ret != nil && ret.Save {
		// RFC 5182 §2.4: with MIN or MAX (and not ALL or COUNT) only
		// those are saved.
		switch {
		case len(hits) == 0 || ret.All || ret.Count || (!ret.Min && !ret.Max):
			s.searchRes = hits
		case ret.Min && ret.Max && len(hits) > 1:
			s.searchRes = []uint32{hits[0], hits[len(hits)-1]}
		case ret.Min:
			s.searchRes = hits[:1]
		default:
			s.searchRes = hits[len(hits)-1:]
		}
	}
	if ret == nil {
		s.w.WriteString("* SEARCH")
		for _, n := range nums {
			s.w.WriteString(" " + itoa(n))
		}
		if withMod && len(nums) > 0 {
			// RFC 7162 §3.1.5: the highest modseq of the matches.
			s.w.WriteString(" (MODSEQ " + itoa64(int64(slices.Max(mods))) + ")")
		}
		s.w.CRLF()
		return nil
	}
	if saveOnly(ret) {
		// RFC 5182 §2.4: SAVE alone produces no ESEARCH response.
		return nil
	}
	s.w.WriteString(`* ESEARCH (TAG `)
	s.w.String(c.tag)
	s.w.WriteString(")")
	if c.uid {
		s.w.WriteString(" UID")
	}
	if ret.Min && len(nums) > 0 {
		s.w.WriteString(" MIN " + itoa(nums[0]))
	}
	if ret.Max && len(nums) > 0 {
		s.w.WriteString(" MAX " + itoa(nums[len(nums)-1]))
	}
	if ret.All && len(nums) > 0 {
		s.w.WriteString(" ALL " + formatSet(nums))
	}
	if ret.Partial != nil {
		// RFC 5267 §4.4: the window of the result in mailbox order; NIL
		// when it lies beyond the end.
		s.w.WriteString(" PARTIAL (" + ret.Partial.String() + " ")
		if w := partialWindow(nums, *ret.Partial); len(w) > 0 {
			s.w.WriteString(formatSet(w) + ")")
		} else {
			s.w.WriteString("NIL)")
		}
	}
	if ret.Count {
		s.w.WriteString(" COUNT " + strconv.Itoa(len(nums)))
	}
	if withMod && len(nums) > 0 {
		// RFC 7162 §3.1.10 (ESEARCH): the highest modseq of the
		// messages returned: MIN and MAX alone return only those.
		var hi uint64
		if ret.All || ret.Count {
			hi = slices.Max(mods)
		} else {
			if ret.Min {
				hi = mods[0]
			}
			if ret.Max {
				hi = max(hi, mods[len(mods)-1])
			}
			if p := ret.Partial; p != nil && int(p.Lo) <= len(mods) {
				hi = max(hi, slices.Max(mods[p.Lo-1:min(int(p.Hi), len(mods))]))
			}
		}
		if hi > 0 {
			// UPDATE alone returns no message, so no MODSEQ.
			s.w.WriteString(" MODSEQ " + strconv.FormatUint(hi, 10))
		}
	}
	s.w.CRLF()
	return nil
}

// foldString maps s to its i;unicode-casemap canonical form (RFC 5051
// §2), the comparator Dovecot uses for SEARCH text keys; RFC 9051 §6.4.4
// makes the match case-insensitive and SEARCH is a substring test over
// the canonical forms of needle and haystack. Each character is mapped
// to its simple titlecase (UnicodeData.txt, so no SpecialCasing: "ß"
// stays "ß" and does not meet "SS", and Turkish "ı" and "i" both become
// "I" while "İ" decomposes to "I" U+0307), then fully decomposed with
// compatibility mappings (NFKD: "ﬁ" becomes "fi", the Kelvin sign
// becomes "K", NFC and NFD spellings of "é" meet).
//
// The titlecase step is repeated on the decomposition until nothing
// changes. RFC 5051 applies it once, before decomposing, which leaves
// the lower-case "fi" of "ﬁ" unmatchable by any needle, since a typed
// "fi" maps to "FI"; the repeat makes the mapping idempotent, so
// foldString(foldString(x)) == foldString(x) and every character
// decomposition the RFC intends to match does match. Invalid UTF-8
// becomes U+FFFD, as Dovecot's decoder makes it.
func foldString(s string) string {
	if isASCII(s) {
		// Titlecase and uppercase agree on ASCII and NFKD leaves it
		// alone; strings.ToUpper returns s unchanged when it already
		// is upper case, so the common case does not allocate.
		return strings.ToUpper(s)
	}
	t := titleString(s)
	// A bound on the repeats keeps a pathological table from looping;
	// every code point reaches its fixed point well within it
	// (TestFoldIdempotent).
	for range 4 {
		d := norm.NFKD.String(t)
		n := titleString(d)
		if n == d {
			return n
		}
		t = n
	}
	return t
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// titleString maps every rune of s to its simple titlecase
// (unicode.ToTitle reads UnicodeData.txt's one-to-one mappings), and
// invalid UTF-8 to U+FFFD. It returns s itself when nothing changes.
func titleString(s string) string {
	changed := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				changed = true
				break
			}
		}
		if unicode.ToTitle(r) != r {
			changed = true
			break
		}
	}
	if !changed {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(unicode.ToTitle(r))
	}
	return b.String()
}

// wordDecoder decodes RFC 2047 encoded-words in every charset
// pkg/message/charset knows, not just the UTF-8 and ISO-8859-1 the standard
// library handles alone.
var wordDecoder = mime.WordDecoder{
	CharsetReader: func(name string, in io.Reader) (io.Reader, error) {
		raw, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		s, err := charset.Decode(name, string(raw))
		if err != nil {
			return nil, err
		}
		return strings.NewReader(s), nil
	},
}

// decodeHeaderValue unfolds a raw header value and decodes its
// encoded-words. A value whose encoded-words cannot be decoded (unknown
// charset, broken encoding) is searched as written.
func decodeHeaderValue(v string) string {
	v = unfold(v) // builds no replacer for the usual one-line value
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// decodedLeaf is the text of leaf part p as SEARCH BODY sees it
// (message.DecodedText with the charset tables): a charset nobody knows
// leaves the bytes as they are, so they still match an ASCII needle.
func decodedLeaf(m *message.Message, p *message.Part) string {
	t, _ := message.DecodedText(m, p, charset.Decode)
	return t
}
