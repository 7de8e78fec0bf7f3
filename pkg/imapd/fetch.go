package imapd

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/membudget"
	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

// fetchItem is one FETCH data item (pkg/imap's parse) with the response
// name computed once.
type fetchItem struct {
	imap.FetchItem
	name string
}

// needs reports what an item needs beyond the index metadata.
func (it fetchItem) needsPart() bool {
	return it.Attr == imap.FetchEnvelope || it.Attr == imap.FetchBody || it.Attr == imap.FetchBodyStructure
}

func (it fetchItem) needsRaw() bool {
	switch it.Attr {
	case imap.FetchBodySection, imap.FetchBinary, imap.FetchBinarySize, imap.FetchRFC822, imap.FetchRFC822Header, imap.FetchRFC822Text:
		return true
	}
	return false
}

// setsSeen: RFC 9051 §6.4.5, BODY[...] and BINARY[...] without .PEEK,
// RFC822 and RFC822.TEXT set \Seen.
func (it fetchItem) setsSeen() bool {
	switch it.Attr {
	case imap.FetchBodySection, imap.FetchBinary, imap.FetchRFC822, imap.FetchRFC822Text:
		return !it.Peek
	}
	return false
}

// parseFetchItems parses the FETCH attribute argument with pkg/imap.
func parseFetchItems(a imap.Arg) ([]fetchItem, error) {
	parsed, err := imap.ParseFetchItems(a)
	if err != nil {
		return nil, err
	}
	items := make([]fetchItem, 0, len(parsed))
	seen := make(map[string]bool, len(parsed))
	for _, it := range parsed {
		// Each name is answered once (RFC 9051 §7.5.2).
		name := it.ResponseName()
		if seen[name] {
			continue
		}
		seen[name] = true
		items = append(items, fetchItem{FetchItem: it, name: name})
	}
	return items, nil
}

// cmdFetch: FETCH and UID FETCH, RFC 9051 §6.4.5 and §6.4.9, with BINARY
// (RFC 3516).
func cmdFetch(s *Session, c *cmdCtx) error {
	if (len(c.args) != 2 && len(c.args) != 3) || c.args[0].Kind != imap.Atom {
		return bad("Invalid arguments.")
	}
	items, err := parseFetchItems(c.args[1])
	if err != nil {
		return err
	}
	var mods imap.FetchModifiers
	if len(c.args) == 3 {
		if mods, err = imap.ParseFetchModifiers(c.args[2]); err != nil {
			return err
		}
		if mods.Vanished && (!c.uid || !s.qresync) {
			// RFC 7162 §3.2.6: UID FETCH only, with QRESYNC enabled.
			return bad("VANISHED not allowed here.")
		}
	}
	uids, err := s.resolveSet(c.args[0].Value, c.uid)
	if err != nil {
		return err
	}
	items = s.condStoreItems(items, mods)
	if mods.Vanished {
		if err := s.fetchVanished(c.args[0].Value, mods.ChangedSince); err != nil {
			return err
		}
	}
	needPart, needRaw, setSeen, wantFlags := false, false, false, false
	for _, it := range items {
		needPart = needPart || it.needsPart()
		needRaw = needRaw || it.needsRaw()
		setSeen = setSeen || it.setsSeen()
		wantFlags = wantFlags || it.Attr == imap.FetchFlags
	}
	setSeen = setSeen && !s.mbox.ReadOnly()
	done := 0
	var firstErr error
	err = s.mbox.Messages(uids, func(m storage.Message) error {
		done++
		if err := c.ctx.Err(); err != nil {
			return &ioError{errShutdown}
		}
		if mods.Changed && m.ModSeq <= mods.ChangedSince {
			return nil
		}
		extraFlags := false
		if setSeen && m.Flags&storage.FlagSeen == 0 {
			if _, err := s.mbox.Store([]uint32{m.UID}, storage.StoreAdd, storage.FlagSeen, nil, 0); err != nil {
				return err
			}
			m.Flags |= storage.FlagSeen
			extraFlags = !wantFlags
			if s.condstore {
				// The MODSEQ answered is the one the \Seen change got.
				if nm, err := s.mbox.Message(m.UID); err == nil {
					m = nm
				}
			}
		}
		if err := s.fetchOne(c, m, items, needPart, needRaw, extraFlags); err != nil {
			if isIOError(err) {
				return err
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		// Flush as the buffer fills, not per message: the writer does
		// that by itself; a large FETCH is still a stream of full
		// buffers.
		return nil
	})
	if err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	if done < len(uids) && !c.uid {
		// RFC 9051 §7.4.1: a message this session still numbers was
		// expunged by another; UID FETCH just leaves it out.
		return storage.Errorf("fetch", s.mbox.Name(), storage.ErrExpunged, nil)
	}
	return nil
}

// fetchOne writes one FETCH response.
func (s *Session) fetchOne(c *cmdCtx, m storage.Message, items []fetchItem, needPart, needRaw, extraFlags bool) error {
	var part *message.Part
	var msg *message.Message
	var err error
	if needRaw {
		var release func()
		if msg, release, err = s.loadMessage(m.UID); err != nil {
			return err
		}
		// The response is written (copied into the connection's buffer
		// or sent) before this returns.
		defer release()
		part = msg.Root
	} else if needPart {
		if part, err = s.loadPart(m.UID); err != nil {
			return err
		}
	}
	// Sections are computed before anything is written, so a failure
	// (BINARY of an unknown encoding) leaves no half response.
	type out struct {
		data []byte
		size int64
		bin  bool
	}
	var outs []out
	if needRaw {
		outs = make([]out, len(items))
		release, err := s.reserveBinary(c, msg, items)
		if err != nil {
			return err
		}
		defer release() // held until the response is written
	}
	for i, it := range items {
		if outs == nil {
			break // only sections (needRaw) have anything to compute
		}
		switch it.Attr {
		case imap.FetchBodySection:
			outs[i] = out{data: msg.Fetch(it.Section)}
		case imap.FetchRFC822:
			outs[i] = out{data: msg.Fetch(message.Section{})}
		case imap.FetchRFC822Header:
			outs[i] = out{data: msg.Fetch(message.Section{Specifier: message.SpecHeader})}
		case imap.FetchRFC822Text:
			outs[i] = out{data: msg.Fetch(message.Section{Specifier: message.SpecText})}
		case imap.FetchBinary:
			d, err := msg.Binary(it.Section)
			if err != nil {
				return binaryError(err)
			}
			outs[i] = out{data: d, bin: true}
		case imap.FetchBinarySize:
			n, err := msg.BinarySize(it.Section)
			if err != nil {
				return binaryError(err)
			}
			outs[i] = out{size: n}
		}
		if it.Partial {
			outs[i].data = message.Partial(outs[i].data, int64(it.Offset), int64(it.Count))
		}
	}
	var pv string
	pvOK := false
	for _, it := range items {
		if it.Attr == imap.FetchPreview {
			if pv, pvOK, err = s.preview(m.UID, it.Lazy); err != nil { // preview.go
				return err
			}
		}
	}
	seq := s.mbox.Seq(m.UID)
	w := s.w
	w.WriteString("* ")
	w.Number(uint64(seq))
	w.WriteString(" FETCH (")
	n := 0
	sp := func() {
		if n > 0 {
			w.WriteString(" ")
		}
		n++
	}
	if c.uid {
		sp()
		w.WriteString("UID ")
		w.Number(uint64(m.UID))
	}
	for i, it := range items {
		switch it.Attr {
		case imap.FetchUID:
			if c.uid {
				continue
			}
			sp()
			w.WriteString("UID ")
			w.Number(uint64(m.UID))
		case imap.FetchFlags:
			sp()
			w.WriteString("FLAGS ")
			s.writeFlagList(m)
		case imap.FetchInternalDate:
			sp()
			w.WriteString(`INTERNALDATE "` + m.InternalDate.Format("02-Jan-2006 15:04:05 -0700") + `"`)
		case imap.FetchRFC822Size:
			sp()
			w.WriteString("RFC822.SIZE " + itoa64(m.Size))
		case imap.FetchEnvelope:
			sp()
			w.WriteString("ENVELOPE ")
			env := part.Envelope
			if env == nil {
				env = &message.Envelope{}
			}
			w.Envelope(env)
		case imap.FetchBody:
			sp()
			w.WriteString("BODY ")
			w.BodyStructure(part, false)
		case imap.FetchBodyStructure:
			sp()
			w.WriteString("BODYSTRUCTURE ")
			w.BodyStructure(part, true)
		case imap.FetchBinarySize:
			sp()
			w.WriteString(it.name + " " + itoa64(outs[i].size))
		case imap.FetchModSeq:
			sp()
			w.WriteString("MODSEQ (" + strconv.FormatUint(m.ModSeq, 10) + ")")
		case imap.FetchSaveDate:
			sp()
			w.WriteString(`SAVEDATE "` + saveDate(m).Format("02-Jan-2006 15:04:05 -0700") + `"`)
		case imap.FetchEmailID:
			sp()
			w.WriteString("EMAILID (" + m.EmailID + ")")
		case imap.FetchThreadID:
			// RFC 8474 §5.2: NIL when the server keeps no thread
			// identifiers, as Dovecot answers without a threading index.
			sp()
			w.WriteString("THREADID NIL")
		case imap.FetchPreview:
			sp()
			w.WriteString("PREVIEW ")
			if pvOK {
				w.String(pv)
			} else {
				w.WriteString("NIL")
			}
		default:
			sp()
			w.WriteString(it.name + " ")
			writeLiteral(w, outs[i].data, outs[i].bin)
		}
	}
	if extraFlags {
		sp()
		w.WriteString("FLAGS ")
		s.writeFlagList(m)
		if s.condstore && !hasItem(items, imap.FetchModSeq) {
			// RFC 7162 §3.1: the flag change \Seen made carries its
			// modseq, like every FETCH with flags once enabled.
			w.WriteString(" MODSEQ (" + strconv.FormatUint(m.ModSeq, 10) + ")")
		}
	}
	w.WriteString(")\r\n")
	return nil
}

// writeLiteral writes content as a literal ("" when empty); binary
// content holding NUL goes as literal8 (RFC 3516 §4.2).
func writeLiteral(w *imap.Writer, data []byte, binary bool) {
	if len(data) == 0 {
		w.WriteString(`""`)
		return
	}
	if binary && bytes.IndexByte(data, 0) >= 0 {
		// A bytes.Reader of len(data) cannot come up short.
		_ = w.Literal8(int64(len(data)), bytes.NewReader(data))
		return
	}
	w.LiteralBytes(data)
}

// reserveBinary reserves from the process's memory budget what decoding
// the BINARY items of one FETCH response holds (for each, at most twice
// the section's stored size: decoding never grows content but works on a
// copy, and the rewritten Content-Transfer-Encoding field adds a few
// bytes), at once so that one
// response never waits for its own reservation. Sessions decoding large
// attachments at the same time then wait their turn instead of
// exhausting the vsz_limit every session of the process shares.
func (s *Session) reserveBinary(c *cmdCtx, msg *message.Message, items []fetchItem) (func(), error) {
	var n int64
	for _, it := range items {
		if it.Attr != imap.FetchBinary && it.Attr != imap.FetchBinarySize {
			continue
		}
		size := int64(len(msg.Raw))
		if len(it.Section.Path) > 0 {
			if p, ok := msg.Locate(it.Section.Path); ok {
				size = p.Header.Physical + p.Body.Physical
			}
		}
		// Base64 is decoded from a copy without its line ends into
		// a new buffer: up to twice the stored size at once.
		n += 2*size + 64
	}
	if n == 0 {
		return func() {}, nil
	}
	release, err := s.budget().Acquire(c.ctx, n)
	if errors.Is(err, membudget.ErrTooLarge) {
		return nil, no("LIMIT", "Too large to decode within the server's memory limit; fetch it with BODY[] instead.")
	}
	if err != nil {
		return nil, &ioError{errShutdown}
	}
	return release, nil
}

// budget is the memory budget large transient buffers are reserved from:
// Config.Budget, or the process's.
func (s *Session) budget() *membudget.Budget {
	if s.cfg.Budget != nil {
		return s.cfg.Budget
	}
	return membudget.Process()
}

func binaryError(err error) error {
	switch {
	case errors.Is(err, message.ErrUnknownCTE):
		return no("UNKNOWN-CTE", "Unknown Content-Transfer-Encoding.")
	case errors.Is(err, message.ErrInvalidContent):
		return no("PARSE", "Invalid content.")
	}
	return err
}

// loadPart returns the MIME tree of a message, from the cache when it
// holds one (the store writes it at save), else parsed and cached.
func (s *Session) loadPart(uid uint32) (*message.Part, error) {
	if data, ok := s.mbox.Cache(uid, storage.CacheStructure); ok {
		p := new(message.Part)
		if p.UnmarshalBinary(data) == nil {
			return p, nil
		}
	}
	msg, release, err := s.loadMessage(uid)
	if err != nil {
		return nil, err
	}
	release() // the tree holds no slice of the message
	return msg.Root, nil
}

// loadMessage reads a message with its MIME tree (storage.LoadMessage:
// the tree the store cached at save, or parsed and cached now). Large
// messages are mapped, not read into the heap; release must be called
// when msg.Raw and every slice of it are no longer used.
func (s *Session) loadMessage(uid uint32) (msg *message.Message, release func(), err error) {
	return storage.LoadMessage(s.mbox, uid)
}
