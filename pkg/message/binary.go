package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
)

// Errors of Binary. IMAP answers ErrUnknownCTE with NO [UNKNOWN-CTE]
// (RFC 3516 §4.3) and ErrInvalidContent with NO [PARSE], as Dovecot does.
var (
	ErrUnknownCTE     = errors.New("message: unknown content-transfer-encoding")
	ErrInvalidContent = errors.New("message: invalid data in a MIME part")
)

// Binary returns the content of BINARY[section] (RFC 3516): the part's
// body with its Content-Transfer-Encoding undone. For a multipart or
// message/rfc822 part, as Dovecot does, every encoded leaf below it is
// decoded and its Content-Transfer-Encoding field says "binary". Only a
// part number (or nothing, the whole message) and HEADER/MIME/TEXT-less
// sections are meaningful here; other specifiers give what Fetch gives. A
// part that does not exist is empty.
func (m *Message) Binary(s Section) ([]byte, error) {
	if s.Specifier != SpecNone {
		if s.Specifier == SpecText && len(s.Path) == 0 {
			var out []byte
			return m.appendBinaryBody(out, m.Root)
		}
		return m.Fetch(s), nil
	}
	if len(s.Path) == 0 {
		if err := m.checkEncodings(m.Root); err != nil {
			return nil, err
		}
		return m.appendBinaryPart(nil, m.Root)
	}
	p, ok := m.Locate(s.Path)
	if !ok {
		return nil, nil
	}
	if err := m.checkEncodings(p); err != nil {
		return nil, err
	}
	return m.appendBinaryBody(nil, p)
}

// BinarySize is BINARY.SIZE[section]: the length of Binary's result.
// Dovecot reports content it cannot decode as an unknown encoding here,
// so ErrInvalidContent becomes ErrUnknownCTE.
func (m *Message) BinarySize(s Section) (int64, error) {
	b, err := m.Binary(s)
	if errors.Is(err, ErrInvalidContent) {
		err = ErrUnknownCTE
	}
	return int64(len(b)), err
}

// transferEncoding is the Content-Transfer-Encoding BINARY honours for
// p, lower-cased ("" for none). It is read from the header itself: like
// Dovecot's binary converter, BINARY decodes a message header's encoding
// even where BODYSTRUCTURE ignores it for want of MIME-Version.
func (m *Message) transferEncoding(p *Part) string {
	if p.IsMultipart() || p.IsMessage() {
		return ""
	}
	for _, f := range m.PartHeader(p) {
		if strings.EqualFold(f.Name, "Content-Transfer-Encoding") {
			t, _ := firstToken(f.Value)
			return strings.ToLower(t)
		}
	}
	return ""
}

// encodedLeaf reports whether p is a leaf whose body Binary decodes.
func (m *Message) encodedLeaf(p *Part) bool {
	switch m.transferEncoding(p) {
	case "", "7bit", "8bit", "binary":
		return false
	}
	return true
}

// checkEncodings reports ErrUnknownCTE if any leaf at or below p has an
// encoding Binary cannot undo: Dovecot refuses those before decoding
// anything.
func (m *Message) checkEncodings(p *Part) error {
	if len(p.Children) > 0 && (p.IsMultipart() || p.IsMessage()) {
		for _, c := range p.Children {
			if err := m.checkEncodings(c); err != nil {
				return err
			}
		}
		return nil
	}
	switch m.transferEncoding(p) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return nil
	}
	return ErrUnknownCTE
}

// appendBinaryPart appends p's header (with the transfer encoding
// rewritten when its body gets decoded) and decoded body.
func (m *Message) appendBinaryPart(out []byte, p *Part) ([]byte, error) {
	hdr := m.header(p)
	if m.encodedLeaf(p) {
		// The old field goes; the new one ends the header, as Dovecot's
		// binary converter writes it.
		var nh []byte
		for _, f := range m.PartHeader(p) {
			if strings.EqualFold(f.Name, "Content-Transfer-Encoding") {
				continue
			}
			nh = append(nh, crlf(m.Raw[f.Start:f.End])...)
		}
		nh = append(nh, "Content-Transfer-Encoding: binary\r\n"...)
		// The blank line that ends the header, if there is one.
		if last := fieldsEnd(m, p); last < p.BodyOffset() {
			nh = append(nh, crlf(m.Raw[last:p.BodyOffset()])...)
		}
		hdr = nh
	} else {
		hdr = crlf(hdr)
	}
	out = append(out, hdr...)
	return m.appendBinaryBody(out, p)
}

// fieldsEnd is where the last field of p's header ends.
func fieldsEnd(m *Message, p *Part) int64 {
	fs := m.PartHeader(p)
	if len(fs) == 0 {
		return p.Offset
	}
	return fs[len(fs)-1].End
}

// appendBinaryBody appends p's body, decoded.
func (m *Message) appendBinaryBody(out []byte, p *Part) ([]byte, error) {
	switch {
	case p.IsMultipart() && len(p.Children) > 0:
		pos := p.BodyOffset()
		for _, c := range p.Children {
			out = append(out, crlf(m.Raw[pos:c.Offset])...)
			var err error
			if out, err = m.appendBinaryPart(out, c); err != nil {
				return nil, err
			}
			pos = c.BodyOffset() + c.Body.Physical
		}
		end := p.BodyOffset() + p.Body.Physical
		return append(out, crlf(m.Raw[pos:end])...), nil
	case p.IsMessage():
		c := p.Children[0]
		out, err := m.appendBinaryPart(out, c)
		if err != nil {
			return nil, err
		}
		end := p.BodyOffset() + p.Body.Physical
		return append(out, crlf(m.Raw[c.BodyOffset()+c.Body.Physical:end])...), nil
	case !m.encodedLeaf(p):
		return append(out, crlf(m.body(p))...), nil
	}
	dec, err := decode(m.transferEncoding(p), m.body(p))
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return dec, nil // BINARY of a single part: no second copy
	}
	return append(out, dec...), nil
}

// decode undoes a base64 or quoted-printable transfer encoding.
func decode(enc string, body []byte) ([]byte, error) {
	switch strings.ToLower(enc) {
	case "base64":
		// White space and line ends are not data (RFC 2045 §6.8).
		clean := make([]byte, 0, len(body))
		for _, c := range body {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			}
			clean = append(clean, c)
		}
		// Data after the padding is ignored, as decoders in the wild do.
		if i := bytes.IndexByte(clean, '='); i >= 0 {
			j := i
			for j < len(clean) && clean[j] == '=' {
				j++
			}
			clean = clean[:j]
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			// Unpadded input is common: retry without padding.
			trimmed := bytes.TrimRight(clean, "=")
			out = make([]byte, base64.RawStdEncoding.DecodedLen(len(trimmed)))
			n, err = base64.RawStdEncoding.Decode(out, trimmed)
			if err != nil {
				return nil, ErrInvalidContent
			}
		}
		return out[:n], nil
	case "quoted-printable":
		return decodeQP(body)
	}
	return nil, ErrUnknownCTE
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) strictly, as
// Dovecot's decoder does: "=" must start a soft line break or two hex
// digits. Trailing white space on a line is transport padding and goes.
// Line ends come out as CRLF.
func decodeQP(body []byte) ([]byte, error) {
	out := make([]byte, 0, len(body))
	for len(body) > 0 {
		line := body
		nl := bytes.IndexByte(body, '\n')
		hasNL := nl >= 0
		if hasNL {
			line, body = body[:nl], body[nl+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		line = bytes.TrimRight(line, " \t")
		soft := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c != '=' {
				out = append(out, c)
				continue
			}
			if i == len(line)-1 {
				soft = true
				break
			}
			if i+2 >= len(line) {
				return nil, ErrInvalidContent
			}
			h, ok1 := unhex(line[i+1])
			l, ok2 := unhex(line[i+2])
			if !ok1 || !ok2 {
				return nil, ErrInvalidContent
			}
			out = append(out, h<<4|l)
			i += 2
		}
		if hasNL && !soft {
			out = append(out, '\r', '\n')
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
