package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// suite describes one TLS 1.0-1.2 cipher suite that Go implements, classified
// the way `openssl ciphers -v` prints it, so that OpenSSL's aliases select
// exactly what they select in OpenSSL 3.0.
type suite struct {
	id       uint16
	name     string // OpenSSL name
	version  string // OpenSSL's "minimum protocol" column: SSLv3, TLSv1 or TLSv1.2
	kx       string // Kx= column: RSA or ECDH
	au       string // Au= column: RSA or ECDSA
	encAlg   string // Enc= column without the key size: AES, AESGCM, CHACHA20/POLY1305, 3DES, RC4
	encBits  int    // key size in the Enc= column
	mac      string // Mac= column: SHA1, SHA256, SHA384 or AEAD
	strength string // OpenSSL strength class: HIGH or MEDIUM (no LOW suite exists in Go)
	// bits is OpenSSL's strength_bits, which @STRENGTH sorts on; 3DES
	// counts 112, not its 168-bit key.
	bits int
	// notDefault marks OpenSSL's SSL_NOT_DEFAULT suites (COMPLEMENTOFDEFAULT):
	// RC4 and 3DES, which DEFAULT leaves out.
	notDefault bool
	fips       bool // OpenSSL's FIPS alias
	// insecure is set for the suites in tls.InsecureCipherSuites(). An alias
	// never enables them; only their own name does (with a warning).
	insecure bool
}

// suites is every TLS 1.0-1.2 suite in crypto/tls, in Go's order of
// preference (which is the order crypto/tls uses anyway: Go ignores the
// configured order). The classification is OpenSSL 3.0's ssl/s3_lib.c as
// `openssl ciphers -v` prints it; TestCipherTableMatchesOpenSSL checks it.
var suites = []*suite{
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, name: "ECDHE-ECDSA-AES128-GCM-SHA256", version: "TLSv1.2", kx: "ECDH", au: "ECDSA", encAlg: "AESGCM", encBits: 128, mac: "AEAD", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, name: "ECDHE-RSA-AES128-GCM-SHA256", version: "TLSv1.2", kx: "ECDH", au: "RSA", encAlg: "AESGCM", encBits: 128, mac: "AEAD", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, name: "ECDHE-ECDSA-AES256-GCM-SHA384", version: "TLSv1.2", kx: "ECDH", au: "ECDSA", encAlg: "AESGCM", encBits: 256, mac: "AEAD", strength: "HIGH", bits: 256, fips: true},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, name: "ECDHE-RSA-AES256-GCM-SHA384", version: "TLSv1.2", kx: "ECDH", au: "RSA", encAlg: "AESGCM", encBits: 256, mac: "AEAD", strength: "HIGH", bits: 256, fips: true},
	{id: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, name: "ECDHE-ECDSA-CHACHA20-POLY1305", version: "TLSv1.2", kx: "ECDH", au: "ECDSA", encAlg: "CHACHA20/POLY1305", encBits: 256, mac: "AEAD", strength: "HIGH", bits: 256},
	{id: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, name: "ECDHE-RSA-CHACHA20-POLY1305", version: "TLSv1.2", kx: "ECDH", au: "RSA", encAlg: "CHACHA20/POLY1305", encBits: 256, mac: "AEAD", strength: "HIGH", bits: 256},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, name: "ECDHE-ECDSA-AES128-SHA", version: "TLSv1", kx: "ECDH", au: "ECDSA", encAlg: "AES", encBits: 128, mac: "SHA1", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, name: "ECDHE-RSA-AES128-SHA", version: "TLSv1", kx: "ECDH", au: "RSA", encAlg: "AES", encBits: 128, mac: "SHA1", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, name: "ECDHE-ECDSA-AES256-SHA", version: "TLSv1", kx: "ECDH", au: "ECDSA", encAlg: "AES", encBits: 256, mac: "SHA1", strength: "HIGH", bits: 256, fips: true},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, name: "ECDHE-RSA-AES256-SHA", version: "TLSv1", kx: "ECDH", au: "RSA", encAlg: "AES", encBits: 256, mac: "SHA1", strength: "HIGH", bits: 256, fips: true},
	// Go's insecure list from here on.
	{id: tls.TLS_RSA_WITH_AES_128_GCM_SHA256, name: "AES128-GCM-SHA256", version: "TLSv1.2", kx: "RSA", au: "RSA", encAlg: "AESGCM", encBits: 128, mac: "AEAD", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_RSA_WITH_AES_256_GCM_SHA384, name: "AES256-GCM-SHA384", version: "TLSv1.2", kx: "RSA", au: "RSA", encAlg: "AESGCM", encBits: 256, mac: "AEAD", strength: "HIGH", bits: 256, fips: true},
	{id: tls.TLS_RSA_WITH_AES_128_CBC_SHA, name: "AES128-SHA", version: "SSLv3", kx: "RSA", au: "RSA", encAlg: "AES", encBits: 128, mac: "SHA1", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_RSA_WITH_AES_256_CBC_SHA, name: "AES256-SHA", version: "SSLv3", kx: "RSA", au: "RSA", encAlg: "AES", encBits: 256, mac: "SHA1", strength: "HIGH", bits: 256, fips: true},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, name: "ECDHE-ECDSA-AES128-SHA256", version: "TLSv1.2", kx: "ECDH", au: "ECDSA", encAlg: "AES", encBits: 128, mac: "SHA256", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, name: "ECDHE-RSA-AES128-SHA256", version: "TLSv1.2", kx: "ECDH", au: "RSA", encAlg: "AES", encBits: 128, mac: "SHA256", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_RSA_WITH_AES_128_CBC_SHA256, name: "AES128-SHA256", version: "TLSv1.2", kx: "RSA", au: "RSA", encAlg: "AES", encBits: 128, mac: "SHA256", strength: "HIGH", bits: 128, fips: true},
	{id: tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, name: "ECDHE-RSA-DES-CBC3-SHA", version: "TLSv1", kx: "ECDH", au: "RSA", encAlg: "3DES", encBits: 168, mac: "SHA1", strength: "MEDIUM", bits: 112, notDefault: true, fips: true},
	{id: tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, name: "DES-CBC3-SHA", version: "SSLv3", kx: "RSA", au: "RSA", encAlg: "3DES", encBits: 168, mac: "SHA1", strength: "MEDIUM", bits: 112, notDefault: true, fips: true},
	{id: tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, name: "ECDHE-ECDSA-RC4-SHA", version: "TLSv1", kx: "ECDH", au: "ECDSA", encAlg: "RC4", encBits: 128, mac: "SHA1", strength: "MEDIUM", bits: 128, notDefault: true},
	{id: tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, name: "ECDHE-RSA-RC4-SHA", version: "TLSv1", kx: "ECDH", au: "RSA", encAlg: "RC4", encBits: 128, mac: "SHA1", strength: "MEDIUM", bits: 128, notDefault: true},
	{id: tls.TLS_RSA_WITH_RC4_128_SHA, name: "RC4-SHA", version: "SSLv3", kx: "RSA", au: "RSA", encAlg: "RC4", encBits: 128, mac: "SHA1", strength: "MEDIUM", bits: 128, notDefault: true},
}

// tls13Names are the TLS 1.3 suites: valid names, but Go enables them all
// and offers no way to choose.
var tls13Names = map[string]bool{
	"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true,
	"TLS_AES_128_CCM_SHA256": true, "TLS_AES_128_CCM_8_SHA256": true,
}

// byName finds a suite by its OpenSSL or IANA name. OpenSSL 3.0 itself only
// takes its own names in a cipher list; IANA names are accepted too because
// Go's documentation and tools print them.
var byName = func() map[string]*suite {
	insecure := make(map[uint16]bool)
	for _, c := range tls.InsecureCipherSuites() {
		insecure[c.ID] = true
	}
	m := make(map[string]*suite)
	for _, s := range suites {
		s.insecure = insecure[s.id]
		m[s.name] = s
		m[tls.CipherSuiteName(s.id)] = s
	}
	return m
}()

func none(*suite) bool { return false }

func encIs(algs ...string) func(*suite) bool {
	return func(s *suite) bool { return slices.Contains(algs, s.encAlg) }
}

func aesBits(bits int) func(*suite) bool {
	return func(s *suite) bool { return (s.encAlg == "AES" || s.encAlg == "AESGCM") && s.encBits == bits }
}

// aliases are OpenSSL 3.0's cipher_aliases (ssl/ssl_ciph.c) as predicates on
// the classification above. Aliases of algorithms Go does not implement
// (DHE, PSK, SRP, CAMELLIA, ...) match nothing but are valid words, as are
// aliases older OpenSSL releases knew (SSLv2, EXP, DES, kDHd, ...), which
// stock configurations still carry (Dovecot's default list has !kDHd).
var aliases = map[string]func(*suite) bool{
	"ALL":                 func(*suite) bool { return true }, // all but eNULL; Go has no NULL suite
	"COMPLEMENTOFALL":     none,
	"COMPLEMENTOFDEFAULT": func(s *suite) bool { return s.notDefault },

	"kRSA":   func(s *suite) bool { return s.kx == "RSA" },
	"RSA":    func(s *suite) bool { return s.kx == "RSA" && s.au == "RSA" },
	"kECDHE": func(s *suite) bool { return s.kx == "ECDH" }, "kEECDH": func(s *suite) bool { return s.kx == "ECDH" },
	"ECDH":  func(s *suite) bool { return s.kx == "ECDH" },
	"ECDHE": func(s *suite) bool { return s.kx == "ECDH" }, // kECDHE with !aNULL; Go has no anonymous suite
	"EECDH": func(s *suite) bool { return s.kx == "ECDH" },
	"AECDH": none, "ADH": none,
	"kDHE": none, "kEDH": none, "DH": none, "DHE": none, "EDH": none,
	"kPSK": none, "kRSAPSK": none, "kECDHEPSK": none, "kDHEPSK": none, "PSK": none,
	"kSRP": none, "SRP": none, "kGOST": none,

	"aRSA":   func(s *suite) bool { return s.au == "RSA" },
	"aECDSA": func(s *suite) bool { return s.au == "ECDSA" },
	"ECDSA":  func(s *suite) bool { return s.au == "ECDSA" },
	"aDSS":   none, "DSS": none, "aNULL": none, "aPSK": none, "aGOST01": none, "aGOST12": none, "aGOST": none, "aSRP": none,

	"eNULL": none, "NULL": none,
	"AES":      encIs("AES", "AESGCM"),
	"AES128":   aesBits(128),
	"AES256":   aesBits(256),
	"AESGCM":   encIs("AESGCM"),
	"CHACHA20": encIs("CHACHA20/POLY1305"),
	"3DES":     encIs("3DES"),
	"RC4":      encIs("RC4"),
	"AESCCM":   none, "AESCCM8": none, "RC2": none, "IDEA": none, "SEED": none, "GOST": none,
	"CAMELLIA": none, "CAMELLIA128": none, "CAMELLIA256": none,
	"ARIA": none, "ARIAGCM": none, "ARIA128": none, "ARIA256": none,

	"MD5":    none,
	"SHA1":   func(s *suite) bool { return s.mac == "SHA1" },
	"SHA":    func(s *suite) bool { return s.mac == "SHA1" },
	"SHA256": func(s *suite) bool { return s.mac == "SHA256" },
	"SHA384": func(s *suite) bool { return s.mac == "SHA384" },
	"GOST94": none, "GOST89MAC": none, "GOST12": none,

	// OpenSSL compares the minimum protocol exactly: "SSLv3" matches the
	// suites whose column says SSLv3 (kRSA AES-SHA1, 3DES, RC4), not the
	// ECDHE CBC-SHA1 ones, which say TLSv1.
	"SSLv3":   func(s *suite) bool { return s.version == "SSLv3" },
	"TLSv1":   func(s *suite) bool { return s.version == "TLSv1" },
	"TLSv1.0": func(s *suite) bool { return s.version == "TLSv1" },
	"TLSv1.2": func(s *suite) bool { return s.version == "TLSv1.2" },

	"LOW":    none,
	"MEDIUM": func(s *suite) bool { return s.strength == "MEDIUM" },
	"HIGH":   func(s *suite) bool { return s.strength == "HIGH" },
	"FIPS":   func(s *suite) bool { return s.fips },

	// Known to OpenSSL 1.0 and older; OpenSSL 3.0 ignores them.
	"SSLv2": none, "TLSv1.1": none, "EXP": none, "EXPORT": none, "EXPORT40": none, "EXPORT56": none,
	"DES": none, "kDHd": none, "kDHr": none, "kECDHr": none, "kECDHe": none, "aDH": none, "aECDH": none,
	"kFZA": none, "aFZA": none, "eFZA": none, "FZA": none, "KRB5": none, "kKRB5": none, "aKRB5": none,
}

// defaultList is what OpenSSL 3.0 expands a leading DEFAULT to
// (OSSL_default_cipher_list).
const defaultList = "ALL:!COMPLEMENTOFDEFAULT:!eNULL"

// maxHonouredSecLevel is the highest @SECLEVEL whose cipher rules Go already
// meets: level 2 forbids RC4 and keys under 112 bits, which no alias enables
// here. Level 3 and up forbid suites without forward secrecy, TLS below 1.1
// and RSA keys under 3072 bits, which nothing maps onto crypto/tls.
const maxHonouredSecLevel = 2

type op byte

const (
	opAdd  op = 0
	opDel  op = '-'
	opOrd  op = '+'
	opKill op = '!'
)

type entry struct {
	s      *suite
	active bool
}

// selection is OpenSSL's ordered cipher list (ssl_cipher_apply_rule): every
// suite has a place in the order; active ones are selected; killed ones are
// gone for good.
type selection struct {
	list []*entry
}

func (sel *selection) apply(o op, match func(*suite) bool) {
	snapshot := slices.Clone(sel.list)
	switch o {
	case opAdd:
		for _, e := range snapshot {
			if match(e.s) && !e.active {
				sel.moveToEnd(e)
				e.active = true
			}
		}
	case opOrd:
		for _, e := range snapshot {
			if match(e.s) && e.active {
				sel.moveToEnd(e)
			}
		}
	case opDel:
		// Backwards, so that the deleted suites keep their order at the
		// head, where a later ADD picks them up first (as OpenSSL does).
		for i := len(snapshot) - 1; i >= 0; i-- {
			e := snapshot[i]
			if match(e.s) && e.active {
				sel.moveToFront(e)
				e.active = false
			}
		}
	case opKill:
		sel.list = slices.DeleteFunc(sel.list, func(e *entry) bool { return match(e.s) })
	}
}

func (sel *selection) remove(e *entry) {
	i := slices.Index(sel.list, e)
	sel.list = slices.Delete(sel.list, i, i+1)
}

func (sel *selection) moveToEnd(e *entry) {
	sel.remove(e)
	sel.list = append(sel.list, e)
}

func (sel *selection) moveToFront(e *entry) {
	sel.remove(e)
	sel.list = slices.Insert(sel.list, 0, e)
}

// strengthSort is @STRENGTH: a stable sort by strength_bits, descending.
func (sel *selection) strengthSort() {
	slices.SortStableFunc(sel.list, func(a, b *entry) int { return b.s.bits - a.s.bits })
}

// isWordChar is the character class OpenSSL reads cipher words with
// (ssl_cipher_process_rulestr), plus '_' for IANA names.
func isWordChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '=' || c == '_'
}

// isSep is OpenSSL's ITEM_SEP.
func isSep(c byte) bool { return c == ':' || c == ' ' || c == ';' || c == ',' }

// cipherState collects what one parse found besides the selection.
type cipherState struct {
	sel           selection
	warnings      []string
	warned        map[string]bool
	tls13         []string
	unimplemented []string
	insecure      []string
}

func (st *cipherState) warn(w string) {
	if !st.warned[w] {
		st.warned[w] = true
		st.warnings = append(st.warnings, w)
	}
}

// CipherSuites maps an OpenSSL cipher list (ssl_cipher_list) onto Go's TLS
// 1.0-1.2 cipher suites, following OpenSSL 3.0's rules: words separated by
// ':', ',', ';' or space; "!x" removes for good, "-x" removes, "+x" moves to
// the end, "a+b" selects what both select, "@STRENGTH" sorts, "@SECLEVEL=n"
// sets the security level, a leading DEFAULT expands to OpenSSL's default.
//
// Where it departs from OpenSSL it says so instead of doing something else
// quietly: an unknown word is an error (OpenSSL skips it); ordering only
// warns, because crypto/tls ignores the order; suites Go lists as insecure
// are enabled only when named one by one, with a warning; TLS 1.3 suites and
// suites Go does not implement are accepted with a warning. min is the
// lowest protocol version that will be offered: with TLS 1.3 the list
// cannot select anything and an empty result is no error.
func CipherSuites(list string, min uint16) ([]uint16, []string, error) {
	st := &cipherState{warned: make(map[string]bool)}
	for _, s := range suites {
		st.sel.list = append(st.sel.list, &entry{s: s})
	}
	rest := list
	if strings.HasPrefix(rest, "DEFAULT") && (len(rest) == 7 || !isWordChar(rest[7])) {
		if err := st.process(defaultList); err != nil {
			return nil, nil, err
		}
		rest = rest[7:]
	}
	if err := st.process(rest); err != nil {
		return nil, nil, err
	}
	if len(st.tls13) > 0 {
		st.warn("ssl_cipher_list: TLS 1.3 cipher suites are fixed in Go (all are always enabled): " +
			strings.Join(st.tls13, ", ") + " cannot be chosen")
	}
	if len(st.unimplemented) > 0 {
		st.warn("ssl_cipher_list: not implemented by Go's crypto/tls, never offered: " +
			strings.Join(st.unimplemented, ", "))
	}
	var out []uint16
	var insecure []string
	for _, e := range st.sel.list {
		if e.active {
			out = append(out, e.s.id)
			if e.s.insecure {
				insecure = append(insecure, e.s.name)
			}
		}
	}
	if len(insecure) > 0 {
		st.warn("ssl_cipher_list: enabling cipher suites Go classes as insecure, because they are named: " +
			strings.Join(insecure, ", "))
	}
	if len(out) == 0 && min < tls.VersionTLS13 {
		return nil, nil, fmt.Errorf("ssl_cipher_list: %q selects no cipher suite that Go implements for TLS 1.2 and older "+
			"(suites Go classes as insecure are enabled only by their own names)", list)
	}
	return out, st.warnings, nil
}

// process runs one cipher string through the rules, as
// ssl_cipher_process_rulestr does.
func (st *cipherState) process(str string) error {
	i := 0
	for i < len(str) {
		c := str[i]
		o := opAdd
		special := false
		switch c {
		case '-', '+', '!':
			o = op(c)
			i++
		case '@':
			special = true
			i++
		}
		if isSep(c) {
			i++
			continue
		}
		if special {
			start := i
			for i < len(str) && isWordChar(str[i]) {
				i++
			}
			if err := st.special(str[start:i]); err != nil {
				return err
			}
			// OpenSSL discards the rest of the item after a special command.
			for i < len(str) && !isSep(str[i]) {
				i++
			}
			continue
		}
		var parts []string
		for {
			start := i
			for i < len(str) && isWordChar(str[i]) {
				i++
			}
			if i == start {
				if i < len(str) {
					return fmt.Errorf("ssl_cipher_list: invalid character %q in %q", str[i], str)
				}
				return fmt.Errorf("ssl_cipher_list: %q ends in an operator without a cipher name", str)
			}
			parts = append(parts, str[start:i])
			if i < len(str) && str[i] == '+' {
				i++
				continue
			}
			break
		}
		match, err := st.matcher(parts, o)
		if err != nil {
			return err
		}
		if o == opOrd {
			st.warn(fmt.Sprintf("ssl_cipher_list: %q only reorders suites, and Go's crypto/tls chooses the order itself: no effect", "+"+strings.Join(parts, "+")))
		}
		st.sel.apply(o, match)
	}
	return nil
}

func (st *cipherState) special(cmd string) error {
	switch {
	case cmd == "STRENGTH":
		st.warn("ssl_cipher_list: @STRENGTH has no effect: Go's crypto/tls chooses the cipher suite order itself")
		st.sel.strengthSort()
		return nil
	case strings.HasPrefix(cmd, "SECLEVEL="):
		n, err := strconv.Atoi(cmd[len("SECLEVEL="):])
		if err != nil || n < 0 || n > 5 {
			return fmt.Errorf("ssl_cipher_list: @%s: the security level must be 0 to 5", cmd)
		}
		if n > maxHonouredSecLevel {
			return fmt.Errorf("ssl_cipher_list: @%s cannot be honoured: Go's crypto/tls has no security levels "+
				"(use ssl_min_protocol and name the suites instead)", cmd)
		}
		st.warn(fmt.Sprintf("ssl_cipher_list: @%s has no effect: Go's crypto/tls has no security levels, "+
			"and no alias enables a suite level %d forbids", cmd, maxHonouredSecLevel))
		return nil
	}
	return fmt.Errorf("ssl_cipher_list: unknown command \"@%s\" (OpenSSL knows @STRENGTH and @SECLEVEL=n)", cmd)
}

// matcher turns "a+b+c" into a predicate selecting what every part selects.
// Aliases never select a suite Go classes as insecure for adding or moving;
// a part that names a suite does.
func (st *cipherState) matcher(parts []string, o op) (func(*suite) bool, error) {
	var preds []func(*suite) bool
	named := false
	for _, p := range parts {
		if s, ok := byName[p]; ok {
			named = true
			preds = append(preds, func(x *suite) bool { return x == s })
			continue
		}
		if f, ok := aliases[p]; ok {
			preds = append(preds, f)
			continue
		}
		if tls13Names[p] {
			if o == opAdd {
				st.tls13 = append(st.tls13, p)
			}
			preds = append(preds, none)
			continue
		}
		if unimplementedNames[p] {
			if o == opAdd && !slices.Contains(st.unimplemented, p) {
				st.unimplemented = append(st.unimplemented, p)
			}
			preds = append(preds, none)
			continue
		}
		if p == "DEFAULT" {
			return nil, errors.New("ssl_cipher_list: DEFAULT has a meaning only at the start of the list (OpenSSL ignores it elsewhere)")
		}
		return nil, fmt.Errorf("ssl_cipher_list: unknown cipher name %q%s", p, suggest(p))
	}
	guardInsecure := !named && (o == opAdd || o == opOrd)
	return func(s *suite) bool {
		if guardInsecure && s.insecure {
			return false
		}
		for _, f := range preds {
			if !f(s) {
				return false
			}
		}
		return true
	}, nil
}

// suggest offers the known word that differs only in case: OpenSSL's words
// are case-sensitive, and "high" or "aes" are the usual slips.
func suggest(w string) string {
	var keys []string
	for k := range aliases {
		keys = append(keys, k)
	}
	for k := range byName {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.EqualFold(k, w) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}
