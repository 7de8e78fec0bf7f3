package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/smtp"
	"go.uber.org/zap"
)

// Hostnames returns myhostname and mydomain with Postfix's defaults applied: the system's
// host name, and myhostname without its first label.
func Hostnames(root *settings.Section) (host, domain string, err error) {
	host = strings.ToLower(strings.TrimSuffix(root.Get("myhostname"), "."))
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return "", "", fmt.Errorf("queue: myhostname: %w", err)
		}
		host = strings.ToLower(host)
	}
	domain = strings.ToLower(root.Get("mydomain"))
	if domain == "" {
		if _, rest, ok := strings.Cut(host, "."); ok {
			domain = rest
		} else {
			domain = host
		}
	}
	return host, domain, nil
}

// RoutingFromSettings builds pkg/smtp's Routing with $myhostname and $mydomain expanded.
func RoutingFromSettings(root *settings.Section) (*smtp.Routing, error) {
	host, domain, err := Hostnames(root)
	if err != nil {
		return nil, err
	}
	exp := strings.NewReplacer("$myhostname", host, "${myhostname}", host, "$mydomain", domain, "${mydomain}", domain)
	list := func(name string) []string {
		var out []string
		for _, v := range root.List(name) {
			out = append(out, strings.ToLower(exp.Replace(v)))
		}
		return out
	}
	return &smtp.Routing{MyHostname: host, MyDestination: list("mydestination"),
		VirtualMailboxDomains: list("virtual_mailbox_domains"), RelayDomains: list("relay_domains")}, nil
}

// ConfigFromSettings fills the daemon's and pickup's configuration from the root settings
// (queue_directory, base_dir/lmtp, relayhost, the backoff and lifetime times,
// delay_warning_time, default_destination_concurrency_limit, smtp_tls_security_level,
// queue_dns_resolver, queue_smtp_port, message_size_limit, myhostname and the routing lists).
func ConfigFromSettings(root *settings.Section, log *zap.Logger) (Config, PickupConfig, error) {
	sp, err := OpenSpool(root.Get("queue_directory"))
	if err != nil {
		return Config{}, PickupConfig{}, err
	}
	rt, err := RoutingFromSettings(root)
	if err != nil {
		return Config{}, PickupConfig{}, err
	}
	local := func(d string) bool {
		c := rt.Class(d)
		return c == smtp.Local || c == smtp.Virtual
	}
	cfg := Config{
		Spool: sp, Log: log, MyHostname: rt.MyHostname, Local: local,
		LMTPPath:        filepath.Join(root.Get("base_dir"), "lmtp"),
		Relayhost:       root.Get("relayhost"),
		Resolver:        root.Get("queue_dns_resolver"),
		SMTPPort:        root.Int("queue_smtp_port"),
		TLSLevel:        root.Get("smtp_tls_security_level"),
		MinBackoff:      root.Duration("minimal_backoff_time"),
		MaxBackoff:      root.Duration("maximal_backoff_time"),
		MaxLifetime:     root.Duration("maximal_queue_lifetime"),
		BounceLifetime:  root.Duration("bounce_queue_lifetime"),
		DelayWarning:    root.Duration("delay_warning_time"),
		DestConcurrency: root.Int("default_destination_concurrency_limit"),
	}
	pc := PickupConfig{Spool: sp, MyHostname: rt.MyHostname, Log: log, MaxSize: int64(root.Size("message_size_limit"))}
	return cfg, pc, nil
}
