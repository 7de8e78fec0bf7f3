package imapd

import (
	"sort"
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// listOpts are the LIST-EXTENDED options (RFC 5258, RFC 5819, RFC 6154).
type listOpts struct {
	selSubscribed, selSpecialUse, recursive bool
	retSubscribed, retChildren, retSpecial  bool
	status                                  []string
	extended                                bool
}

// cmdList: RFC 9051 §6.3.9 with RFC 5258 selection and return options.
func cmdList(s *Session, c *cmdCtx) error {
	args := c.args
	var o listOpts
	if len(args) > 0 && args[0].Kind == imap.List {
		o.extended = true
		for _, a := range args[0].List {
			if a.Kind != imap.Atom {
				return bad("Invalid selection option.")
			}
			switch strings.ToUpper(a.Value) {
			case "SUBSCRIBED":
				o.selSubscribed = true
			case "REMOTE":
			case "RECURSIVEMATCH":
				o.recursive = true
			case "SPECIAL-USE":
				o.selSpecialUse = true
			default:
				return bad("Unknown selection option %s.", a.Value)
			}
		}
		if o.recursive && !o.selSubscribed {
			// RFC 5258 §3: RECURSIVEMATCH needs another selection option.
			return bad("RECURSIVEMATCH needs SUBSCRIBED.")
		}
		args = args[1:]
	}
	if len(args) == 4 && args[2].Kind == imap.Atom && strings.EqualFold(args[2].Value, "RETURN") && args[3].Kind == imap.List {
		o.extended = true
		ret := args[3].List
		for i := 0; i < len(ret); i++ {
			a := ret[i]
			if a.Kind != imap.Atom {
				return bad("Invalid return option.")
			}
			switch strings.ToUpper(a.Value) {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecial = true
			case "STATUS":
				if i+1 >= len(ret) {
					return bad("Missing STATUS items.")
				}
				items, err := s.parseStatusItems(ret[i+1])
				if err != nil {
					return err
				}
				o.status = items
				i++
			default:
				return bad("Unknown return option %s.", a.Value)
			}
		}
		args = args[:2]
	}
	if len(args) != 2 {
		return bad("Invalid arguments.")
	}
	ref, ok := args[0].AString()
	if !ok {
		return bad("Invalid reference.")
	}
	var patterns []string
	switch args[1].Kind {
	case imap.List:
		o.extended = true
		for _, p := range args[1].List {
			v, ok := p.AString()
			if !ok {
				return bad("Invalid pattern.")
			}
			patterns = append(patterns, v)
		}
	default:
		v, ok := args[1].AString()
		if !ok {
			return bad("Invalid pattern.")
		}
		patterns = []string{v}
	}
	refU, err := s.mailboxIn(ref)
	if err != nil {
		return err
	}
	if len(patterns) == 1 && patterns[0] == "" && !o.extended {
		// RFC 9051 §6.3.9: the hierarchy delimiter and root of ref.
		s.w.WriteString(`* LIST (\Noselect) ` + s.sepQuoted(refU) + ` ""` + "\r\n")
		return nil
	}
	var pats []string
	for _, p := range patterns {
		pu, err := s.mailboxIn(p)
		if err != nil {
			return err
		}
		pats = append(pats, canonicalPattern(refU+pu))
	}
	return s.list(pats, o, "LIST")
}

// cmdLsub: RFC 3501 §6.3.9.
func cmdLsub(s *Session, c *cmdCtx) error {
	if len(c.args) != 2 {
		return bad("Invalid arguments.")
	}
	ref, ok1 := c.args[0].AString()
	pat, ok2 := c.args[1].AString()
	if !ok1 || !ok2 {
		return bad("Invalid arguments.")
	}
	refU, err := s.mailboxIn(ref)
	if err != nil {
		return err
	}
	patU, err := s.mailboxIn(pat)
	if err != nil {
		return err
	}
	if patU == "" {
		s.w.WriteString(`* LSUB (\Noselect) ` + s.sepQuoted(refU) + ` ""` + "\r\n")
		return nil
	}
	return s.list([]string{canonicalPattern(refU + patU)}, listOpts{selSubscribed: true}, "LSUB")
}

// canonicalPattern makes a leading INBOX match case-insensitively.
func canonicalPattern(p string) string {
	if len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || !isNameChar(p[5])) {
		return "INBOX" + p[5:]
	}
	return p
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func (s *Session) list(pats []string, o listOpts, verb string) error {
	infos, err := s.user.List()
	if err != nil {
		return err
	}
	byName := make(map[string]storage.MailboxInfo, len(infos))
	for _, mi := range infos {
		byName[mi.Name] = mi
	}
	var subs map[string]bool
	if o.selSubscribed || o.retSubscribed || verb == "LSUB" {
		names, err := s.user.Subscriptions()
		if err != nil {
			return err
		}
		subs = make(map[string]bool, len(names))
		for _, n := range names {
			subs[n] = true
		}
	}
	matches := func(name string) bool {
		sep := byte('/')
		if ns := s.nsOf(name); ns != nil {
			sep = ns.Sep
		}
		for _, p := range pats {
			if imap.MatchList(p, listName(name), sep) {
				return true
			}
		}
		return false
	}
	type entry struct {
		name      string
		attrs     []string
		childInfo bool
		selecable bool
	}
	var out []entry
	if o.selSubscribed {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		listed := map[string]bool{}
		for _, n := range names {
			if !matches(n) {
				continue
			}
			mi, exists := byName[n]
			e := entry{name: n, selecable: exists && !mi.NoSelect}
			if verb == "LSUB" {
				if exists && mi.NoSelect {
					e.attrs = append(e.attrs, `\Noselect`)
				}
			} else {
				e.attrs = s.listAttrs(mi, exists, true, o)
			}
			listed[n] = true
			out = append(out, e)
		}
		if o.recursive {
			// RFC 5258 §3.5: a matching parent of a subscribed child that
			// is not itself subscribed is listed with CHILDINFO.
			for _, n := range names {
				ns := s.nsOf(n)
				if ns == nil {
					continue
				}
				for i := len(n) - 1; i > 0; i-- {
					if n[i] != ns.Sep {
						continue
					}
					parent := n[:i]
					if listed[parent] || !matches(parent) {
						continue
					}
					mi, exists := byName[parent]
					listed[parent] = true
					out = append(out, entry{name: parent, attrs: s.listAttrs(mi, exists, subs[parent], o), childInfo: true, selecable: exists && !mi.NoSelect})
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		}
	} else {
		for _, mi := range infos {
			if !matches(mi.Name) {
				continue
			}
			if o.selSpecialUse && len(mi.SpecialUse) == 0 {
				continue
			}
			out = append(out, entry{name: mi.Name, attrs: s.listAttrs(mi, true, subs[mi.Name], o), selecable: !mi.NoSelect})
		}
	}
	for _, e := range out {
		s.w.WriteString("* " + verb + " (" + strings.Join(e.attrs, " ") + ") " + s.sepQuoted(e.name) + " ")
		s.w.AString(s.mailboxOut(e.name))
		if e.childInfo {
			s.w.WriteString(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		s.w.CRLF()
		if len(o.status) > 0 && e.selecable {
			// RFC 5819 §2: a mailbox whose STATUS fails is listed
			// without one.
			if err := s.writeStatus(e.name, o.status); err != nil {
				s.log.Debug("LIST-STATUS failed", zapErr(err))
			}
		}
	}
	return nil
}

// listAttrs renders a LIST entry's attributes.
func (s *Session) listAttrs(mi storage.MailboxInfo, exists, subscribed bool, o listOpts) []string {
	var a []string
	if !exists {
		a = append(a, `\NonExistent`)
	} else {
		switch {
		case mi.NonExistent && (o.extended || s.rev2):
			// RFC 9051 §7.3.1 and RFC 5258 §3: a level that is only
			// the parent of others is \NonExistent (which implies
			// \Noselect); IMAP4rev1 clients without LIST-EXTENDED
			// syntax get \Noselect, as from Dovecot.
			a = append(a, `\NonExistent`)
		case mi.NoSelect:
			a = append(a, `\Noselect`)
		}
		if mi.NoInferiors {
			a = append(a, `\NoInferiors`)
		} else if mi.Children {
			a = append(a, `\HasChildren`)
		} else {
			a = append(a, `\HasNoChildren`)
		}
		a = append(a, mi.SpecialUse...)
	}
	if subscribed && (o.selSubscribed || o.retSubscribed) {
		a = append(a, `\Subscribed`)
	}
	return a
}

// listName is a name as patterns see it: INBOX in upper case.
func listName(name string) string {
	if storage.IsInbox(name) {
		return "INBOX"
	}
	return name
}
