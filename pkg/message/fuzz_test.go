package message_test

import (
	"bytes"
	"testing"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message"
)

// FuzzParse: no input panics the parser, the tree stays inside the
// message, rendering and every section work, and the binary encoding
// round-trips. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := message.Parse(raw)
		if err := m.Root.Validate(int64(len(raw))); err != nil {
			t.Fatalf("tree outside the message: %v", err)
		}
		if m.Size() < int64(len(raw)) {
			t.Fatalf("RFC822.SIZE %d below the physical size %d", m.Size(), len(raw))
		}
		bs := imap.AppendBodyStructure(nil, m.Root, true)
		env := imap.AppendEnvelope(nil, m.Root.Envelope)
		enc, err := m.Root.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back message.Part
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		m2, err := message.New(raw, &back)
		if err != nil {
			t.Fatalf("decoded tree does not fit: %v", err)
		}
		if !bytes.Equal(imap.AppendBodyStructure(nil, m2.Root, true), bs) ||
			!bytes.Equal(imap.AppendEnvelope(nil, m2.Root.Envelope), env) {
			t.Fatal("rendering differs after the binary round trip")
		}
		for _, s := range []string{"", "HEADER", "TEXT", "1", "1.MIME", "2.1", "1.2.HEADER.FIELDS (From)", "2.TEXT"} {
			sec, err := message.ParseSection(s)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			m.Fetch(sec)
			_, _ = m.Binary(sec)
		}
		if got := message.Parse(raw).Root; !bytes.Equal(must(got.MarshalBinary()), enc) {
			t.Fatal("parsing is not deterministic")
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzSection: any section text either fails with ErrSection or parses to
// a section whose String parses back to the same thing, and fetching it
// from a multipart message never panics. Seeds: testdata/fuzz/FuzzSection.
func FuzzSection(f *testing.F) {
	f.Add("1.2.HEADER.FIELDS (From To)")
	raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n")
	m := message.Parse(raw)
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := message.ParseSection(s)
		if err != nil {
			return
		}
		again, err := message.ParseSection(sec.String())
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, sec.String(), err)
		}
		if again.String() != sec.String() {
			t.Fatalf("%q -> %q -> %q", s, sec.String(), again.String())
		}
		m.Fetch(sec)
		_, _ = m.Binary(sec)
	})
}
