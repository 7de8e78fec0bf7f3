package mailuser

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// Namespaces converts the `namespace {}` sections (with their `mailbox {}`
// sections) of a configuration root into NamespaceConfigs. Every setting of
// those sections that the schema accepts at a non-Dovecot default is
// honoured here or by storage.User.
func Namespaces(root *settings.Section) []storage.NamespaceConfig {
	var out []storage.NamespaceConfig
	for _, s := range root.Children(settings.KindNamespace) {
		nc := storage.NamespaceConfig{
			Name:          s.Name,
			Prefix:        s.Get("prefix"),
			Separator:     s.Get("separator"),
			Location:      s.Get("location"),
			Inbox:         s.Bool("inbox"),
			Hidden:        s.Bool("hidden"),
			List:          s.Get("list"),
			Subscriptions: s.Bool("subscriptions"),
		}
		for _, m := range s.Children(settings.KindMailbox) {
			nc.Mailboxes = append(nc.Mailboxes, storage.MailboxConfig{
				Name:       m.Name,
				SpecialUse: m.List("special_use"),
				Auto:       m.Get("auto"),
			})
		}
		out = append(out, nc)
	}
	return out
}

// User is what the userdb returned for a user (Dovecot's userdb fields:
// uid, gid, home, mail, quota_rule, quota_rule2, ...).
type User struct {
	Name   string
	Fields map[string]string
}

// Config builds the UserConfig of u from root, the settings as the
// service's protocol sees them (settings.Config.Protocol). The userdb
// `mail` field overrides mail_location and `home` gives ~; quota rules
// come from `plugin {}` unless the userdb sets the same key (quota_rule,
// quota_rule2, ...), as Dovecot merges userdb fields over plugin settings.
func Config(root *settings.Section, u User) (storage.UserConfig, error) {
	cfg := storage.UserConfig{
		Name:         u.Name,
		Home:         u.Fields["home"],
		MailLocation: root.Get("mail_location"),
		Namespaces:   Namespaces(root),
	}
	if m := u.Fields["mail"]; m != "" {
		cfg.MailLocation = m
	}
	for _, k := range []string{"uid", "gid"} {
		v, ok := u.Fields[k]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return storage.UserConfig{}, fmt.Errorf("userdb field %s=%q is not numeric", k, v)
		}
		if k == "uid" {
			cfg.UID = n
		} else {
			cfg.GID = n
		}
	}
	q, err := QuotaConfig(root, u.Fields)
	if err != nil {
		return storage.UserConfig{}, err
	}
	cfg.QuotaBackend, cfg.QuotaRoot, cfg.QuotaRules, cfg.QuotaVSizes = q.Backend, q.Root, q.Rules, q.VSizes
	return cfg, nil
}

// Quota is a user's quota configuration, as storage.UserConfig takes it.
type Quota struct {
	Backend string   // "maildir" or "count"; "" when no quota applies
	Root    string   // the quota root name (RFC 9208), "User quota" by default
	Rules   []string // quota_rule values in order: quota_rule, quota_rule2, ...
	VSizes  bool     // quota_vsizes = yes: count RFC822.SIZE (count backend only)
}

// MaxMailSize is the quota plugin's quota_max_mail_size: the largest
// message a save accepts, which the imap process advertises as
// APPENDLIMIT (RFC 7889). Zero means no limit, as in Dovecot, and so
// does a configuration without the quota plugin. A later plugin { }
// section overrides an earlier one, as in QuotaConfig.
func MaxMailSize(root *settings.Section) (int64, error) {
	if !slices.Contains(root.List("mail_plugins"), "quota") {
		return 0, nil
	}
	raw := ""
	for _, p := range root.Children(settings.KindPlugin) {
		if v, ok := p.Values["quota_max_mail_size"]; ok {
			raw = v.Raw
		}
	}
	if strings.TrimSpace(raw) == "" {
		return 0, nil
	}
	n, err := settings.ParseSize(raw)
	if err != nil {
		return 0, fmt.Errorf("plugin quota_max_mail_size = %s: %v", raw, err)
	}
	if n > 1<<62 {
		return 0, fmt.Errorf("plugin quota_max_mail_size = %s: too large", raw)
	}
	return int64(n), nil
}

// QuotaConfig reads the quota of a user: nothing unless mail_plugins
// holds quota; then the `quota` plugin setting (`maildir[:root name]` or
// `count[:root name]`) and the quota_rule, quota_rule2, ... values of the
// plugin section overridden by the userdb fields of the same name.
func QuotaConfig(root *settings.Section, fields map[string]string) (Quota, error) {
	if !slices.Contains(root.List("mail_plugins"), "quota") {
		for k := range fields {
			if isRuleKey(k) {
				return Quota{}, fmt.Errorf("userdb field %s is set but mail_plugins does not hold quota: add mail_plugins = $mail_plugins quota", k)
			}
		}
		return Quota{}, nil
	}
	plugin := map[string]string{}
	for _, p := range root.Children(settings.KindPlugin) {
		for k, v := range p.Values {
			plugin[k] = v.Raw
		}
	}
	var q Quota
	backend := plugin["quota"]
	if v, ok := fields["quota"]; ok {
		backend = v
	}
	if strings.TrimSpace(backend) == "" {
		return q, fmt.Errorf("mail_plugins holds quota but plugin { quota } is not set: use quota = maildir:User quota or quota = count:User quota")
	}
	kind, name, _ := strings.Cut(backend, ":")
	name, params, _ := strings.Cut(name, ":")
	switch kind {
	case "maildir", "count":
		q.Backend = kind
	default:
		return q, fmt.Errorf("plugin quota = %s: only the maildir and count backends are supported", backend)
	}
	if params != "" {
		return q, fmt.Errorf("plugin quota = %s: backend parameters are not supported", backend)
	}
	q.Root = name
	if q.Root == "" {
		q.Root = "User quota"
	}
	for k := range plugin {
		if strings.HasPrefix(k, "quota") && k != "quota" && k != "quota_vsizes" && k != "quota_max_mail_size" && !isRuleKey(k) {
			return q, fmt.Errorf("plugin %s: not supported (cote honours quota, quota_vsizes, quota_max_mail_size and quota_rule, quota_rule2, ...)", k)
		}
	}
	if v, ok := plugin["quota_vsizes"]; ok {
		b, err := settings.ParseBool(v)
		if err != nil {
			return q, fmt.Errorf("plugin quota_vsizes = %s: %v", v, err)
		}
		if b && q.Backend != "count" {
			return q, fmt.Errorf("plugin quota_vsizes = yes needs quota = count (maildirsize holds file sizes)")
		}
		q.VSizes = b
	}
	rules := map[string]string{}
	for k, v := range plugin {
		if isRuleKey(k) {
			rules[k] = v
		}
	}
	for k, v := range fields {
		if isRuleKey(k) {
			rules[k] = v
		}
	}
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return ruleIndex(keys[i]) < ruleIndex(keys[j]) })
	for _, k := range keys {
		if strings.TrimSpace(rules[k]) == "" {
			continue
		}
		q.Rules = append(q.Rules, rules[k])
	}
	return q, nil
}

// isRuleKey matches quota_rule and quota_rule2, quota_rule3, ...
func isRuleKey(k string) bool { return ruleIndex(k) > 0 }

func ruleIndex(k string) int {
	rest, ok := strings.CutPrefix(k, "quota_rule")
	if !ok {
		return 0
	}
	if rest == "" {
		return 1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 {
		return 0
	}
	return n
}
