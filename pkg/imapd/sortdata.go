package imapd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

// The header fields SORT and THREAD read: the first occurrence of each,
// as Dovecot's mail_get_first_header takes it.
const (
	hSubject = iota
	hFrom
	hTo
	hCc
	hDate
	hMessageID
	hReferences
	hInReplyTo
	nSortHeaders
)

var sortHeaderNames = [nSortHeaders]string{"Subject", "From", "To", "Cc", "Date", "Message-ID", "References", "In-Reply-To"}

// cacheSortHeaders is the cache field holding the fields above, so a
// second SORT or THREAD of a mailbox does not read the messages again.
const cacheSortHeaders = "imap.sorthdr1"

// maxHeaderRead bounds how much of a message is read to find its header.
const maxHeaderRead = 1 << 20

// sortHeaders is what SORT and THREAD know of one message.
type sortHeaders struct {
	f   [nSortHeaders]string
	has [nSortHeaders]bool
	// date is the Date field parsed (dateOK false when it is missing or
	// unparsable), kept in the cache too: parsing it is most of the
	// cost of SORT (DATE) otherwise.
	date   time.Time
	dateOK bool
}

func (h *sortHeaders) marshal() []byte {
	var b []byte
	for i := range h.f {
		if !h.has[i] {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(h.f[i]))+1)
		b = append(b, h.f[i]...)
	}
	if h.dateOK {
		b = append(b, 1)
		b = binary.AppendVarint(b, h.date.Unix())
		_, off := h.date.Zone()
		b = binary.AppendVarint(b, int64(off))
	} else {
		b = append(b, 0)
	}
	return b
}

func (h *sortHeaders) unmarshal(b []byte) bool {
	for i := range h.f {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k)+1 {
			return false
		}
		b = b[k:]
		if n == 0 {
			continue
		}
		h.has[i], h.f[i] = true, string(b[:n-1])
		b = b[n-1:]
	}
	if len(b) == 0 {
		return false
	}
	if b[0] == 1 {
		b = b[1:]
		sec, k := binary.Varint(b)
		if k <= 0 {
			return false
		}
		b = b[k:]
		off, k := binary.Varint(b)
		if k <= 0 || off < -86400 || off > 86400 {
			return false
		}
		b = b[k:]
		h.date, h.dateOK = time.Unix(sec, 0).In(time.FixedZone("", int(off))), true
	} else {
		b = b[1:]
	}
	return len(b) == 0
}

// headersOf returns the sort header fields of a message, from the cache
// when it has them, else by reading the message's header only.
func (s *Session) headersOf(uid uint32) (*sortHeaders, error) {
	h := &sortHeaders{}
	if data, ok := s.mbox.Cache(uid, cacheSortHeaders); ok && h.unmarshal(data) {
		return h, nil
	}
	// The header fields cached at save (storage.CacheHeaders) hold all
	// of these: the first SORT of a mailbox cote filled reads no file.
	fields, ok := sortFieldsCached(s.mbox, uid)
	if !ok {
		b, err := s.mbox.Open(uid)
		if errors.Is(err, storage.ErrExpunged) {
			// Expunged by another session meanwhile: it sorts as a
			// message without those fields, as in Dovecot.
			return h, nil
		}
		if err != nil {
			return nil, err
		}
		raw, err := readHeader(b)
		b.Close()
		if err != nil {
			return nil, storage.Errorf("sort", s.mbox.Name(), storage.ErrTemporary, err)
		}
		fields = message.Header(raw, 0)
	}
	*h = sortHeaders{}
	for _, f := range fields {
		for i, name := range sortHeaderNames {
			if !h.has[i] && strings.EqualFold(f.Name, name) {
				h.has[i], h.f[i] = true, f.Value
			}
		}
	}
	if h.has[hDate] {
		if t, err := mail.ParseDate(strings.TrimSpace(unfold(h.f[hDate]))); err == nil {
			h.date, h.dateOK = t, true
		}
	}
	s.deferCache(uid, cacheSortHeaders, h.marshal())
	return h, nil
}

// deferCache queues a cache entry of the selected mailbox; the queue is
// stored in one index write (storage.SetCaches) when it reaches
// fillBatch bytes, after the command, or before the mailbox closes. The
// first SORT of a mailbox fills thousands of entries: one write each
// cost an index lock and a log append per message.
func (s *Session) deferCache(uid uint32, field string, data []byte) {
	s.cachePend = append(s.cachePend, storage.CacheEntry{UID: uid, Field: field, Data: data})
	s.cachePendSize += len(data)
	if s.cachePendSize >= fillBatch {
		s.flushCache()
	}
}

// flushCache stores the queued cache entries; a failure only costs
// computing them again.
func (s *Session) flushCache() {
	if len(s.cachePend) == 0 {
		return
	}
	if s.mbox != nil {
		if err := storage.SetCaches(s.mbox, s.cachePend); err != nil {
			s.log.Debug("caching sort headers failed", zapErr(err))
		}
	}
	s.cachePend, s.cachePendSize = s.cachePend[:0], 0
}

// readHeader reads the header of a message: up to and including the
// empty line that ends it, all of a message without one, at most
// maxHeaderRead bytes.
func readHeader(b storage.Body) ([]byte, error) {
	size := b.Size()
	var buf []byte
	chunk := int64(4096)
	for off := int64(0); off < size && off < maxHeaderRead; {
		n := min(chunk, size-off, maxHeaderRead-off)
		buf = append(buf, make([]byte, n)...)
		got, err := b.ReadAt(buf[off:off+n], off)
		if int64(got) != n && err != nil && err != io.EOF {
			return nil, err
		}
		buf = buf[:off+int64(got)]
		// The blank line may straddle the chunks: search from a little
		// before the new data.
		from := max(0, int(off)-3)
		if end := headerEnd(buf, from); end >= 0 {
			return buf[:end], nil
		}
		if got == 0 {
			break
		}
		off += int64(got)
		chunk *= 2
	}
	return buf, nil
}

// headerEnd returns the offset just past the empty line ending a header
// (or 0 for a message that starts with one), -1 if buf has none yet.
func headerEnd(buf []byte, from int) int {
	if from == 0 {
		if bytes.HasPrefix(buf, []byte("\n")) {
			return 1
		}
		if bytes.HasPrefix(buf, []byte("\r\n")) {
			return 2
		}
	}
	for i := from; i < len(buf); i++ {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		if i+1 < len(buf) && buf[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

// sentDate is the Date field as an instant, or the internal date when
// the field is missing or unparsable (RFC 5256 §2.2).
func sentDate(h *sortHeaders, internal time.Time) time.Time {
	if h.dateOK {
		return h.date
	}
	return internal
}

func unfold(v string) string {
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}

// firstMailbox is the addr-mailbox of the first address of a field (the
// group name for a group), as SORT FROM, TO and CC compare it.
func firstMailbox(v string) string {
	addrs := message.ParseAddressList(unfold(v))
	if len(addrs) == 0 {
		return ""
	}
	return addrs[0].Mailbox
}

// displayName is RFC 5957's display string of the first address: its
// decoded display name, or its addr-spec when it has none.
func displayName(v string) string {
	addrs := message.ParseAddressList(unfold(v))
	if len(addrs) == 0 {
		return ""
	}
	a := addrs[0]
	if a.Name != "" {
		return decodeHeaderValue(a.Name)
	}
	if a.Mailbox != "" && a.Domain != "" {
		return a.Mailbox + "@" + a.Domain
	}
	return a.Mailbox
}
