package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
)

// UserConfig is what opening a user's mail needs: the userdb fields and
// the namespace configuration.
type UserConfig struct {
	Name         string
	Home         string // userdb home, for ~ in locations
	MailLocation string // userdb mail or mail_location, %-expanded
	UID, GID     int    // the owner of files the store creates (informational: the process already runs as it)
	// QuotaRules are quota_rule values (`*:storage=1G`), from the
	// configuration or the userdb's quota_rule field (pkg/mailuser
	// merges them).
	QuotaRules []string
	// QuotaBackend is how usage is counted: "count" (the default) sums
	// the sizes the mailbox indexes keep; "maildir" keeps a Maildir++
	// maildirsize file up to date as Dovecot's quota = maildir does, so
	// Dovecot, Courier and maildrop see the same usage.
	QuotaBackend string
	// QuotaRoot names the quota root for RFC 9208 (the name part of
	// Dovecot's `quota = maildir:User quota`); "" means "User quota".
	QuotaRoot string
	// QuotaVSizes counts RFC822.SIZE (CRLF) sizes instead of file sizes
	// (Dovecot's quota_vsizes = yes); only with the count backend.
	QuotaVSizes bool
	// Namespaces from `namespace {}` sections; none means one inbox
	// namespace with separator "/" and an empty prefix, as Dovecot
	// creates when none is configured.
	Namespaces []NamespaceConfig
}

// NamespaceConfig is one `namespace NAME { }` section.
type NamespaceConfig struct {
	Name          string
	Prefix        string
	Separator     string // one character; "" means "/"
	Location      string // "" means the user's MailLocation
	Inbox         bool
	Hidden        bool
	List          string // "yes", "no", "children"
	Subscriptions bool
	Mailboxes     []MailboxConfig
}

// MailboxConfig is one `mailbox NAME { }` section of a namespace.
type MailboxConfig struct {
	Name       string // relative to the namespace prefix, with its separator
	SpecialUse []string
	Auto       string // "no", "create", "subscribe"
}

// Driver opens the store at a location. The User passes quota, which
// the driver calls before it commits a save (nil when unlimited).
type Driver func(loc Location, opts DriverOptions) (Storage, error)

// DriverOptions are passed to a Driver.
type DriverOptions struct {
	Log *zap.Logger
	// CheckQuota returns ErrOverQuota (wrapped) if adding bytes and msgs
	// would exceed the user's quota; nil when no quota applies.
	CheckQuota func(bytes, msgs int64) error
	// QuotaBackend is UserConfig.QuotaBackend ("" when no quota
	// applies) and QuotaLimits the limits, which a maildirsize file
	// records in its first line.
	QuotaBackend string
	QuotaLimits  Quota
	QuotaVSizes  bool
}

// Namespace is an opened namespace.
type Namespace struct {
	NamespaceConfig
	Sep   byte
	Store Storage
	// root is the location's path, where the special-use record
	// (specialUseFile) of the namespace's mailboxes lives.
	root string
}

// User is one user's mail: namespaces over stores. It is safe for one
// session at a time; each session opens its own User.
type User struct {
	cfg   UserConfig
	log   *zap.Logger
	ns    []*Namespace
	quota Quota
}

// OpenUser opens the stores of cfg's namespaces with the drivers given
// by name ("maildir": maildir.Open), creates the `auto` mailboxes and
// returns the User.
func OpenUser(cfg UserConfig, drivers map[string]Driver, log *zap.Logger) (*User, error) {
	if log == nil {
		log = zap.NewNop()
	}
	u := &User{cfg: cfg, log: log.With(zap.String("user", cfg.Name))}
	for _, r := range cfg.QuotaRules {
		if err := ParseQuotaRule(r, &u.quota); err != nil {
			return nil, Errorf("open", "", ErrTemporary, err)
		}
	}
	switch cfg.QuotaBackend {
	case "", "count", "maildir":
	default:
		return nil, Errorf("open", "", ErrTemporary, fmt.Errorf("quota backend %q is not supported (maildir or count)", cfg.QuotaBackend))
	}
	if cfg.QuotaVSizes && cfg.QuotaBackend == "maildir" {
		// maildirsize holds file sizes for every program that reads it.
		return nil, Errorf("open", "", ErrTemporary, errors.New("quota_vsizes works with the count backend only"))
	}
	nss := cfg.Namespaces
	if len(nss) == 0 {
		nss = []NamespaceConfig{{Separator: "/", Inbox: true, List: "yes", Subscriptions: true}}
	}
	inboxes := 0
	opts := DriverOptions{Log: u.log}
	if u.quota.StorageBytes > 0 || u.quota.Messages > 0 {
		opts.CheckQuota = u.checkQuota
	}
	if opts.CheckQuota != nil || cfg.QuotaBackend != "" {
		opts.QuotaBackend = cfg.QuotaBackend
		if opts.QuotaBackend == "" {
			opts.QuotaBackend = "count"
		}
		opts.QuotaLimits = u.quota
		opts.QuotaVSizes = cfg.QuotaVSizes
	}
	for _, nc := range nss {
		sep := nc.Separator
		if sep == "" {
			sep = "/"
		}
		if len(sep) != 1 {
			u.Close()
			return nil, Errorf("open", "", ErrTemporary, fmt.Errorf("namespace %q: separator %q is not one character", nc.Name, sep))
		}
		if nc.Inbox {
			inboxes++
		}
		locStr := nc.Location
		if locStr == "" {
			locStr = cfg.MailLocation
		}
		if strings.TrimSpace(locStr) == "" {
			u.Close()
			return nil, Errorf("open", "", ErrTemporary, errors.New("no mail location: set mail_location or the userdb mail field"))
		}
		loc, err := ParseLocation(locStr, cfg.Home)
		if err != nil {
			u.Close()
			return nil, Errorf("open", "", ErrTemporary, err)
		}
		drv := drivers[loc.Driver]
		if drv == nil {
			u.Close()
			return nil, Errorf("open", "", ErrTemporary, fmt.Errorf("mail location driver %q is not supported", loc.Driver))
		}
		st, err := drv(loc, opts)
		if err != nil {
			u.Close()
			return nil, err
		}
		u.ns = append(u.ns, &Namespace{NamespaceConfig: nc, Sep: sep[0], Store: st, root: loc.Path})
	}
	if inboxes != 1 {
		u.Close()
		return nil, Errorf("open", "", ErrTemporary, fmt.Errorf("%d namespaces have inbox = yes; exactly one must", inboxes))
	}
	if err := u.autoCreate(); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// Name returns the user name.
func (u *User) Name() string { return u.cfg.Name }

// Namespaces returns the opened namespaces in configuration order.
func (u *User) Namespaces() []*Namespace { return u.ns }

// Quota returns the user's limits (zero fields: unlimited).
func (u *User) Quota() Quota { return u.quota }

// Usage sums what every store of the user holds.
func (u *User) Usage() (QuotaUsage, error) {
	var total QuotaUsage
	for _, ns := range u.ns {
		us, err := ns.Store.Usage()
		if err != nil {
			return QuotaUsage{}, err
		}
		total.Bytes += us.Bytes
		total.Messages += us.Messages
	}
	return total, nil
}

func (u *User) checkQuota(bytes, msgs int64) error {
	us, err := u.Usage()
	if err != nil {
		return err
	}
	if u.quota.Exceeds(us, bytes, msgs) {
		return Errorf("save", "", ErrOverQuota, nil)
	}
	return nil
}

// Close closes every store.
func (u *User) Close() error {
	var first error
	for _, ns := range u.ns {
		if err := ns.Store.Close(); err != nil && first == nil {
			first = err
		}
	}
	u.ns = nil
	return first
}

// resolve maps a full IMAP name (UTF-8, the namespace's separator) to its
// namespace and store name.
func (u *User) resolve(name string) (*Namespace, string, error) {
	if IsInbox(name) {
		for _, ns := range u.ns {
			if ns.Inbox {
				return ns, "INBOX", nil
			}
		}
	}
	var best *Namespace
	for _, ns := range u.ns {
		if hasNSPrefix(name, ns.Prefix) && (best == nil || len(ns.Prefix) > len(best.Prefix)) {
			best = ns
		}
	}
	if best == nil {
		return nil, "", Errorf("resolve", name, ErrNotFound, errors.New("no namespace holds this name"))
	}
	rel := name[len(best.Prefix):]
	if rel == "" {
		return nil, "", Errorf("resolve", name, ErrNotFound, errors.New("the namespace prefix is not a mailbox"))
	}
	levels := strings.Split(rel, string(best.Sep))
	if best.Inbox && IsInbox(levels[0]) {
		levels[0] = "INBOX"
	}
	store := strings.Join(levels, "/")
	if best.Sep != '/' {
		for _, l := range levels {
			if strings.Contains(l, "/") {
				return nil, "", Errorf("resolve", name, ErrInvalid, errors.New("name contains '/'"))
			}
		}
	}
	if err := ValidStoreName(store); err != nil {
		return nil, "", Errorf("resolve", name, ErrInvalid, err)
	}
	return best, store, nil
}

// Resolve maps a full IMAP name to its namespace and store name; two
// names are the same mailbox when both match.
func (u *User) Resolve(name string) (*Namespace, string, error) { return u.resolve(name) }

// hasNSPrefix matches a namespace prefix, case-insensitively for a
// leading INBOX as RFC 9051 §5.1 requires of INBOX.
func hasNSPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	if len(prefix) >= 5 && strings.EqualFold(prefix[:5], "INBOX") {
		return strings.EqualFold(name[:5], prefix[:5]) && name[5:len(prefix)] == prefix[5:]
	}
	return name[:len(prefix)] == prefix
}

// fullName maps a store name back to the IMAP name.
func (ns *Namespace) fullName(store string) string {
	if store == "INBOX" && ns.Inbox {
		return "INBOX"
	}
	return ns.Prefix + strings.ReplaceAll(store, "/", string(ns.Sep))
}

// FullName returns the IMAP name of a store name of ns.
func (ns *Namespace) FullName(store string) string { return ns.fullName(store) }

func (ns *Namespace) mailboxConfig(store string) *MailboxConfig {
	rel := strings.TrimPrefix(ns.fullName(store), ns.Prefix)
	for i := range ns.Mailboxes {
		if ns.Mailboxes[i].Name == rel || (IsInbox(rel) && IsInbox(ns.Mailboxes[i].Name)) {
			return &ns.Mailboxes[i]
		}
	}
	return nil
}

func (u *User) autoCreate() error {
	for _, ns := range u.ns {
		for _, mc := range ns.Mailboxes {
			if mc.Auto != "create" && mc.Auto != "subscribe" {
				continue
			}
			full := ns.Prefix + mc.Name
			if IsInbox(mc.Name) && ns.Inbox {
				full = "INBOX"
			}
			_, store, err := u.resolve(full)
			if err != nil {
				return err
			}
			if err := ns.Store.Create(store); err != nil && KindOf(err) != ErrExists {
				return err
			}
			if mc.Auto == "subscribe" {
				if err := u.storeFor(ns).SetSubscribed(u.subName(ns, store), true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// storeFor returns the store that keeps ns's subscriptions: its own, or
// (subscriptions = no) the inbox namespace's, as Dovecot does.
func (u *User) storeFor(ns *Namespace) Storage {
	if ns.Subscriptions {
		return ns.Store
	}
	for _, o := range u.ns {
		if o.Inbox {
			return o.Store
		}
	}
	return ns.Store
}

// subName is the name recorded in a subscriptions file: relative to the
// namespace when it keeps its own, else the full name.
func (u *User) subName(ns *Namespace, store string) string {
	if ns.Subscriptions {
		return store
	}
	return ns.fullName(store)
}

// List returns every mailbox of every listed namespace with full IMAP
// names, subscription and special-use filled, sorted by name.
func (u *User) List() ([]MailboxInfo, error) {
	var out []MailboxInfo
	for _, ns := range u.ns {
		if ns.List == "no" {
			continue
		}
		infos, err := ns.Store.List()
		if err != nil {
			return nil, err
		}
		subs, err := u.subscribedSet(ns)
		if err != nil {
			return nil, err
		}
		recorded, err := ns.readSpecialUse()
		if err != nil {
			return nil, err
		}
		// With `prefix = INBOX.` every other mailbox of the namespace
		// is a child of INBOX in IMAP terms, though a sibling in the
		// store (RFC 3348 \HasChildren, as Dovecot lists it).
		inboxParent := ns.Inbox && len(ns.Prefix) == 6 && IsInbox(ns.Prefix[:5]) && ns.Prefix[5] == ns.Sep && len(infos) > 1
		for _, mi := range infos {
			if inboxParent && IsInbox(mi.Name) {
				mi.Children = true
			}
			if ns.Inbox == false && IsInbox(mi.Name) {
				continue
			}
			if !ns.Inbox && ns.Prefix == "" && IsInbox(mi.Name) {
				continue
			}
			mi.Subscribed = subs[u.subName(ns, mi.Name)]
			if mc := ns.mailboxConfig(mi.Name); mc != nil && len(mc.SpecialUse) > 0 {
				mi.SpecialUse = mc.SpecialUse
			} else if uses := recorded[mi.Name]; len(uses) > 0 {
				mi.SpecialUse = uses
			}
			mi.Name = ns.fullName(mi.Name)
			out = append(out, mi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Subscriptions returns the full names of subscribed mailboxes, existing
// or not (RFC 9051 §6.3.9: LSUB/LIST SUBSCRIBED shows both).
func (u *User) Subscriptions() ([]string, error) {
	var out []string
	for _, ns := range u.ns {
		if !ns.Subscriptions {
			continue
		}
		subs, err := ns.Store.Subscriptions()
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if ns.Inbox && u.recordedFull(s) {
				out = append(out, s)
				continue
			}
			out = append(out, ns.fullName(s))
		}
	}
	sort.Strings(out)
	return out, nil
}

// recordedFull reports whether a subscriptions entry of the inbox
// namespace is the full name of a mailbox of a namespace that keeps no
// subscriptions of its own.
func (u *User) recordedFull(s string) bool {
	for _, o := range u.ns {
		if !o.Subscriptions && o.Prefix != "" && hasNSPrefix(s, o.Prefix) {
			return true
		}
	}
	return false
}

func (u *User) subscribedSet(ns *Namespace) (map[string]bool, error) {
	subs, err := u.storeFor(ns).Subscriptions()
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(subs))
	for _, s := range subs {
		m[s] = true
	}
	return m, nil
}

// Create creates a mailbox (RFC 9051 §6.3.4); a trailing separator is
// ignored.
func (u *User) Create(name string) error {
	ns, store, err := u.resolveTrim(name)
	if err != nil {
		return err
	}
	if IsInbox(store) {
		return Errorf("create", name, ErrExists, nil)
	}
	return ns.Store.Create(store)
}

func (u *User) resolveTrim(name string) (*Namespace, string, error) {
	for _, ns := range u.ns {
		if len(name) > len(ns.Prefix) && name[len(name)-1] == ns.Sep && hasNSPrefix(name, ns.Prefix) {
			name = name[:len(name)-1]
			break
		}
	}
	return u.resolve(name)
}

// Delete deletes a mailbox (RFC 9051 §6.3.5); INBOX cannot be deleted.
func (u *User) Delete(name string) error {
	ns, store, err := u.resolve(name)
	if err != nil {
		return err
	}
	if IsInbox(store) {
		return Errorf("delete", name, ErrInvalid, errors.New("INBOX cannot be deleted"))
	}
	if err := ns.Store.Delete(store); err != nil {
		return err
	}
	// The special use goes with the mailbox, as Dovecot's mailbox
	// attributes do. The mailbox is gone either way: a failure here only
	// leaves a stale entry that a later CREATE of the name overwrites.
	if err := ns.updateSpecialUse(func(m map[string][]string) { delete(m, store) }); err != nil {
		u.log.Warn("special-use record not updated", zap.String("mailbox", name), zap.Error(err))
	}
	return nil
}

// Rename renames a mailbox and its children (RFC 9051 §6.3.6); both names
// must be in one namespace.
func (u *User) Rename(oldName, newName string) error {
	ons, ostore, err := u.resolve(oldName)
	if err != nil {
		return err
	}
	nns, nstore, err := u.resolve(newName)
	if err != nil {
		return err
	}
	if ons != nns {
		return Errorf("rename", oldName, ErrInvalid, errors.New("cannot rename across namespaces"))
	}
	if IsInbox(nstore) {
		return Errorf("rename", newName, ErrExists, nil)
	}
	if err := ons.Store.Rename(ostore, nstore); err != nil {
		return err
	}
	// Special uses move with the mailbox and its children. Renaming
	// INBOX moves its messages, not the mailbox, so nothing moves then.
	if IsInbox(ostore) {
		return nil
	}
	err = ons.updateSpecialUse(func(m map[string][]string) {
		for k, v := range m {
			if k == ostore || strings.HasPrefix(k, ostore+"/") {
				delete(m, k)
				m[nstore+k[len(ostore):]] = v
			}
		}
	})
	if err != nil {
		u.log.Warn("special-use record not updated", zap.String("mailbox", newName), zap.Error(err))
	}
	return nil
}

// SetSubscribed subscribes or unsubscribes a name; the mailbox need not
// exist (RFC 9051 §6.3.7 allows subscribing to a name that does not).
func (u *User) SetSubscribed(name string, on bool) error {
	ns, store, err := u.resolveTrim(name)
	if err != nil {
		return err
	}
	return u.storeFor(ns).SetSubscribed(u.subName(ns, store), on)
}

// Status returns the status of a mailbox without selecting it.
func (u *User) Status(name string) (Status, error) {
	ns, store, err := u.resolve(name)
	if err != nil {
		return Status{}, err
	}
	return ns.Store.Status(store)
}

// Open selects (readOnly false) or examines a mailbox.
func (u *User) Open(name string, readOnly bool) (Mailbox, error) {
	ns, store, err := u.resolve(name)
	if err != nil {
		return nil, err
	}
	return ns.Store.Open(store, readOnly)
}

// OpenSave opens a mailbox to save into without claiming \Recent
// (Storage.OpenSave): for APPEND, COPY and MOVE into a mailbox that is
// not selected, and for delivery.
func (u *User) OpenSave(name string) (Mailbox, error) {
	ns, store, err := u.resolve(name)
	if err != nil {
		return nil, err
	}
	return ns.Store.OpenSave(store)
}

// SpecialUse returns the special-use attributes of a mailbox: those of
// its `mailbox` section if it has any, else those recorded when it was
// created (CreateSpecialUse).
func (u *User) SpecialUse(name string) []string {
	ns, store, err := u.resolve(name)
	if err != nil {
		return nil
	}
	if mc := ns.mailboxConfig(store); mc != nil && len(mc.SpecialUse) > 0 {
		return mc.SpecialUse
	}
	recorded, err := ns.readSpecialUse()
	if err != nil {
		u.log.Warn("special-use record unreadable", zap.Error(err))
		return nil
	}
	return recorded[store]
}

// specialUses are the attributes CREATE may assign: RFC 6154 §2 and
// \Important (RFC 8457), the list Dovecot accepts.
var specialUses = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Important`, `\Junk`, `\Sent`, `\Trash`}

// CanonicalSpecialUse returns the spelling of a special-use attribute
// as RFC 6154 writes it, matched case-insensitively; ok is false for an
// attribute that is not one.
func CanonicalSpecialUse(s string) (string, bool) {
	for _, su := range specialUses {
		if strings.EqualFold(s, su) {
			return su, true
		}
	}
	return "", false
}

// CreateSpecialUse creates a mailbox with special-use attributes (RFC
// 6154 §3, CREATE ... (USE (...))). The attributes are recorded in the
// namespace's specialUseFile, as Dovecot keeps them in the mailbox's
// /private/specialuse attribute; a `mailbox` section's special_use still
// wins. uses must be canonical (CanonicalSpecialUse). If the record
// cannot be written the new mailbox is deleted again: RFC 6154 forbids
// creating it without its use.
func (u *User) CreateSpecialUse(name string, uses []string) error {
	for _, su := range uses {
		if c, ok := CanonicalSpecialUse(su); !ok || c != su {
			return Errorf("create", name, ErrInvalid, fmt.Errorf("%q is not a special-use attribute", su))
		}
	}
	ns, store, err := u.resolveTrim(name)
	if err != nil {
		return err
	}
	if IsInbox(store) {
		return Errorf("create", name, ErrExists, nil)
	}
	if err := ns.Store.Create(store); err != nil {
		return err
	}
	if len(uses) == 0 {
		return nil
	}
	err = ns.updateSpecialUse(func(m map[string][]string) { m[store] = append([]string(nil), uses...) })
	if err != nil {
		if derr := ns.Store.Delete(store); derr != nil {
			u.log.Warn("mailbox without its special use not removed", zap.String("mailbox", name), zap.Error(derr))
		}
		return Errorf("create", name, ErrTemporary, err)
	}
	return nil
}

// specialUseFile records the special uses assigned by CREATE, one
// mailbox a line: its store name as a Go quoted string, a tab, and the
// attributes separated by spaces. It lives in the location's root,
// beside the driver's own files.
const specialUseFile = "cote-special-use"

// readSpecialUse reads the record; a missing file is an empty one.
func (ns *Namespace) readSpecialUse() (map[string][]string, error) {
	m := map[string][]string{}
	if ns.root == "" {
		return m, nil
	}
	data, err := os.ReadFile(filepath.Join(ns.root, specialUseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, Errorf("list", "", ErrTemporary, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		q, rest, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		name, err := strconv.Unquote(q)
		if err != nil {
			continue
		}
		var uses []string
		for _, f := range strings.Fields(rest) {
			if c, ok := CanonicalSpecialUse(f); ok {
				uses = append(uses, c)
			}
		}
		if len(uses) > 0 {
			m[name] = uses
		}
	}
	return m, nil
}

// updateSpecialUse applies edit to the record under an exclusive lock
// (sessions of one user may run at once) and replaces the file
// atomically, so a reader sees the old record or the new one.
func (ns *Namespace) updateSpecialUse(edit func(map[string][]string)) error {
	if ns.root == "" {
		return errors.New("the mail location has no root directory")
	}
	lock, err := os.OpenFile(filepath.Join(ns.root, specialUseFile+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	m, err := ns.readSpecialUse()
	if err != nil {
		return err
	}
	edit(m)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(strconv.Quote(k) + "\t" + strings.Join(m[k], " ") + "\n")
	}
	tmp, err := os.CreateTemp(ns.root, specialUseFile+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(ns.root, specialUseFile))
}
