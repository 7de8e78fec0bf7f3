package imap

import (
	"strconv"
	"strings"

	"github.com/cote-mail/cote/pkg/message"
)

// FetchAttr is one FETCH data item (RFC 9051 §6.4.5, RFC 3516).
type FetchAttr uint8

// FETCH data items. The macros ALL, FAST and FULL expand to these.
const (
	FetchFlags         FetchAttr = iota + 1
	FetchInternalDate            // INTERNALDATE
	FetchRFC822Size              // RFC822.SIZE
	FetchEnvelope                // ENVELOPE
	FetchBody                    // BODY: the non-extensible BODYSTRUCTURE
	FetchBodyStructure           // BODYSTRUCTURE
	FetchUID                     // UID
	FetchBodySection             // BODY[section]<partial> and BODY.PEEK[...]
	FetchBinary                  // BINARY[part]<partial> and BINARY.PEEK[...]
	FetchBinarySize              // BINARY.SIZE[part]
	FetchRFC822                  // RFC822: BODY[] that sets \Seen, answered as RFC822
	FetchRFC822Header            // RFC822.HEADER: BODY.PEEK[HEADER], answered as RFC822.HEADER
	FetchRFC822Text              // RFC822.TEXT: BODY[TEXT], answered as RFC822.TEXT
	FetchModSeq                  // MODSEQ (RFC 7162 §3.1.4.1)
	FetchSaveDate                // SAVEDATE (RFC 8514)
	FetchEmailID                 // EMAILID (RFC 8474 §5.1)
	FetchThreadID                // THREADID (RFC 8474 §5.2)
	FetchPreview                 // PREVIEW and PREVIEW (LAZY) (RFC 8970)
)

// FetchItem is one parsed FETCH data item.
type FetchItem struct {
	Attr FetchAttr
	// Peek is set for BODY.PEEK, BINARY.PEEK and RFC822.HEADER: they do
	// not set \Seen. BODY[...], BINARY[...], RFC822 and RFC822.TEXT do
	// (RFC 9051 §6.4.5) unless the mailbox is read-only.
	Peek bool
	// Section is the parsed section of BODY[...], BINARY[...] and
	// BINARY.SIZE[...]; BINARY's has part numbers only.
	Section message.Section
	// SectionText is the section as it goes into the response name:
	// the client's text upper-cased, as Dovecot answers
	// "BODY[HEADER.FIELDS (FROM "TO")]" to "body[header.fields (from "To")]".
	SectionText string
	// Partial is set for "<offset.count>"; the response names only
	// "<offset>" (RFC 9051 §7.5.2).
	Partial       bool
	Offset, Count uint32
	// Lazy is PREVIEW's LAZY modifier (RFC 8970 §3.2).
	Lazy bool
}

// ResponseName is the item's name in the "* n FETCH (...)" response:
// "BODY[1.HEADER]<0>", "BINARY[2]", "RFC822.SIZE".
func (it FetchItem) ResponseName() string {
	switch it.Attr {
	case FetchBodySection, FetchBinary, FetchBinarySize:
		name := "BODY["
		if it.Attr == FetchBinary {
			name = "BINARY["
		} else if it.Attr == FetchBinarySize {
			name = "BINARY.SIZE["
		}
		name += it.SectionText + "]"
		if it.Partial {
			name += "<" + strconv.FormatUint(uint64(it.Offset), 10) + ">"
		}
		return name
	}
	return fetchAttrNames[it.Attr]
}

var fetchAttrNames = [...]string{
	FetchFlags: "FLAGS", FetchInternalDate: "INTERNALDATE", FetchRFC822Size: "RFC822.SIZE",
	FetchEnvelope: "ENVELOPE", FetchBody: "BODY", FetchBodyStructure: "BODYSTRUCTURE",
	FetchUID: "UID", FetchRFC822: "RFC822", FetchRFC822Header: "RFC822.HEADER",
	FetchRFC822Text: "RFC822.TEXT", FetchModSeq: "MODSEQ", FetchSaveDate: "SAVEDATE",
	FetchEmailID: "EMAILID", FetchThreadID: "THREADID", FetchPreview: "PREVIEW",
}

// String renders the item as a client writes it (ParseFetchItems of the
// result gives the item back).
func (it FetchItem) String() string {
	switch it.Attr {
	case FetchBodySection, FetchBinary, FetchBinarySize:
		name := "BODY"
		if it.Attr == FetchBinary {
			name = "BINARY"
		} else if it.Attr == FetchBinarySize {
			name = "BINARY.SIZE"
		}
		if it.Peek && it.Attr != FetchBinarySize {
			name += ".PEEK"
		}
		name += "[" + it.SectionText + "]"
		if it.Partial {
			name += "<" + strconv.FormatUint(uint64(it.Offset), 10) + "." + strconv.FormatUint(uint64(it.Count), 10) + ">"
		}
		return name
	case FetchPreview:
		if it.Lazy {
			return "PREVIEW (LAZY)"
		}
	}
	return fetchAttrNames[it.Attr]
}

// MaxFetchItems caps the items of one FETCH, far above what any client
// asks (Thunderbird's longest is about ten).
const MaxFetchItems = 256

var fetchMacros = map[string][]FetchAttr{
	"ALL":  {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope},
	"FAST": {FetchFlags, FetchInternalDate, FetchRFC822Size},
	"FULL": {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope, FetchBody},
}

var fetchSimple = map[string]FetchItem{
	"FLAGS":         {Attr: FetchFlags},
	"INTERNALDATE":  {Attr: FetchInternalDate},
	"RFC822.SIZE":   {Attr: FetchRFC822Size},
	"ENVELOPE":      {Attr: FetchEnvelope},
	"BODY":          {Attr: FetchBody},
	"BODYSTRUCTURE": {Attr: FetchBodyStructure},
	"UID":           {Attr: FetchUID},
	"RFC822":        {Attr: FetchRFC822},
	"RFC822.HEADER": {Attr: FetchRFC822Header, Peek: true},
	"RFC822.TEXT":   {Attr: FetchRFC822Text},
	"MODSEQ":        {Attr: FetchModSeq},
	"SAVEDATE":      {Attr: FetchSaveDate},
	"EMAILID":       {Attr: FetchEmailID},
	"THREADID":      {Attr: FetchThreadID},
	"PREVIEW":       {Attr: FetchPreview},
}

// ParseFetchItems parses the data item argument of FETCH: a macro (ALL,
// FAST, FULL; only alone, RFC 9051 §6.4.5), one item, or a list of items.
// Duplicates are kept: the engine answers each name once. Errors are BAD
// *ArgError. The CHANGEDSINCE modifier is ParseFetchModifiers'.
func ParseFetchItems(a Arg) ([]FetchItem, error) {
	switch a.Kind {
	case Atom:
		if attrs, ok := fetchMacros[strings.ToUpper(a.Value)]; ok {
			items := make([]FetchItem, len(attrs))
			for i, at := range attrs {
				items[i] = FetchItem{Attr: at}
			}
			return items, nil
		}
		it, err := ParseFetchItem(a.Value)
		if err != nil {
			return nil, err
		}
		return []FetchItem{it}, nil
	case List:
		if len(a.List) == 0 {
			return nil, badArg("Empty FETCH item list")
		}
		if len(a.List) > MaxFetchItems {
			return nil, badArg("Too many FETCH items")
		}
		items := make([]FetchItem, 0, len(a.List))
		for i := 0; i < len(a.List); i++ {
			x := a.List[i]
			if x.Kind != Atom {
				return nil, badArg("Invalid FETCH item")
			}
			it, err := ParseFetchItem(x.Value)
			if err != nil {
				return nil, err
			}
			if it.Attr == FetchPreview && i+1 < len(a.List) && a.List[i+1].Kind == List {
				i++
				if it.Lazy, err = parsePreviewModifiers(a.List[i]); err != nil {
					return nil, err
				}
			}
			items = append(items, it)
		}
		return items, nil
	}
	return nil, badArg("Invalid FETCH items")
}

// ParseFetchItem parses one data item other than a macro.
func ParseFetchItem(s string) (FetchItem, error) {
	if it, ok := fetchSimple[strings.ToUpper(s)]; ok {
		return it, nil
	}
	br := strings.IndexByte(s, '[')
	if br < 0 {
		return FetchItem{}, badArg("Unknown FETCH item " + truncate(s, 40))
	}
	var it FetchItem
	switch strings.ToUpper(s[:br]) {
	case "BODY":
		it.Attr = FetchBodySection
	case "BODY.PEEK":
		it.Attr, it.Peek = FetchBodySection, true
	case "BINARY":
		it.Attr = FetchBinary
	case "BINARY.PEEK":
		it.Attr, it.Peek = FetchBinary, true
	case "BINARY.SIZE":
		it.Attr = FetchBinarySize
	default:
		return FetchItem{}, badArg("Unknown FETCH item " + truncate(s, 40))
	}
	end := strings.IndexByte(s[br:], ']')
	if end < 0 {
		return FetchItem{}, badArg("Missing ']' in FETCH item")
	}
	end += br
	sectionText := s[br+1 : end]
	sec, err := message.ParseSection(sectionText)
	if err != nil {
		return FetchItem{}, badArg("Invalid section " + truncate(sectionText, 40))
	}
	if it.Attr != FetchBodySection && sec.Specifier != message.SpecNone {
		// RFC 3516 §4.1: section-binary = "[" [section-part] "]".
		return FetchItem{}, badArg("BINARY takes part numbers only")
	}
	it.Section = sec
	// Dovecot echoes the section upper-cased, quoting as the client
	// wrote it: "BODY[HEADER.FIELDS (FROM "TO")]".
	it.SectionText = strings.ToUpper(sectionText)
	rest := s[end+1:]
	if rest != "" {
		if it.Attr == FetchBinarySize {
			return FetchItem{}, badArg("BINARY.SIZE takes no partial")
		}
		off, count, err := parsePartial(rest)
		if err != nil {
			return FetchItem{}, err
		}
		it.Partial, it.Offset, it.Count = true, off, count
	}
	return it, nil
}

// parsePartial parses "<offset.count>" (RFC 9051 §9 partial: number "."
// nz-number).
func parsePartial(s string) (uint32, uint32, error) {
	bad := badArg("Invalid partial " + truncate(s, 40))
	if len(s) < 5 || s[0] != '<' || s[len(s)-1] != '>' {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ".")
	if !ok {
		return 0, 0, bad
	}
	off, ok1 := parseNumber32(a)
	count, ok2 := parseNumber32(b)
	if !ok1 || !ok2 || count == 0 {
		return 0, 0, bad
	}
	return off, count, nil
}

func parseNumber32(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}
