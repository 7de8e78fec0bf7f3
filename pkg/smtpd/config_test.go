package smtpd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
	caddr "github.com/cote-mail/cote/pkg/smtp"
)

func loadConf(t *testing.T, text string) (Config, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "cote.conf")
	text = strings.ReplaceAll(text, "DIR", dir)
	if err := os.WriteFile(p, []byte("ssl = no\n"+text), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "aliases"), []byte("postmaster: root\nroot: alice\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "virtual"), []byte("info@v.example alice@mx.example.org\n"), 0o644)
	cfg, err := settings.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return LoadConfig(cfg, nil)
}

func TestLoadConfig(t *testing.T) {
	c, err := loadConf(t, `myhostname = MX.example.org
relay_domains = backup.example .sub.example
mynetworks = 10.0.0.0/8, 192.0.2.1
alias_maps = hash:DIR/aliases
virtual_alias_maps = DIR/virtual
message_size_limit = 1M
postscreen_greet_wait = 2s
smtpd_client_connection_rate_limit = 30
anvil_rate_time_unit = 2 mins
smtpd_helo_required = yes
smtpd_forbid_bare_newline = normalize
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.org" {
		t.Errorf("hostname %q", c.Hostname)
	}
	// The default mydestination with $myhostname and $mydomain expanded.
	if want := []string{"mx.example.org", "localhost.example.org", "localhost"}; !slices.Equal(c.Routing.MyDestination, want) {
		t.Errorf("mydestination %v, want %v", c.Routing.MyDestination, want)
	}
	if c.Routing.Class("backup.example") != caddr.Relay || c.Routing.Class("a.sub.example") != caddr.Relay {
		t.Errorf("relay_domains not applied: %v", c.Routing.RelayDomains)
	}
	if len(c.MyNetworks) != 2 || c.MyNetworks[1].String() != "192.0.2.1/32" {
		t.Errorf("mynetworks %v", c.MyNetworks)
	}
	if c.MaxSize != 1<<20 || c.GreetWait != 2*time.Second || c.BareNewline != BareLFNormalize ||
		c.ErrorLimit != 3 || c.ConnRateLimit != 30 || c.RateTimeUnit != 2*time.Minute || c.RcptLimit != 1000 || c.ConnCountLimit != 50 || !c.SenderMustMatchLogin {
		t.Errorf("limits: %+v", c)
	}
	got, err := c.Aliases.Expand(caddr.Address{Local: "postmaster", Domain: "mx.example.org"})
	if err != nil || len(got) != 1 || got[0].Local != "alice" {
		t.Errorf("alias_maps: %v %v", got, err)
	}
	if !c.VirtualAliases.IsVirtualDomain("v.example") {
		t.Error("virtual_alias_maps not loaded")
	}
}

func TestLoadConfigErrors(t *testing.T) {
	cases := []struct{ name, conf, want string }{
		{"missing alias file", "myhostname = a.example\nalias_maps = DIR/none\n", "alias_maps: open"},
		{"table type", "myhostname = a.example\nalias_maps = ldap:DIR/aliases\n", `table type "ldap"`},
		{"bad domain", "myhostname = a.example\nrelay_domains = bad_domain.example\n", "relay_domains"},
		{"bad hostname", "myhostname = -x\n", "myhostname"},
		{"helo not required", "myhostname = a.example\nsmtpd_helo_required = no\n", "smtpd_helo_required = no is not supported"},
		{"rate unit", "myhostname = a.example\nsmtpd_client_connection_rate_limit = 10\nanvil_rate_time_unit = 0\n", "anvil_rate_time_unit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadConf(t, c.conf)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
