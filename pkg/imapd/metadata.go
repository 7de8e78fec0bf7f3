package imapd

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// METADATA (RFC 5464): GETMETADATA and SETMETADATA over the store's
// records (storage.User.Metadata, UpdateMetadata), when Config.Metadata
// (Dovecot's imap_metadata = yes). Server entries are those of the
// mailbox "". One user owns every mailbox of the personal namespace, so
// /shared entries are simply visible to all of that user's sessions, and
// /private ones too: both are kept, neither is refused (no NOPRIVATE).

// Limits of the store's records, announced by the response codes that
// enforce them.
const (
	// MaxMetadataValue is the largest value SETMETADATA accepts
	// ([METADATA MAXSIZE n]).
	MaxMetadataValue = 16 * 1024
	// MaxMetadataEntries is how many entries a mailbox (or the server)
	// may hold ([METADATA TOOMANY]); with MaxMetadataValue it bounds a
	// record, which every update rewrites.
	MaxMetadataEntries = 256
)

// errNoMetadata answers the METADATA commands when Config.Metadata is
// off: to the client they do not exist.
var errNoMetadata = bad("Unknown command.")

// metadataMailbox reads the mailbox argument: "" is the server.
func (s *Session) metadataMailbox(a imap.Arg) (name, out string, err error) {
	if v, ok := a.AString(); ok && v == "" && a.Kind == imap.String {
		return "", "", nil
	}
	name, err = s.mailboxArg(a)
	if err != nil {
		return "", "", err
	}
	return name, s.mailboxOut(name), nil
}

// cmdGetMetadata: RFC 5464 §4.2.
func cmdGetMetadata(s *Session, c *cmdCtx) error {
	if !s.cfg.Metadata {
		return errNoMetadata
	}
	// RFC 5464's grammar puts the options before the mailbox, its
	// examples after it; both are accepted.
	args := slices.Clone(c.args)
	var opts []imap.Arg
	switch {
	case len(args) > 2 && args[0].Kind == imap.List:
		opts, args = args[0].List, args[1:]
	case len(args) > 2 && args[1].Kind == imap.List:
		opts = args[1].List
		args = append(args[:1], args[2:]...)
	}
	maxSize := int64(-1)
	depth := 0 // -1 is infinity
	if opts != nil {
		if len(opts)%2 != 0 {
			return bad("Invalid options.")
		}
		for i := 0; i < len(opts); i += 2 {
			k, v := opts[i], opts[i+1]
			if k.Kind != imap.Atom || v.Kind != imap.Atom {
				return bad("Invalid options.")
			}
			switch strings.ToUpper(k.Value) {
			case "MAXSIZE":
				n, err := strconv.ParseUint(v.Value, 10, 32)
				if err != nil {
					return bad("Invalid MAXSIZE.")
				}
				maxSize = int64(n)
			case "DEPTH":
				switch strings.ToLower(v.Value) {
				case "0":
					depth = 0
				case "1":
					depth = 1
				case "infinity":
					depth = -1
				default:
					return bad("Invalid DEPTH.")
				}
			default:
				return bad("Unknown option.")
			}
		}
	}
	if len(args) < 2 {
		return bad("Invalid arguments.")
	}
	name, out, err := s.metadataMailbox(args[0])
	if err != nil {
		return err
	}
	var req []imap.Arg
	if len(args) == 2 && args[1].Kind == imap.List {
		req = args[1].List
	} else {
		req = args[1:]
	}
	if len(req) == 0 {
		return bad("Invalid arguments.")
	}
	type entry struct {
		name string
		leaf bool
	}
	entries := make([]entry, 0, len(req))
	for _, a := range req {
		v, ok := a.AString()
		if !ok {
			return bad("Invalid entry.")
		}
		e, leaf, ok := imap.MetadataEntry(v)
		if !ok {
			return bad("Invalid entry name.")
		}
		entries = append(entries, entry{e, leaf})
	}
	m, err := s.user.Metadata(name)
	if err != nil {
		return err
	}
	var names []string
	var values [][]byte
	seen := map[string]bool{}
	var longest int64
	add := func(e string, v []byte) {
		if seen[e] {
			return
		}
		seen[e] = true
		if v != nil && maxSize >= 0 && int64(len(v)) > maxSize {
			longest = max(longest, int64(len(v)))
			return
		}
		names = append(names, e)
		values = append(values, v)
	}
	for _, en := range entries {
		e := en.name
		v, ok := m[e]
		// The entry itself, NIL when it has no value (as Dovecot
		// answers), except names that cannot have one ("/private",
		// "/shared/vendor") and only name subtrees.
		if ok || (en.leaf && depth == 0) {
			add(e, v)
		}
		if depth == 0 {
			continue
		}
		var kids []string
		for k := range m {
			rest, found := strings.CutPrefix(k, e+"/")
			if found && (depth < 0 || !strings.Contains(rest, "/")) {
				kids = append(kids, k)
			}
		}
		sort.Strings(kids)
		for _, k := range kids {
			add(k, m[k])
		}
	}
	if len(names) > 0 {
		s.w.MetadataResponse(out, names, values)
	}
	if longest > 0 {
		// RFC 5464 §4.2.1: the size of the biggest value left out.
		c.code = "METADATA LONGENTRIES " + itoa64(longest)
	}
	return nil
}

// cmdSetMetadata: RFC 5464 §4.3.
func cmdSetMetadata(s *Session, c *cmdCtx) error {
	if !s.cfg.Metadata {
		return errNoMetadata
	}
	if len(c.args) != 2 || c.args[1].Kind != imap.List {
		return bad("Invalid arguments.")
	}
	name, _, err := s.metadataMailbox(c.args[0])
	if err != nil {
		return err
	}
	list := c.args[1].List
	if len(list) == 0 || len(list)%2 != 0 {
		return bad("Invalid arguments.")
	}
	set := make(map[string][]byte, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		v, ok := list[i].AString()
		if !ok {
			return bad("Invalid entry.")
		}
		e, leaf, ok := imap.MetadataEntry(v)
		if !ok || !leaf {
			return bad("Invalid entry name.")
		}
		val := list[i+1]
		switch val.Kind {
		case imap.NIL:
			set[e] = nil
		case imap.String:
			if len(val.Value) > MaxMetadataValue {
				return no("METADATA MAXSIZE "+itoa64(MaxMetadataValue), "Metadata value is too large.")
			}
			set[e] = []byte(val.Value)
		default:
			return bad("Invalid value.")
		}
	}
	err = s.user.UpdateMetadata(name, set, func(m map[string][]byte) error {
		if len(m) > MaxMetadataEntries {
			return storage.ErrMetadataTooMany
		}
		return nil
	})
	if errors.Is(err, storage.ErrMetadataTooMany) {
		return no("METADATA TOOMANY", "Too many metadata entries.")
	}
	return err
}
