package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/cote-mail/cote/pkg/settings"
)

// Settings are the ssl settings of one configuration (or one protocol
// filter of it), decoupled from pkg/settings so the package can be used and
// tested on its own. FromSection fills it from a loaded configuration.
type Settings struct {
	SSL             string // "no", "yes", "required"
	Cert, Key       string // PEM contents (the configuration resolved `<file`)
	CertPos, KeyPos string // "file:line" where set, for errors; may be ""
	KeyPassword     string
	MinProtocol     string    // "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "ANY" ("SSLv3" is read as TLSv1)
	CipherList      string    // OpenSSL syntax
	SNI             []SNICert // from local_name blocks
}

// SNICert is the certificate of one `local_name` block. Names are exact
// host names or one-label wildcards ("*.example.com").
type SNICert struct {
	Names       []string
	Cert, Key   string
	KeyPassword string
	Pos         string // "file:line" of the block
}

// FromSection reads the ssl settings of sec (the root, or a protocol
// section whose unset values the caller has already merged) and the
// certificates of the local_name blocks. A local_name block without its
// own ssl_cert is left out: its names are served the default certificate,
// as in Dovecot. A block's unset ssl_key and ssl_key_password inherit sec's.
func FromSection(sec *settings.Section, localNames []*settings.Section) Settings {
	s := Settings{
		SSL:         sec.Get("ssl"),
		Cert:        sec.Get("ssl_cert"),
		Key:         sec.Get("ssl_key"),
		KeyPassword: sec.Get("ssl_key_password"),
		MinProtocol: sec.Get("ssl_min_protocol"),
		CipherList:  sec.Get("ssl_cipher_list"),
		CertPos:     posOf(sec, "ssl_cert"),
		KeyPos:      posOf(sec, "ssl_key"),
	}
	for _, ln := range localNames {
		if ln == nil || !ln.IsSet("ssl_cert") {
			continue
		}
		c := SNICert{
			Names:       strings.Fields(ln.Name),
			Cert:        ln.Get("ssl_cert"),
			Key:         s.Key,
			KeyPassword: s.KeyPassword,
			Pos:         ln.Pos.String(),
		}
		if ln.IsSet("ssl_key") {
			c.Key = ln.Get("ssl_key")
		}
		if ln.IsSet("ssl_key_password") {
			c.KeyPassword = ln.Get("ssl_key_password")
		}
		s.SNI = append(s.SNI, c)
	}
	return s
}

func posOf(sec *settings.Section, name string) string {
	if sec == nil {
		return ""
	}
	if v, ok := sec.Values[name]; ok && v.Pos.File != "" {
		return v.Pos.String()
	}
	return ""
}

// minVersions maps ssl_min_protocol onto crypto/tls. Go cannot speak SSLv3,
// so "ANY" and "SSLv3" both start at TLS 1.0.
var minVersions = map[string]uint16{
	"ANY":     tls.VersionTLS10,
	"SSLv3":   tls.VersionTLS10,
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// defaultMinProtocol applies when the value is empty (a Settings built by
// hand); it is also the schema default.
const defaultMinProtocol = "TLSv1.2"

// New builds the server tls.Config for s. It returns a nil config when SSL
// is "no", and warnings for settings that are accepted but cannot act the
// way they do in OpenSSL (the caller logs each once). The config is
// immutable: a reload builds a new one.
func New(s Settings) (*tls.Config, []string, error) {
	switch s.SSL {
	case "no":
		return nil, nil, nil
	case "yes", "required":
	default:
		return nil, nil, fmt.Errorf("ssl: unknown value %q (use no, yes or required)", s.SSL)
	}
	var warnings []string

	proto := s.MinProtocol
	if proto == "" {
		proto = defaultMinProtocol
	}
	min, ok := minVersions[proto]
	if !ok {
		return nil, nil, fmt.Errorf("ssl_min_protocol: unknown value %q (use TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 or ANY)", s.MinProtocol)
	}
	if proto == "SSLv3" {
		warnings = append(warnings, "ssl_min_protocol: Go's crypto/tls has no SSLv3; TLSv1 is the oldest protocol offered")
	}

	suites, cw, err := CipherSuites(s.CipherList, min)
	if err != nil {
		return nil, nil, err
	}
	// Dovecot's default list ends in @STRENGTH; warning about it on every
	// start would be noise about a value nobody chose.
	if s.CipherList != settings.Default("", "ssl_cipher_list") {
		warnings = append(warnings, cw...)
	}
	// ssl_prefer_server_ciphers = yes is warned about once by pkg/settings
	// at load; repeating it here would log it again from every process.

	if strings.TrimSpace(s.Cert) == "" {
		return nil, nil, fmt.Errorf("ssl_cert: not set (ssl = %s needs a certificate; set ssl = no to disable TLS)", s.SSL)
	}
	if strings.TrimSpace(s.Key) == "" {
		return nil, nil, at(s.CertPos, "ssl_key: not set (ssl_cert needs its private key)")
	}
	now := time.Now()
	def, w, err := keyPair{
		cert: s.Cert, key: s.Key, password: s.KeyPassword,
		certName: "ssl_cert", keyName: "ssl_key", certPos: s.CertPos, keyPos: s.KeyPos,
	}.load(now)
	if err != nil {
		return nil, nil, err
	}
	warnings = append(warnings, w...)

	cfg := &tls.Config{
		MinVersion:   min,
		CipherSuites: suites,
		Certificates: []tls.Certificate{def},
	}
	if len(s.SNI) > 0 {
		sni, w, err := newSNI(s.SNI, &cfg.Certificates[0], now)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
		cfg.GetCertificate = sni.get
	}
	return cfg, warnings, nil
}

// sniTable picks a certificate by the client's server name: an exact name
// first, then a wildcard for the first label, else the default.
type sniTable struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // keyed by the parent domain
	def      *tls.Certificate
}

func newSNI(certs []SNICert, def *tls.Certificate, now time.Time) (*sniTable, []string, error) {
	t := &sniTable{exact: make(map[string]*tls.Certificate), wildcard: make(map[string]*tls.Certificate), def: def}
	seen := make(map[string]string)
	var warnings []string
	for _, c := range certs {
		label := "local_name " + strings.Join(c.Names, " ")
		if len(c.Names) == 0 {
			return nil, nil, at(c.Pos, "local_name: the block names no host")
		}
		cert, w, err := keyPair{
			cert: c.Cert, key: c.Key, password: c.KeyPassword,
			certName: label + ": ssl_cert", keyName: label + ": ssl_key", certPos: c.Pos, keyPos: c.Pos,
		}.load(now)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
		for _, n := range c.Names {
			name := normalizeName(n)
			if prev, ok := seen[name]; ok {
				return nil, nil, at(c.Pos, fmt.Sprintf("local_name %s: already given at %s", n, prev))
			}
			seen[name] = c.Pos
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				if rest == "" || strings.Contains(rest, "*") {
					return nil, nil, at(c.Pos, fmt.Sprintf("local_name %s: a wildcard must be \"*.\" before a domain", n))
				}
				t.wildcard[rest] = &cert
				continue
			}
			if strings.Contains(name, "*") {
				return nil, nil, at(c.Pos, fmt.Sprintf("local_name %s: a wildcard must be \"*.\" before a domain", n))
			}
			t.exact[name] = &cert
		}
	}
	return t, warnings, nil
}

func normalizeName(n string) string {
	return strings.TrimSuffix(strings.ToLower(n), ".")
}

func (t *sniTable) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalizeName(hello.ServerName)
	if name != "" {
		if c, ok := t.exact[name]; ok {
			return c, nil
		}
		if _, parent, ok := strings.Cut(name, "."); ok {
			if c, ok := t.wildcard[parent]; ok {
				return c, nil
			}
		}
	}
	return t.def, nil
}
