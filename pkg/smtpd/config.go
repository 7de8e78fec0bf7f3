package smtpd

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/settings"
	caddr "github.com/cote-mail/cote/pkg/smtp"
	"github.com/cote-mail/cote/pkg/tlsconf"
)

// LoadConfig builds the policy part of a Config from the settings (the smtp
// protocol's view). Sink, Users, Auth and Counter are wired by the caller.
// It fails on a setting it cannot honour (an unreadable alias file, a bad
// domain).
func LoadConfig(cfg *settings.Config, log *zap.Logger) (Config, error) {
	if log == nil {
		log = zap.NewNop()
	}
	sec := cfg.Protocol("smtp")
	host := strings.ToLower(strings.TrimSpace(sec.Get("myhostname")))
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return Config{}, fmt.Errorf("myhostname: %w", err)
		}
		host = strings.ToLower(h)
	}
	if _, err := caddr.NormalizeDomain(host); err != nil {
		return Config{}, fmt.Errorf("myhostname %q: %w", host, err)
	}
	domain := strings.ToLower(strings.TrimSpace(sec.Get("mydomain")))
	if domain == "" {
		if _, rest, ok := strings.Cut(host, "."); ok {
			domain = rest
		} else {
			domain = "localdomain" // Postfix's fallback
		}
	}
	expand := func(name string) ([]string, error) {
		var out []string
		for _, v := range sec.List(name) {
			v = strings.ReplaceAll(v, "$myhostname", host)
			v = strings.ReplaceAll(v, "${myhostname}", host)
			v = strings.ReplaceAll(v, "$mydomain", domain)
			v = strings.ReplaceAll(v, "${mydomain}", domain)
			if strings.Contains(v, "$") {
				return nil, fmt.Errorf("%s: only $myhostname and $mydomain can be expanded in %q", name, v)
			}
			if _, err := caddr.NormalizeDomain(strings.TrimPrefix(v, ".")); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, v)
		}
		return out, nil
	}
	c := Config{Hostname: host, Log: log, SMTPUTF8: true, SenderMustMatchLogin: sec.Bool("smtpd_sender_must_match_login")}
	c.Routing.MyHostname = host
	var err error
	if c.Routing.MyDestination, err = expand("mydestination"); err != nil {
		return Config{}, err
	}
	if c.Routing.VirtualMailboxDomains, err = expand("virtual_mailbox_domains"); err != nil {
		return Config{}, err
	}
	if c.Routing.RelayDomains, err = expand("relay_domains"); err != nil {
		return Config{}, err
	}
	if c.MyNetworks, err = parseNetworks(sec.List("mynetworks")); err != nil {
		return Config{}, fmt.Errorf("mynetworks: %w", err)
	}
	c.RecipientDelimiter = sec.Get("recipient_delimiter")
	opt := caddr.AliasOptions{RecipientDelimiter: c.RecipientDelimiter}
	if c.Aliases, err = loadMaps(sec.List("alias_maps"), opt, caddr.LoadAliases); err != nil {
		return Config{}, fmt.Errorf("alias_maps: %w", err)
	}
	if c.VirtualAliases, err = loadMaps(sec.List("virtual_alias_maps"), opt, caddr.LoadVirtualAliases); err != nil {
		return Config{}, fmt.Errorf("virtual_alias_maps: %w", err)
	}
	c.MaxSize = int64(sec.Size("message_size_limit"))
	c.RcptLimit = sec.Int("smtpd_recipient_limit")
	c.ErrorLimit = sec.Int("smtpd_hard_error_limit")
	c.BareNewline = sec.Get("smtpd_forbid_bare_newline")
	c.GreetWait = sec.Duration("postscreen_greet_wait")
	c.ConnCountLimit = sec.Int("smtpd_client_connection_count_limit")
	c.ConnRateLimit = sec.Int("smtpd_client_connection_rate_limit")
	c.RateTimeUnit = sec.Duration("anvil_rate_time_unit")
	if c.ConnRateLimit > 0 && c.RateTimeUnit < time.Second {
		return Config{}, fmt.Errorf("anvil_rate_time_unit: %v is shorter than a second", c.RateTimeUnit)
	}
	if !sec.Bool("smtpd_helo_required") {
		// go-smtp refuses MAIL before HELO/EHLO, and cote does not
		// pretend otherwise.
		return Config{}, fmt.Errorf("smtpd_helo_required = no is not supported: cote always requires HELO/EHLO before MAIL")
	}
	tc, warnings, err := tlsconf.New(tlsconf.FromSection(sec, cfg.LocalNames()))
	if err != nil {
		return Config{}, err
	}
	for _, w := range warnings {
		log.Debug("tls settings warning", zap.String("warning", w))
	}
	c.TLS = tc
	return c, nil
}

// loadMaps reads alias tables. Postfix names them type:path; the hash,
// lmdb, btree and texthash types are read from their source text file (the
// path itself), which is what postalias/postmap compile.
func loadMaps(list []string, opt caddr.AliasOptions, load func(string, caddr.AliasOptions) (*caddr.Aliases, error)) (*caddr.Aliases, error) {
	if len(list) == 0 {
		return nil, nil
	}
	if len(list) > 1 {
		return nil, fmt.Errorf("only one table is supported, got %d", len(list))
	}
	p := list[0]
	if typ, rest, ok := strings.Cut(p, ":"); ok {
		switch typ {
		case "hash", "lmdb", "btree", "texthash":
			p = rest
		default:
			return nil, fmt.Errorf("table type %q is not supported (use a text file path)", typ)
		}
	}
	return load(p, opt)
}

func parseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.Trim(s, "[]")
		s = strings.Replace(s, "]/", "/", 1)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
