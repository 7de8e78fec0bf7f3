package tlsconf

import (
	"crypto/tls"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dovecotDefault is Dovecot 2.3's default ssl_cipher_list.
const dovecotDefault = "ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH"

// opensslCiphers runs `openssl ciphers -v list` and returns its rows by
// name, without the TLS 1.3 suites (Go's are fixed). A list OpenSSL
// rejects ("no cipher match") gives no rows.
func opensslCiphers(t *testing.T, list string) map[string][]string {
	t.Helper()
	bin := needOpenSSL(t)
	out, err := exec.Command(bin, "ciphers", "-v", list).Output()
	rows := make(map[string][]string)
	if err != nil {
		return rows
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] == "TLSv1.3" {
			continue
		}
		rows[f[0]] = f[1:]
	}
	return rows
}

func suiteNames(ids []uint16) []string {
	var out []string
	for _, id := range ids {
		for _, s := range suites {
			if s.id == id {
				out = append(out, s.name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestCipherSuitesMatchOpenSSL checks that each list selects what
// `openssl ciphers -v` prints for it, intersected with the suites Go
// does not class as insecure (aliases never enable those).
func TestCipherSuitesMatchOpenSSL(t *testing.T) {
	lists := []struct{ name, list string }{
		{"red hat guide", "ALL:!LOW:!SSLv2:!EXP:!aNULL:!SSLv3"},
		{"dovecot default", dovecotDefault},
		{"high no anon no md5", "HIGH:!aNULL:!MD5"},
		{"ecdhe and aesgcm", "ECDHE+AESGCM"},
		{"default", "DEFAULT"},
		{"default minus sha1", "DEFAULT:!SHA1"},
		{"all", "ALL"},
		{"only tlsv1 column", "TLSv1"},
		{"only tlsv1.2 column", "TLSv1.2"},
		{"no tlsv1 column", "ALL:!TLSv1"},
		{"ecdsa", "aECDSA"},
		{"rsa auth aes256", "aRSA+AES256"},
		{"aes128", "AES128"},
		{"chacha", "CHACHA20"},
		{"kecdhe sha", "kECDHE+SHA"},
		{"fips", "FIPS"},
		{"medium", "MEDIUM"},
		{"sslv3 column", "SSLv3"},
		{"delete then re-add", "ALL:-AES:AESGCM"},
		{"kill is final", "ALL:!AESGCM:AESGCM"},
		{"complement of default", "COMPLEMENTOFDEFAULT"},
		{"mozilla intermediate", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" +
			"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" +
			"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"},
		{"separators", "HIGH,!aNULL;!MD5 !SHA1"},
		{"strength with no separator", "HIGH:!SHA1@STRENGTH"},
	}
	for _, tc := range lists {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for name := range opensslCiphers(t, tc.list) {
				if s, ok := byName[name]; ok && !s.insecure {
					want = append(want, name)
				}
			}
			slices.Sort(want)
			ids, _, err := CipherSuites(tc.list, tls.VersionTLS12)
			if len(want) == 0 {
				if err == nil {
					t.Fatalf("CipherSuites(%q) = %v, want an error as nothing is selected", tc.list, suiteNames(ids))
				}
				return
			}
			if err != nil {
				t.Fatalf("CipherSuites(%q): %v", tc.list, err)
			}
			if got := suiteNames(ids); !slices.Equal(got, want) {
				t.Errorf("CipherSuites(%q)\n got %v\nwant %v (openssl ciphers -v ∩ Go)", tc.list, got, want)
			}
		})
	}
}

// TestCipherTableMatchesOpenSSL checks the classification of every Go suite
// against `openssl ciphers -v` where this OpenSSL still has the suite
// (OpenSSL 3 builds leave out RC4 and 3DES).
func TestCipherTableMatchesOpenSSL(t *testing.T) {
	rows := opensslCiphers(t, "ALL:COMPLEMENTOFALL")
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			row, ok := rows[s.name]
			if !ok {
				t.Skipf("%s is not in this OpenSSL build", s.name)
			}
			want := strings.Join(row, " ")
			got := strings.Join([]string{s.version, "Kx=" + s.kx, "Au=" + s.au,
				"Enc=" + s.encAlg + "(" + strconv.Itoa(s.encBits) + ")", "Mac=" + s.mac}, " ")
			if got != want {
				t.Errorf("table: %s\nopenssl: %s", got, want)
			}
			if tls.CipherSuiteName(s.id) == "" || strings.HasPrefix(tls.CipherSuiteName(s.id), "0x") {
				t.Errorf("crypto/tls does not know suite %04x", s.id)
			}
		})
	}
	// Every suite crypto/tls implements for TLS 1.2 and older is in the table.
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, c := range all {
		if slices.Contains(c.SupportedVersions, tls.VersionTLS13) {
			continue
		}
		if _, ok := byName[c.Name]; !ok {
			t.Errorf("suite %s missing from the table", c.Name)
		}
	}
}

func TestCipherSuitesRules(t *testing.T) {
	secure := func(ids ...uint16) []string { return suiteNames(ids) }
	tests := []struct {
		name     string
		list     string
		min      uint16
		want     []string // sorted OpenSSL names; nil to skip the check
		wantErr  string
		wantWarn string
	}{
		{name: "unknown word", list: "FOO", wantErr: `ssl_cipher_list: unknown cipher name "FOO"`},
		{name: "unknown word among valid ones", list: "ALL:FOO", wantErr: `unknown cipher name "FOO"`},
		{name: "wrong case", list: "high", wantErr: `(did you mean "HIGH"?)`},
		{name: "default not at start", list: "HIGH:DEFAULT", wantErr: "DEFAULT has a meaning only at the start"},
		{name: "default prefix is no default", list: "DEFAULTS", wantErr: `unknown cipher name "DEFAULTS"`},
		{name: "nothing left", list: "ALL:!ECDHE", wantErr: "selects no cipher suite"},
		{name: "nothing left is fine at tls1.3", list: "ALL:!ECDHE", min: tls.VersionTLS13, want: []string{}},
		{name: "invalid character", list: "ALL:$HIGH", wantErr: `invalid character '$'`},
		{name: "dangling operator", list: "ALL:!", wantErr: "ends in an operator"},
		{name: "dangling and", list: "ALL+", wantErr: "ends in an operator"},
		{name: "strength warns", list: "ALL@STRENGTH", wantWarn: "@STRENGTH has no effect"},
		{name: "plus warns", list: "ALL:+AES128", wantWarn: `"+AES128" only reorders`},
		{name: "seclevel 2 warns", list: "ALL:@SECLEVEL=2", wantWarn: "@SECLEVEL=2 has no effect"},
		{name: "seclevel 3 refused", list: "ALL:@SECLEVEL=3", wantErr: "@SECLEVEL=3 cannot be honoured"},
		{name: "seclevel out of range", list: "ALL:@SECLEVEL=9", wantErr: "must be 0 to 5"},
		{name: "unknown command", list: "ALL:@FOO", wantErr: `unknown command "@FOO"`},
		{name: "insecure named", list: "AES128-SHA", want: []string{"AES128-SHA"}, wantWarn: "insecure, because they are named: AES128-SHA"},
		{name: "insecure alias adds nothing", list: "RC4", wantErr: "selects no cipher suite"},
		{name: "insecure named with others", list: "HIGH:RC4-SHA", wantWarn: "RC4-SHA"},
		{name: "insecure killed", list: "RC4-SHA:HIGH:!RC4", want: secure(
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA)},
		{name: "iana name", list: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", want: []string{"ECDHE-RSA-AES128-GCM-SHA256"}},
		{name: "unimplemented named", list: "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256",
			want: []string{"ECDHE-RSA-AES128-GCM-SHA256"}, wantWarn: "never offered: DHE-RSA-AES128-GCM-SHA256"},
		{name: "tls13 named", list: "HIGH:TLS_AES_128_GCM_SHA256", wantWarn: "TLS 1.3 cipher suites are fixed"},
		{name: "sslv3 quirk keeps ecdhe cbc-sha1", list: "ALL:!SSLv3", want: secure(
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA)},
		{name: "and of aliases", list: "aRSA+AES256+SHA1", want: []string{"ECDHE-RSA-AES256-SHA"}},
		{name: "and with no overlap", list: "AES128+AES256", wantErr: "selects no cipher suite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			min := tc.min
			if min == 0 {
				min = tls.VersionTLS12
			}
			ids, warns, err := CipherSuites(tc.list, min)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CipherSuites(%q) error = %v, want one containing %q", tc.list, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CipherSuites(%q): %v", tc.list, err)
			}
			if tc.want != nil {
				got := suiteNames(ids)
				if got == nil {
					got = []string{}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
			if tc.wantWarn != "" && !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, tc.wantWarn) }) {
				t.Errorf("warnings %q lack %q", warns, tc.wantWarn)
			}
			if tc.wantWarn == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
		})
	}
}

// TestCipherSuitesOrder checks that a list of names keeps its order, as
// OpenSSL's does (crypto/tls then applies its own).
func TestCipherSuitesOrder(t *testing.T) {
	ids, _, err := CipherSuites("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384", tls.VersionTLS12)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	if !slices.Equal(ids, want) {
		t.Errorf("got %x, want %x", ids, want)
	}
}

func FuzzCipherSuites(f *testing.F) {
	for _, s := range []string{"ALL:!LOW:!SSLv2:!EXP:!aNULL:!SSLv3", dovecotDefault, "HIGH:!aNULL:!MD5", "ECDHE+AESGCM", "DEFAULT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ids, _, err := CipherSuites(list, tls.VersionTLS10)
		if err != nil {
			if ids != nil {
				t.Fatalf("error %v with suites %x", err, ids)
			}
			return
		}
		if len(ids) == 0 {
			t.Fatalf("%q: no suites and no error", list)
		}
		seen := make(map[uint16]bool)
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%q: suite %04x twice", list, id)
			}
			seen[id] = true
			if tls.CipherSuiteName(id) == "" {
				t.Fatalf("%q: unknown suite %04x", list, id)
			}
		}
	})
}
