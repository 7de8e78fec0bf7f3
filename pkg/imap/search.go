package imap

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SearchOp is the kind of a search key (RFC 9051 §6.4.4).
type SearchOp uint8

// Search key kinds. The RFC's keys map onto these: ANSWERED is SearchFlag
// \Answered, UNANSWERED SearchNoFlag \Answered, KEYWORD k SearchFlag k,
// FROM x SearchHeader "From" x, NEW is (RECENT UNSEEN), OLD is NOT RECENT.
const (
	SearchAll        SearchOp = iota + 1
	SearchAnd                 // every key of Sub matches (a parenthesised group, or the whole program)
	SearchOr                  // Sub[0] or Sub[1]
	SearchNot                 // Sub[0] does not match
	SearchSeq                 // the sequence number is in Set
	SearchUID                 // the UID is in Set
	SearchFlag                // Flag is set
	SearchNoFlag              // Flag is not set
	SearchRecent              // \Recent (IMAP4rev1 RECENT, NEW, OLD)
	SearchHeader              // header field Field contains Value; Value "" matches a message that has the field
	SearchBody                // the body contains Value
	SearchText                // the header or body contains Value
	SearchBefore              // internal date is before the day Date
	SearchOn                  // internal date is on the day Date
	SearchSince               // internal date is on or after the day Date
	SearchSentBefore          // Date: header is before the day Date
	SearchSentOn              // Date: header is on the day Date
	SearchSentSince           // Date: header is on or after the day Date
	SearchLarger              // RFC822.SIZE > Size
	SearchSmaller             // RFC822.SIZE < Size
	// SearchModSeq: the message's modseq is >= ModSeq (RFC 7162 §3.1.5);
	// Entry keeps the optional entry name and type as written.
	SearchModSeq
	SearchOlder             // internal date is at least Size seconds ago (RFC 5032)
	SearchYounger           // internal date is at most Size seconds ago (RFC 5032)
	SearchSavedBefore       // save date is before the day Date (RFC 8514)
	SearchSavedOn           // save date is on the day Date
	SearchSavedSince        // save date is on or after the day Date
	SearchSaveDateSupported // the mailbox keeps save dates (RFC 8514 SAVEDATESUPPORTED)
)

var searchOpNames = [...]string{
	SearchAll: "ALL", SearchAnd: "AND", SearchOr: "OR", SearchNot: "NOT",
	SearchSeq: "SEQ", SearchUID: "UID", SearchFlag: "FLAG", SearchNoFlag: "NOFLAG",
	SearchRecent: "RECENT", SearchHeader: "HEADER", SearchBody: "BODY", SearchText: "TEXT",
	SearchBefore: "BEFORE", SearchOn: "ON", SearchSince: "SINCE",
	SearchSentBefore: "SENTBEFORE", SearchSentOn: "SENTON", SearchSentSince: "SENTSINCE",
	SearchLarger: "LARGER", SearchSmaller: "SMALLER", SearchModSeq: "MODSEQ",
	SearchOlder: "OLDER", SearchYounger: "YOUNGER", SearchSavedBefore: "SAVEDBEFORE",
	SearchSavedOn: "SAVEDON", SearchSavedSince: "SAVEDSINCE", SearchSaveDateSupported: "SAVEDATESUPPORTED",
}

func (op SearchOp) String() string {
	if int(op) < len(searchOpNames) && searchOpNames[op] != "" {
		return searchOpNames[op]
	}
	return "SearchOp(" + strconv.Itoa(int(op)) + ")"
}

// SearchKey is one node of a parsed search program.
type SearchKey struct {
	Op    SearchOp
	Sub   []SearchKey // SearchAnd, SearchOr (two), SearchNot (one)
	Set   SeqSet      // SearchSeq, SearchUID; may be "$" (SearchRes)
	Flag  string      // SearchFlag, SearchNoFlag: canonical system flag or keyword
	Field string      // SearchHeader: the field name ("From" for FROM, as written for HEADER)
	Value string      // SearchHeader, SearchBody, SearchText: UTF-8
	Date  time.Time   // date keys: midnight UTC of the day the client named
	Size  int64       // SearchLarger, SearchSmaller; seconds for SearchOlder, SearchYounger
	// ModSeq and Entry: SearchModSeq. Entry is `"/flags/\Seen" all` or
	// "" (the store keeps one modseq per message, which RFC 7162 §3.1.5
	// lets a server use for every entry).
	ModSeq uint64
	Entry  string
}

// SearchReturn holds the ESEARCH return options (RFC 4731, RFC 5182,
// RFC 5267 §4). "RETURN ()" means ALL (RFC 4731 §3.1), and so does a
// list of only CONTEXT, the hint that asks for no result (as Dovecot
// reads it).
type SearchReturn struct {
	Min, Max, All, Count, Save bool
	// Context is RFC 5267 §4.2's hint; it changes no result.
	Context bool
	// Update asks for ADDTO and REMOVEFROM as the result changes (RFC
	// 5267 §4.3). UpdateFetch is RFC 5465 §7's fetch-att list after
	// UPDATE (the argument as given, a List), nil without one.
	Update      bool
	UpdateFetch *Arg
	// Partial is RFC 5267 §4.4's range, nil without PARTIAL.
	Partial *PartialRange
}

// PartialRange is a PARTIAL range of result positions, counted from 1;
// Lo <= Hi ("500:400" is read as 400:500, RFC 5267 §5).
type PartialRange struct {
	Lo, Hi uint32
}

// String is the range as the PARTIAL return data item echoes it.
func (r PartialRange) String() string {
	return strconv.FormatUint(uint64(r.Lo), 10) + ":" + strconv.FormatUint(uint64(r.Hi), 10)
}

// ParsePartialRange parses partial-range = nz-number ":" nz-number (RFC
// 5267 §5): no "*", no zero, no single number.
func ParsePartialRange(s string) (PartialRange, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return PartialRange{}, false
	}
	lo, ok1 := parseNZ(a)
	hi, ok2 := parseNZ(b)
	if !ok1 || !ok2 {
		return PartialRange{}, false
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return PartialRange{Lo: lo, Hi: hi}, true
}

// parseNZ parses an nz-number (RFC 9051 §9): digits, no leading zero,
// within 32 bits.
func parseNZ(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// ParseCancelUpdate parses the arguments of CANCELUPDATE (RFC 5267
// §4.3.5): one or more quoted tags.
func ParseCancelUpdate(args []Arg) ([]string, error) {
	if len(args) == 0 {
		return nil, badArg("Invalid parameters")
	}
	tags := make([]string, 0, len(args))
	for _, a := range args {
		if a.Kind != String || a.Literal {
			return nil, badArg("Invalid parameters")
		}
		tags = append(tags, a.Value)
	}
	return tags, nil
}

// Search is a parsed SEARCH command (the arguments after "SEARCH").
type Search struct {
	// Return is nil for a plain SEARCH without RETURN: an IMAP4rev1
	// session answers "* SEARCH", a rev2 one ESEARCH with ALL.
	Return *SearchReturn
	// Charset is the CHARSET argument upper-cased, "" if absent. Values
	// are already converted to UTF-8.
	Charset string
	// Key is a SearchAnd of the program's top-level keys.
	Key SearchKey
}

// CharsetDecoder converts s from the named charset to UTF-8; an unknown
// charset is an error. The engine passes pkg/message/charset.Decode, which
// links the legacy charset tables; a nil decoder knows only UTF-8 and
// US-ASCII. Kept outside this package so imap-login does not carry them.
type CharsetDecoder func(charset, s string) (string, error)

// MaxSearchDepth caps the nesting of NOT, OR and groups: the parser and
// the engine's matcher recurse once per level.
const MaxSearchDepth = 256

// ErrBadCharset is the NO of RFC 9051 §6.4.4 for an unknown CHARSET.
var ErrBadCharset = &ArgError{Status: "NO", Code: "BADCHARSET (UTF-8 US-ASCII)", Msg: "Unsupported charset"}

// ParseSearch parses the arguments of SEARCH or UID SEARCH. rev1 allows
// IMAP4rev1's NEW, OLD and RECENT keys (RFC 9051 removed them). Errors
// are *ArgError: BAD for syntax, ErrBadCharset for a charset neither
// UTF-8, US-ASCII nor known to dec.
func ParseSearch(args []Arg, rev1 bool, dec CharsetDecoder) (*Search, error) {
	s := &Search{}
	if len(args) >= 2 && args[0].Kind == Atom && strings.EqualFold(args[0].Value, "RETURN") {
		if args[1].Kind != List {
			return nil, badArg("RETURN needs a list of options")
		}
		ret, err := parseSearchReturn(args[1].List)
		if err != nil {
			return nil, err
		}
		s.Return = ret
		args = args[2:]
	}
	if len(args) >= 2 && args[0].Kind == Atom && strings.EqualFold(args[0].Value, "CHARSET") {
		cs, ok := args[1].AString()
		if !ok {
			return nil, badArg("Invalid charset")
		}
		s.Charset = strings.ToUpper(cs)
		args = args[2:]
	}
	conv := func(v string) (string, error) { return v, nil }
	switch s.Charset {
	case "", "UTF-8", "UTF8":
		conv = func(v string) (string, error) {
			if !utf8.ValidString(v) {
				return "", &ArgError{Status: "NO", Code: ErrBadCharset.Code, Msg: "Search string is not valid UTF-8"}
			}
			return v, nil
		}
	case "US-ASCII", "ASCII":
		// 8-bit bytes in US-ASCII are invalid; Dovecot lets them
		// through as UTF-8 and so does this.
	default:
		if dec == nil {
			return nil, ErrBadCharset
		}
		cs := s.Charset
		if _, err := dec(cs, ""); err != nil {
			return nil, ErrBadCharset
		}
		conv = func(v string) (string, error) {
			out, err := dec(cs, v)
			if err != nil {
				return "", &ArgError{Status: "NO", Code: ErrBadCharset.Code, Msg: "Search string is not valid in its charset"}
			}
			return out, nil
		}
	}
	if len(args) == 0 {
		return nil, badArg("Missing search keys")
	}
	p := &searchParser{args: args, rev1: rev1, conv: conv}
	s.Key = SearchKey{Op: SearchAnd}
	for p.pos < len(p.args) {
		k, err := p.key(0)
		if err != nil {
			return nil, err
		}
		s.Key.Sub = append(s.Key.Sub, k)
	}
	return s, nil
}

func parseSearchReturn(opts []Arg) (*SearchReturn, error) {
	r := &SearchReturn{}
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		if o.Kind != Atom {
			return nil, badArg("Invalid RETURN option")
		}
		switch strings.ToUpper(o.Value) {
		case "MIN":
			r.Min = true
		case "MAX":
			r.Max = true
		case "ALL":
			r.All = true
		case "COUNT":
			r.Count = true
		case "SAVE":
			r.Save = true
		case "CONTEXT":
			r.Context = true
		case "UPDATE":
			if r.Update {
				return nil, badArg("SEARCH return options have duplicate UPDATE")
			}
			r.Update = true
			if i+1 < len(opts) && opts[i+1].Kind == List {
				// RFC 5465 §7: UPDATE (fetch-att ...).
				i++
				if len(opts[i].List) == 0 {
					return nil, badArg("UPDATE needs fetch attributes in its list")
				}
				fa := opts[i]
				r.UpdateFetch = &fa
			}
		case "PARTIAL":
			if r.Partial != nil {
				return nil, badArg("PARTIAL can be used only once")
			}
			if i+1 >= len(opts) || opts[i+1].Kind != Atom {
				return nil, badArg("PARTIAL range missing")
			}
			i++
			pr, ok := ParsePartialRange(opts[i].Value)
			if !ok {
				return nil, badArg("PARTIAL range broken")
			}
			r.Partial = &pr
		default:
			return nil, badArg("Unknown RETURN option " + truncate(o.Value, 20))
		}
	}
	if r.Partial != nil && r.All {
		// RFC 5267 §4.4: one PARTIAL or one ALL, not both.
		return nil, badArg("PARTIAL conflicts with ALL")
	}
	if !r.Min && !r.Max && !r.All && !r.Count && !r.Save && !r.Update && r.Partial == nil {
		r.All = true
	}
	return r, nil
}

type searchParser struct {
	args []Arg
	pos  int
	rev1 bool
	conv func(string) (string, error)
}

func (p *searchParser) next(what string) (Arg, error) {
	if p.pos >= len(p.args) {
		return Arg{}, badArg("Missing argument for " + what)
	}
	a := p.args[p.pos]
	p.pos++
	return a, nil
}

func (p *searchParser) str(what string) (string, error) {
	a, err := p.next(what)
	if err != nil {
		return "", err
	}
	v, ok := a.AString()
	if !ok {
		return "", badArg("Invalid string for " + what)
	}
	return p.conv(v)
}

func (p *searchParser) date(what string) (time.Time, error) {
	a, err := p.next(what)
	if err != nil {
		return time.Time{}, err
	}
	if a.Kind != Atom && a.Kind != String {
		return time.Time{}, badArg("Invalid date for " + what)
	}
	return ParseDate(a.Value)
}

func (p *searchParser) size(what string) (int64, error) {
	a, err := p.next(what)
	if err != nil {
		return 0, err
	}
	if a.Kind != Atom {
		return 0, badArg("Invalid number for " + what)
	}
	// number64 (RFC 9051 §9): 0 to 2^63-1.
	n, ok := parseNumber64(a.Value)
	if !ok {
		return 0, badArg("Invalid number for " + what)
	}
	return n, nil
}

func parseNumber64(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

var headerKeys = map[string]string{"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To"}

var flagKeys = map[string]struct {
	flag string
	not  bool
}{
	"ANSWERED": {`\Answered`, false}, "UNANSWERED": {`\Answered`, true},
	"DELETED": {`\Deleted`, false}, "UNDELETED": {`\Deleted`, true},
	"DRAFT": {`\Draft`, false}, "UNDRAFT": {`\Draft`, true},
	"FLAGGED": {`\Flagged`, false}, "UNFLAGGED": {`\Flagged`, true},
	"SEEN": {`\Seen`, false}, "UNSEEN": {`\Seen`, true},
}

var dateKeys = map[string]SearchOp{
	"BEFORE": SearchBefore, "ON": SearchOn, "SINCE": SearchSince,
	"SENTBEFORE": SearchSentBefore, "SENTON": SearchSentOn, "SENTSINCE": SearchSentSince,
	"SAVEDBEFORE": SearchSavedBefore, "SAVEDON": SearchSavedOn, "SAVEDSINCE": SearchSavedSince,
}

func (p *searchParser) key(depth int) (SearchKey, error) {
	if depth > MaxSearchDepth {
		return SearchKey{}, badArg("Search keys nested too deeply")
	}
	a, err := p.next("search")
	if err != nil {
		return SearchKey{}, err
	}
	if a.Kind == List {
		if len(a.List) == 0 {
			return SearchKey{}, badArg("Empty search key list")
		}
		sub := &searchParser{args: a.List, rev1: p.rev1, conv: p.conv}
		k := SearchKey{Op: SearchAnd}
		for sub.pos < len(sub.args) {
			sk, err := sub.key(depth + 1)
			if err != nil {
				return SearchKey{}, err
			}
			k.Sub = append(k.Sub, sk)
		}
		return k, nil
	}
	if a.Kind != Atom {
		return SearchKey{}, badArg("Invalid search key")
	}
	if IsSeqSet(a.Value) {
		set, err := ParseSeqSet(a.Value)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchSeq, Set: set}, nil
	}
	name := strings.ToUpper(a.Value)
	if f, ok := flagKeys[name]; ok {
		op := SearchFlag
		if f.not {
			op = SearchNoFlag
		}
		return SearchKey{Op: op, Flag: f.flag}, nil
	}
	if field, ok := headerKeys[name]; ok {
		v, err := p.str(name)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchHeader, Field: field, Value: v}, nil
	}
	if op, ok := dateKeys[name]; ok {
		d, err := p.date(name)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: op, Date: d}, nil
	}
	switch name {
	case "ALL":
		return SearchKey{Op: SearchAll}, nil
	case "BODY", "TEXT":
		v, err := p.str(name)
		if err != nil {
			return SearchKey{}, err
		}
		op := SearchBody
		if name == "TEXT" {
			op = SearchText
		}
		return SearchKey{Op: op, Value: v}, nil
	case "HEADER":
		fa, err := p.next(name)
		if err != nil {
			return SearchKey{}, err
		}
		field, ok := fa.AString()
		if !ok || field == "" || !validFieldName(field) {
			return SearchKey{}, badArg("Invalid header field name")
		}
		v, err := p.str(name)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchHeader, Field: field, Value: v}, nil
	case "KEYWORD", "UNKEYWORD":
		ka, err := p.next(name)
		if err != nil {
			return SearchKey{}, err
		}
		if ka.Kind != Atom {
			return SearchKey{}, badArg("Invalid keyword")
		}
		f, err := searchFlag(ka.Value)
		if err != nil {
			return SearchKey{}, err
		}
		op := SearchFlag
		if name == "UNKEYWORD" {
			op = SearchNoFlag
		}
		return SearchKey{Op: op, Flag: f}, nil
	case "LARGER", "SMALLER":
		n, err := p.size(name)
		if err != nil {
			return SearchKey{}, err
		}
		op := SearchLarger
		if name == "SMALLER" {
			op = SearchSmaller
		}
		return SearchKey{Op: op, Size: n}, nil
	case "NOT":
		k, err := p.key(depth + 1)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchNot, Sub: []SearchKey{k}}, nil
	case "OR":
		k1, err := p.key(depth + 1)
		if err != nil {
			return SearchKey{}, err
		}
		k2, err := p.key(depth + 1)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchOr, Sub: []SearchKey{k1, k2}}, nil
	case "UID":
		sa, err := p.next(name)
		if err != nil {
			return SearchKey{}, err
		}
		if sa.Kind != Atom {
			return SearchKey{}, badArg("Invalid UID set")
		}
		set, err := ParseSeqSet(sa.Value)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchUID, Set: set}, nil
	case "MODSEQ":
		return p.modseq()
	case "OLDER", "YOUNGER":
		n, err := p.size(name)
		if err != nil {
			return SearchKey{}, err
		}
		if n == 0 || n > 1<<32-1 {
			// RFC 5032: interval = 1*DIGIT, a non-zero number of seconds.
			return SearchKey{}, badArg("Invalid interval for " + name)
		}
		op := SearchOlder
		if name == "YOUNGER" {
			op = SearchYounger
		}
		return SearchKey{Op: op, Size: n}, nil
	case "SAVEDATESUPPORTED":
		return SearchKey{Op: SearchSaveDateSupported}, nil
	}
	if p.rev1 {
		switch name {
		case "RECENT":
			return SearchKey{Op: SearchRecent}, nil
		case "NEW":
			return SearchKey{Op: SearchAnd, Sub: []SearchKey{{Op: SearchRecent}, {Op: SearchNoFlag, Flag: `\Seen`}}}, nil
		case "OLD":
			return SearchKey{Op: SearchNot, Sub: []SearchKey{{Op: SearchRecent}}}, nil
		}
	}
	return SearchKey{}, badArg("Unknown search key " + truncate(a.Value, 40))
}

// searchFlag validates a KEYWORD argument: flag-keyword is an atom, so
// "\Seen" is not one (Dovecot takes it as a keyword no message has; a
// BAD tells the client its mistake).
func searchFlag(s string) (string, error) {
	if s != "" && s[0] == '\\' {
		return "", badArg("Invalid keyword " + truncate(s, 40))
	}
	return CanonicalFlag(s)
}

// validFieldName is RFC 5322 §3.6.8 ftext: printable ASCII except ":".
func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

// truncate keeps client text in error messages short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// String renders the key in IMAP search syntax (UTF-8 values, flags and
// dates as the RFC writes them); ParseSearch with CHARSET UTF-8 parses it
// back to the same tree, which the round-trip tests and FuzzSearchKeys
// check. A SearchAnd renders as a parenthesised group.
func (k SearchKey) String() string {
	var b strings.Builder
	k.write(&b)
	return b.String()
}

func (k SearchKey) write(b *strings.Builder) {
	writeStr := func(s string) {
		w := Writer{}
		b.WriteString(w.quoteForSearch(s))
	}
	date := func(name string) {
		b.WriteString(name)
		b.WriteString(" ")
		b.WriteString(k.Date.Format("2-Jan-2006"))
	}
	switch k.Op {
	case SearchAll:
		b.WriteString("ALL")
	case SearchAnd:
		b.WriteString("(")
		for i, s := range k.Sub {
			if i > 0 {
				b.WriteString(" ")
			}
			s.write(b)
		}
		b.WriteString(")")
	case SearchOr:
		b.WriteString("OR ")
		k.Sub[0].write(b)
		b.WriteString(" ")
		k.Sub[1].write(b)
	case SearchNot:
		b.WriteString("NOT ")
		k.Sub[0].write(b)
	case SearchSeq:
		b.WriteString(k.Set.String())
	case SearchUID:
		b.WriteString("UID ")
		b.WriteString(k.Set.String())
	case SearchFlag, SearchNoFlag:
		b.WriteString(flagKeyName(k.Flag, k.Op == SearchNoFlag))
	case SearchRecent:
		b.WriteString("RECENT")
	case SearchHeader:
		b.WriteString("HEADER ")
		writeStr(k.Field)
		b.WriteString(" ")
		writeStr(k.Value)
	case SearchBody:
		b.WriteString("BODY ")
		writeStr(k.Value)
	case SearchText:
		b.WriteString("TEXT ")
		writeStr(k.Value)
	case SearchBefore:
		date("BEFORE")
	case SearchOn:
		date("ON")
	case SearchSince:
		date("SINCE")
	case SearchSentBefore:
		date("SENTBEFORE")
	case SearchSentOn:
		date("SENTON")
	case SearchSentSince:
		date("SENTSINCE")
	case SearchSavedBefore:
		date("SAVEDBEFORE")
	case SearchSavedOn:
		date("SAVEDON")
	case SearchSavedSince:
		date("SAVEDSINCE")
	case SearchOlder, SearchYounger:
		b.WriteString(k.Op.String() + " ")
		b.WriteString(strconv.FormatInt(k.Size, 10))
	case SearchModSeq:
		b.WriteString("MODSEQ ")
		if k.Entry != "" {
			b.WriteString(k.Entry + " ")
		}
		b.WriteString(strconv.FormatUint(k.ModSeq, 10))
	case SearchLarger:
		b.WriteString("LARGER ")
		b.WriteString(strconv.FormatInt(k.Size, 10))
	case SearchSmaller:
		b.WriteString("SMALLER ")
		b.WriteString(strconv.FormatInt(k.Size, 10))
	default:
		b.WriteString(k.Op.String())
	}
}

// flagKeyName renders a flag test: "SEEN", "UNDRAFT", "KEYWORD $Junk".
func flagKeyName(flag string, not bool) string {
	for name, f := range flagKeys {
		if f.flag == flag && f.not == not {
			return name
		}
	}
	if not {
		return "UNKEYWORD " + flag
	}
	return "KEYWORD " + flag
}

// quoteForSearch renders s as a quoted string, or a literal when it
// cannot be quoted (8-bit, CR, LF).
func (*Writer) quoteForSearch(s string) string {
	if quotable(s) {
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('"')
		return b.String()
	}
	return "{" + strconv.Itoa(len(s)) + "+}\r\n" + s
}

// modseq parses the rest of a MODSEQ key (RFC 7162 §3.1.5):
// [entry-name entry-type-req] mod-sequence-valzer.
func (p *searchParser) modseq() (SearchKey, error) {
	a, err := p.next("MODSEQ")
	if err != nil {
		return SearchKey{}, err
	}
	k := SearchKey{Op: SearchModSeq}
	if a.Kind == String {
		// entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE.
		if !strings.HasPrefix(strings.ToLower(a.Value), "/flags/") || len(a.Value) == len("/flags/") || !quotable(a.Value) {
			return SearchKey{}, badArg("Invalid MODSEQ entry name")
		}
		t, err := p.next("MODSEQ")
		if err != nil {
			return SearchKey{}, err
		}
		typ := strings.ToLower(t.Value)
		if t.Kind != Atom || (typ != "priv" && typ != "shared" && typ != "all") {
			return SearchKey{}, badArg("Invalid MODSEQ entry type")
		}
		k.Entry = `"` + strings.ReplaceAll(strings.ReplaceAll(a.Value, `\`, `\\`), `"`, `\"`) + `" ` + typ
		if a, err = p.next("MODSEQ"); err != nil {
			return SearchKey{}, err
		}
	}
	if a.Kind != Atom {
		return SearchKey{}, badArg("Invalid MODSEQ value")
	}
	n, ok := ParseModSeq(a.Value, true)
	if !ok {
		return SearchKey{}, badArg("Invalid MODSEQ value")
	}
	k.ModSeq = n
	return k, nil
}

// HasModSeq reports whether the program uses MODSEQ: the results then
// carry the highest modseq of the matches (RFC 7162 §3.1.5).
func (k SearchKey) HasModSeq() bool {
	if k.Op == SearchModSeq {
		return true
	}
	for _, s := range k.Sub {
		if s.HasModSeq() {
			return true
		}
	}
	return false
}
