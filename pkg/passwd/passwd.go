package passwd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Options tunes Hash. The zero value gives Dovecot's defaults.
type Options struct {
	// Rounds is the cost: rounds for SHA256-CRYPT/SHA512-CRYPT (1000 to
	// 999999999, clamped as Dovecot does), the bcrypt cost for
	// BLF-CRYPT/CRYPT (4 to 31, clamped), iterations for PBKDF2 and
	// SCRAM-SHA-* (SCRAM: at least 4096), libsodium's opslimit for
	// ARGON2I/ARGON2ID (which also picks the memory, as Dovecot does).
	// Any other scheme refuses a non-zero Rounds rather than ignore it.
	Rounds int
}

// Creds is what a challenge-response SASL mechanism needs, filled in by
// Credentials for the one mechanism asked for.
type Creds struct {
	Plain     string
	CRAM      []byte
	SCRAM     *SCRAMKeys
	DigestHA1 []byte
}

// SCRAMKeys are the server-side SCRAM secrets of RFC 5802 §3 as Dovecot
// stores them in {SCRAM-SHA-1} and {SCRAM-SHA-256}.
type SCRAMKeys struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// ErrNoCredentials means the stored value cannot provide what a mechanism
// needs (a one-way hash cannot give the plaintext or a CRAM-MD5 context).
var ErrNoCredentials = errors.New("passwd: stored password scheme cannot provide these credentials")

// ErrMalformed wraps every error about a stored value that is not valid
// for its scheme, so callers can tell a broken database entry from an
// unknown scheme without matching strings.
var ErrMalformed = errors.New("malformed stored password")

// errOTP is the reason OTP and S/KEY are refused: verifying a one-time
// password advances a sequence number that must be written back, and
// cote's password databases are read-only.
var errOTP = errors.New("not supported: one-time passwords need server-side state (the sequence number must be written back after each login) that cote does not keep")

type encoding int

const (
	encNone encoding = iota
	encBase64
	encHex
)

// scheme is one row of the table, mirroring Dovecot's struct
// password_scheme: a name, the default encoding of the raw value, the raw
// length when fixed (which lets the decoder guess hex against base64), a
// verifier and a generator. A nil verify means "generate from the
// plaintext and compare", Dovecot's generic handler.
type scheme struct {
	name   string
	enc    encoding
	rawLen int
	verify func(plain, user string, raw []byte) (bool, error)
	gen    func(plain, user string, opt Options) ([]byte, error)
	// rounds says Options.Rounds means something to gen.
	rounds bool
	// refused names a scheme Dovecot knows that cote refuses, with why.
	refused error
}

var schemes = map[string]*scheme{}

// listed is the order Schemes reports, the set `doveadm pw -l` prints on
// Debian 12 (Dovecot 2.3.19 with libsodium), OTP included because Dovecot
// lists it: cote knows the name and refuses it with the reason.
var listed []string

func register(s *scheme) {
	schemes[s.name] = s
	listed = append(listed, s.name)
}

func init() {
	for _, s := range []*scheme{
		{name: "MD5", enc: encNone, verify: verifyMD5, gen: genMD5Crypt},
		{name: "MD5-CRYPT", enc: encNone, verify: verifyCryptString, gen: genMD5Crypt},
		{name: "SHA", enc: encBase64, rawLen: 20, gen: digestGen(hSHA1)},
		{name: "SHA1", enc: encBase64, rawLen: 20, gen: digestGen(hSHA1)},
		{name: "SHA256", enc: encBase64, rawLen: 32, gen: digestGen(hSHA256)},
		{name: "SHA512", enc: encBase64, rawLen: 64, gen: digestGen(hSHA512)},
		{name: "SMD5", enc: encBase64, verify: saltedVerify(hMD5), gen: saltedGen(hMD5)},
		{name: "SSHA", enc: encBase64, verify: saltedVerify(hSHA1), gen: saltedGen(hSHA1)},
		{name: "SSHA256", enc: encBase64, verify: saltedVerify(hSHA256), gen: saltedGen(hSHA256)},
		{name: "SSHA512", enc: encBase64, verify: saltedVerify(hSHA512), gen: saltedGen(hSHA512)},
		{name: "PLAIN", enc: encNone, verify: verifyPlain, gen: genPlain},
		{name: "CLEAR", enc: encNone, verify: verifyPlain, gen: genPlain},
		{name: "CLEARTEXT", enc: encNone, verify: verifyPlain, gen: genPlain},
		{name: "PLAIN-TRUNC", enc: encNone, verify: verifyPlainTrunc, gen: genPlainTrunc},
		{name: "CRAM-MD5", enc: encHex, rawLen: cramContextLen, gen: genCRAM},
		{name: "HMAC-MD5", enc: encHex, rawLen: cramContextLen, gen: genCRAM},
		{name: "SCRAM-SHA-1", enc: encNone, verify: scramVerify(hSHA1), gen: scramGen(hSHA1), rounds: true},
		{name: "SCRAM-SHA-256", enc: encNone, verify: scramVerify(hSHA256), gen: scramGen(hSHA256), rounds: true},
		{name: "DIGEST-MD5", enc: encHex, rawLen: 16, gen: genDigestMD5},
		{name: "PLAIN-MD4", enc: encHex, rawLen: 16, gen: digestGen(hMD4)},
		{name: "PLAIN-MD5", enc: encHex, rawLen: 16, gen: digestGen(hMD5)},
		{name: "LDAP-MD5", enc: encBase64, rawLen: 16, gen: digestGen(hMD5)},
		{name: "PBKDF2", enc: encNone, verify: verifyPBKDF2, gen: genPBKDF2, rounds: true},
		{name: "OTP", refused: errOTP},
		{name: "CRYPT", enc: encNone, verify: verifyCryptString, gen: genBcrypt, rounds: true},
		{name: "DES-CRYPT", enc: encNone, verify: verifyCryptString, gen: genDESCrypt},
		{name: "SHA256-CRYPT", enc: encNone, verify: verifyCryptString, gen: shaCryptGen(false), rounds: true},
		{name: "SHA512-CRYPT", enc: encNone, verify: verifyCryptString, gen: shaCryptGen(true), rounds: true},
		{name: "BLF-CRYPT", enc: encNone, verify: verifyBlowfish, gen: genBcrypt, rounds: true},
		{name: "ARGON2I", enc: encNone, verify: verifyArgon2String, gen: argon2Gen(false), rounds: true},
		{name: "ARGON2ID", enc: encNone, verify: verifyArgon2String, gen: argon2Gen(true), rounds: true},
	} {
		register(s)
	}
}

// Schemes lists the supported names as `doveadm pw -l` prints them: one
// line, space separated, in no particular order (Dovecot prints its hash
// table order); the slice is a copy.
func Schemes() []string {
	return append([]string(nil), listed...)
}

// lookup resolves a scheme name with an optional ".b64", ".base64" or
// ".hex" suffix, case-insensitively, as Dovecot's password_scheme_lookup.
// explicit reports whether the suffix chose the encoding.
func lookup(name string) (s *scheme, enc encoding, explicit bool, err error) {
	base, suffix, hasSuffix := strings.Cut(name, ".")
	s = schemes[strings.ToUpper(base)]
	if s == nil {
		return nil, 0, false, fmt.Errorf("passwd: unknown password scheme %q", name)
	}
	if s.refused != nil {
		return nil, 0, false, fmt.Errorf("passwd: %s: %w", s.name, s.refused)
	}
	if !hasSuffix {
		return s, s.enc, false, nil
	}
	switch strings.ToLower(suffix) {
	case "b64", "base64":
		return s, encBase64, true, nil
	case "hex":
		return s, encHex, true, nil
	}
	return nil, 0, false, fmt.Errorf("passwd: unknown encoding %q in password scheme %q", suffix, name)
}

// splitStored separates "{SCHEME}data" as Dovecot's password_get_scheme
// does: a bare "$1$salt$hash" is MD5-CRYPT whatever the default scheme
// (anything after a third '$' is ignored), and a value without braces has
// no scheme of its own.
func splitStored(stored string) (schemeName, data string) {
	if rest, ok := strings.CutPrefix(stored, "$1$"); ok {
		if i := strings.IndexByte(rest, '$'); i >= 0 {
			if j := strings.IndexByte(rest[i+1:], '$'); j >= 0 {
				stored = stored[:3+i+1+j]
			}
			return "MD5-CRYPT", stored
		}
	}
	if !strings.HasPrefix(stored, "{") {
		return "", stored
	}
	i := strings.IndexByte(stored, '}')
	if i < 0 {
		return "", stored
	}
	return stored[1:i], stored[i+1:]
}

// parseStored finds the scheme of a stored value and decodes its data.
func parseStored(stored, defaultScheme string) (*scheme, string, []byte, error) {
	name, data := splitStored(stored)
	if name == "" {
		name = defaultScheme
		if name == "" {
			// Dovecot's passdb default_pass_scheme.
			name = "CRYPT"
		}
	}
	s, enc, explicit, err := lookup(name)
	if err != nil {
		return nil, "", nil, err
	}
	raw, err := decode(s, enc, explicit, data)
	if err != nil {
		return nil, "", nil, fmt.Errorf("passwd: %s: %w: %v", s.name, ErrMalformed, err)
	}
	return s, name, raw, nil
}

// decode is Dovecot's password_decode: with a fixed raw length and no
// explicit suffix the encoding is guessed from the length (hex is twice
// the raw length, anything else base64, and a hex-looking value that is
// not hex is tried as base64).
func decode(s *scheme, enc encoding, explicit bool, data string) ([]byte, error) {
	guessed := false
	if enc != encNone && s.rawLen != 0 && !explicit {
		guessed = true
		if len(data) == s.rawLen*2 {
			enc = encHex
		} else {
			enc = encBase64
		}
	}
	var raw []byte
	switch enc {
	case encNone:
		raw = []byte(data)
	case encHex:
		b, err := hex.DecodeString(data)
		if err == nil {
			raw = b
			break
		}
		if !guessed {
			return nil, errors.New("input is not valid hex")
		}
		fallthrough
	case encBase64:
		b, err := decodeBase64(data)
		if err != nil {
			return nil, errors.New("input is not valid base64")
		}
		raw = b
	}
	if s.rawLen != 0 && len(raw) != s.rawLen {
		return nil, fmt.Errorf("input length is %d bytes instead of %d", len(raw), s.rawLen)
	}
	return raw, nil
}

// decodeBase64 accepts padded and unpadded standard base64, as Dovecot's
// lenient base64_decode does for values written by other tools.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func encode(enc encoding, raw []byte) string {
	switch enc {
	case encBase64:
		return base64.StdEncoding.EncodeToString(raw)
	case encHex:
		return hex.EncodeToString(raw)
	}
	return string(raw)
}

// Verify checks password against a stored value "{SCHEME}data" or, without
// a prefix, in defaultScheme (passwd-file's scheme= arg; "CRYPT"
// auto-detects $1$/$5$/$6$/$2y$/$y$; empty means CRYPT, Dovecot's
// default). user is needed by DIGEST-MD5 ("user@realm", split at the last
// '@'). A malformed stored value or an unknown scheme is an error, a wrong
// password is (false, nil).
func Verify(stored, defaultScheme, user, password string) (bool, error) {
	s, _, raw, err := parseStored(stored, defaultScheme)
	if err != nil {
		return false, err
	}
	if s.verify != nil {
		ok, err := s.verify(password, user, raw)
		if err != nil {
			return false, fmt.Errorf("passwd: %s: %w: %v", s.name, ErrMalformed, err)
		}
		return ok, nil
	}
	if s.name == "DIGEST-MD5" && user == "" {
		return false, errors.New("passwd: DIGEST-MD5: verifying needs the user name")
	}
	gen, err := s.gen(password, user, Options{})
	if err != nil {
		return false, fmt.Errorf("passwd: %s: %w", s.name, err)
	}
	return subtle.ConstantTimeCompare(gen, raw) == 1, nil
}

// Hash makes a new stored value "{SCHEME}..." as `doveadm pw -s SCHEME`
// would: the scheme name upper-cased as given (suffix included), the same
// salt sizes and default costs, the same encodings.
func Hash(scheme, user, password string, opt Options) (string, error) {
	s, enc, _, err := lookup(scheme)
	if err != nil {
		return "", err
	}
	if opt.Rounds < 0 {
		return "", fmt.Errorf("passwd: %s: rounds must not be negative", s.name)
	}
	if opt.Rounds != 0 && !s.rounds {
		return "", fmt.Errorf("passwd: %s: the scheme has no rounds to set", s.name)
	}
	if s.name == "DIGEST-MD5" && user == "" {
		return "", errors.New("passwd: DIGEST-MD5: hashing needs the user name (user@realm)")
	}
	raw, err := s.gen(password, user, opt)
	if err != nil {
		return "", fmt.Errorf("passwd: %s: %w", s.name, err)
	}
	return "{" + strings.ToUpper(scheme) + "}" + encode(enc, raw), nil
}

// saltChars is Dovecot's salt alphabet (password_generate_salt).
const saltChars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomSalt returns n characters of saltChars. 64 divides 256, so taking
// each random byte modulo 64 has no bias.
func randomSalt(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = saltChars[int(b[i])%len(saltChars)]
	}
	return string(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error on Linux (Go 1.24+: it
	// crashes the program instead, which is right for a broken RNG).
	_, _ = rand.Read(b)
	return b
}

// dummies caches Dummy's values: one hash per scheme name, made once.
var dummies sync.Map

// Dummy returns a stored value in scheme to verify against for unknown
// users, so a missing user costs the same hash work as a present one (an
// anti-oracle measure: timing must not tell which user names exist). It is
// made once per scheme, with the default cost, from a random password
// nobody knows, so verifying against it never succeeds in practice. A
// scheme Hash cannot make (unknown, OTP, DIGEST-MD5 without a user) gets
// the default CRYPT scheme's dummy.
func Dummy(scheme string) string {
	key := strings.ToUpper(scheme)
	if v, ok := dummies.Load(key); ok {
		return v.(string)
	}
	secret := base64.RawStdEncoding.EncodeToString(randomBytes(18))
	h, err := Hash(key, "dummy@invalid", secret, Options{})
	if err != nil {
		if key == "CRYPT" {
			// Unreachable: CRYPT always hashes. Keep a value of the
			// right shape rather than panic in the auth path.
			return "{PLAIN}" + secret
		}
		return Dummy("CRYPT")
	}
	v, _ := dummies.LoadOrStore(key, h)
	return v.(string)
}
