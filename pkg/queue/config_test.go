package queue

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
)

func TestConfigFromSettings(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "cote.conf")
	os.WriteFile(conf, []byte(`base_dir = `+dir+`/run
queue_directory = `+dir+`/spool
myhostname = MX.Example.COM
virtual_mailbox_domains = virt.example
relay_domains = relay.example
relayhost = [192.0.2.1]:2525
minimal_backoff_time = 1m
maximal_backoff_time = 10m
delay_warning_time = 4h
queue_dns_resolver = 127.0.0.1:5353
queue_smtp_port = 2525
smtp_tls_security_level = encrypt
`), 0o600)
	c, err := settings.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg, pc, err := ConfigFromSettings(c.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MyHostname != "mx.example.com" || pc.MyHostname != "mx.example.com" || cfg.LMTPPath != dir+"/run/lmtp" ||
		cfg.Relayhost != "[192.0.2.1]:2525" || cfg.MinBackoff != time.Minute || cfg.MaxBackoff != 10*time.Minute ||
		cfg.MaxLifetime != 5*24*time.Hour || cfg.DelayWarning != 4*time.Hour || cfg.Resolver != "127.0.0.1:5353" ||
		cfg.SMTPPort != 2525 || cfg.TLSLevel != "encrypt" || cfg.DestConcurrency != 20 || pc.MaxSize != 10240000 {
		t.Fatalf("config %+v", cfg)
	}
	if _, err := os.Stat(filepath.Join(dir, "spool", DirDeferred)); err != nil {
		t.Fatal(err)
	}
	// mydestination's default "$myhostname, localhost.$mydomain, localhost" expanded.
	cases := []struct {
		domain string
		local  bool
	}{
		{"mx.example.com", true},
		{"localhost.example.com", true},
		{"localhost", true},
		{"virt.example", true},
		{"relay.example", false},
		{"example.com", false},
		{"elsewhere.test", false},
	}
	for _, tc := range cases {
		t.Run(tc.domain, func(t *testing.T) {
			if got := cfg.Local(tc.domain); got != tc.local {
				t.Fatalf("Local(%q) = %v", tc.domain, got)
			}
		})
	}
}
