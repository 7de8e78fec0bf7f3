package message

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The binary form of a part tree, for the mail index to cache (the tree
// is computed once per message, at delivery or the first FETCH):
//
//	"CMT" version(1)  part  crc32(IEEE, big endian, of all bytes before)
//
// A part is its sizes and offsets as uvarints, its flags, its MIME fields,
// an optional envelope and its children, recursively. The version and the
// checksum let a reader refuse (and the index rebuild) anything it did not
// write itself.
const (
	encMagic   = "CMT"
	encVersion = 1
)

// ErrCorrupt is returned by UnmarshalBinary for data that is not a tree
// this version wrote intact.
var ErrCorrupt = errors.New("message: corrupt or foreign part tree encoding")

// MarshalBinary encodes the tree rooted at p.
func (p *Part) MarshalBinary() ([]byte, error) {
	b := append([]byte(encMagic), encVersion)
	b = appendPart(b, p)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// UnmarshalBinary decodes a tree written by MarshalBinary into p.
func (p *Part) UnmarshalBinary(data []byte) error {
	if len(data) < len(encMagic)+1+4 || string(data[:3]) != encMagic || data[3] != encVersion {
		return ErrCorrupt
	}
	body, sum := data[:len(data)-4], data[len(data)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return ErrCorrupt
	}
	d := &decoder{b: body[4:]}
	q := d.part(0)
	if d.err != nil || len(d.b) != 0 {
		return ErrCorrupt
	}
	*p = *q
	return nil
}

func appendUvarint(b []byte, v int64) []byte { return binary.AppendUvarint(b, uint64(v)) }

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendNStr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	return appendStr(append(b, 1), *s)
}

func appendParamList(b []byte, ps []Param) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = appendStr(b, p.Name)
		b = appendStr(b, p.Value)
	}
	return b
}

func appendPart(b []byte, p *Part) []byte {
	for _, v := range []int64{p.Offset, p.Header.Physical, p.Header.Virtual, p.Header.Lines,
		p.Body.Physical, p.Body.Virtual, p.Body.Lines} {
		b = appendUvarint(b, v)
	}
	b = append(b, byte(p.Flags))
	b = appendStr(b, p.Type)
	b = appendStr(b, p.Subtype)
	b = appendParamList(b, p.Params)
	for _, s := range []*string{p.ID, p.Description, p.Encoding, p.MD5, p.Location} {
		b = appendNStr(b, s)
	}
	b = appendStr(b, p.Disposition)
	b = appendParamList(b, p.DispositionParams)
	b = binary.AppendUvarint(b, uint64(len(p.Language)))
	for _, l := range p.Language {
		b = appendStr(b, l)
	}
	if p.Envelope == nil {
		b = append(b, 0)
	} else {
		b = appendEnvelope(append(b, 1), p.Envelope)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Children)))
	for _, c := range p.Children {
		b = appendPart(b, c)
	}
	return b
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	for _, s := range []*string{e.Date, e.Subject, e.InReplyTo, e.MessageID} {
		b = appendNStr(b, s)
	}
	for _, l := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, a := range l {
			var kind byte
			switch {
			case a.GroupStart:
				kind = 1
			case a.GroupEnd:
				kind = 2
			}
			b = append(b, kind)
			b = appendStr(b, a.Name)
			b = appendStr(b, a.Route)
			b = appendStr(b, a.Mailbox)
			b = appendStr(b, a.Domain)
		}
	}
	return b
}

// decoder reads the encoding; the first error sticks and every later
// read returns zero values.
type decoder struct {
	b     []byte
	err   error
	parts int
}

func (d *decoder) fail() { d.err = ErrCorrupt; d.b = nil }

func (d *decoder) uvarint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<62 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return int64(v)
}

// count reads a list length; each element takes at least min bytes, so a
// length the rest of the data cannot hold is corrupt (and allocates
// nothing).
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > int64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) byte1() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > int64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) nstr() *string {
	switch d.byte1() {
	case 0:
		return nil
	case 1:
		s := d.str()
		return &s
	}
	d.fail()
	return nil
}

func (d *decoder) params() []Param {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ps := make([]Param, n)
	for i := range ps {
		ps[i] = Param{Name: d.str(), Value: d.str()}
	}
	return ps
}

func (d *decoder) part(depth int) *Part {
	d.parts++
	if depth > MaxNesting+1 || d.parts > MaxParts+1 {
		d.fail()
		return &Part{}
	}
	p := &Part{}
	p.Offset = d.uvarint()
	p.Header = Size{d.uvarint(), d.uvarint(), d.uvarint()}
	p.Body = Size{d.uvarint(), d.uvarint(), d.uvarint()}
	p.Flags = Flags(d.byte1())
	p.Type = d.str()
	p.Subtype = d.str()
	p.Params = d.params()
	p.ID, p.Description, p.Encoding, p.MD5, p.Location = d.nstr(), d.nstr(), d.nstr(), d.nstr(), d.nstr()
	p.Disposition = d.str()
	p.DispositionParams = d.params()
	if n := d.count(1); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	switch d.byte1() {
	case 0:
	case 1:
		p.Envelope = d.envelope()
	default:
		d.fail()
	}
	if n := d.count(1); n > 0 {
		p.Children = make([]*Part, n)
		for i := range p.Children {
			p.Children[i] = d.part(depth + 1)
		}
	}
	return p
}

func (d *decoder) envelope() *Envelope {
	e := &Envelope{}
	e.Date, e.Subject, e.InReplyTo, e.MessageID = d.nstr(), d.nstr(), d.nstr(), d.nstr()
	for _, l := range []*[]Address{&e.From, &e.Sender, &e.ReplyTo, &e.To, &e.Cc, &e.Bcc} {
		n := d.count(5)
		if n == 0 {
			continue
		}
		as := make([]Address, n)
		for i := range as {
			switch d.byte1() {
			case 1:
				as[i].GroupStart = true
			case 2:
				as[i].GroupEnd = true
			case 0:
			default:
				d.fail()
			}
			as[i].Name, as[i].Route, as[i].Mailbox, as[i].Domain = d.str(), d.str(), d.str(), d.str()
		}
		*l = as
	}
	return e
}

// Validate checks that the tree rooted at p fits a message of size bytes:
// every header and body lies inside its parent's body and inside the
// message, children in order. A cached tree that fails is not used for
// the message (the index rebuilds it).
func (p *Part) Validate(size int64) error {
	return p.validate(0, size, 0)
}

func (p *Part) validate(lo, hi int64, depth int) error {
	if depth > MaxNesting+1 {
		return ErrCorrupt
	}
	fields := []int64{p.Offset, p.Header.Physical, p.Header.Virtual, p.Header.Lines,
		p.Body.Physical, p.Body.Virtual, p.Body.Lines}
	for _, v := range fields {
		if v < 0 {
			return ErrCorrupt
		}
	}
	end := p.Offset + p.Header.Physical + p.Body.Physical
	if p.Offset < lo || end > hi || end < p.Offset ||
		p.Header.Virtual < p.Header.Physical || p.Body.Virtual < p.Body.Physical {
		return ErrCorrupt
	}
	if p.Flags&FlagMessage != 0 && len(p.Children) > 1 {
		return ErrCorrupt
	}
	pos := p.BodyOffset()
	for _, c := range p.Children {
		if err := c.validate(pos, end, depth+1); err != nil {
			return err
		}
		pos = c.BodyOffset() + c.Body.Physical
	}
	return nil
}

// New pairs a raw message with a tree decoded from the index, after
// checking that the tree fits it.
func New(raw []byte, root *Part) (*Message, error) {
	if root == nil {
		return nil, ErrCorrupt
	}
	if err := root.Validate(int64(len(raw))); err != nil {
		return nil, err
	}
	return &Message{Raw: raw, Root: root}, nil
}
