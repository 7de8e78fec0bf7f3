package passwd

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-crypt/crypt/algorithm/scrypt"
	xcrypt "github.com/go-crypt/x/crypt"
	"golang.org/x/crypto/bcrypt"
)

// verifyCryptString is Dovecot's crypt_verify, which hands the stored
// string to crypt(3): the format is recognised by its prefix, not by the
// scheme name, so {SHA512-CRYPT} holding a $2y$ hash still verifies, and
// {CRYPT} accepts every format libxcrypt writes on Debian and RHEL that
// cote implements: $1$ MD5-crypt, $5$/$6$ SHA-crypt, $2a$/$2b$/$2y$
// bcrypt, $y$ yescrypt and 13-character traditional DES.
func verifyCryptString(plain, _ string, raw []byte) (bool, error) {
	stored := string(raw)
	switch {
	case stored == "":
		// Dovecot: crypt() of an empty setting would match anything.
		return false, nil
	case len(stored) > 4 && stored[0] == '$' && stored[1] == '2' && stored[3] == '$':
		return verifyBlowfish(plain, "", raw)
	case strings.HasPrefix(stored, "$1$"):
		return cryptEqual(md5Crypt(plain, stored), stored), nil
	case strings.HasPrefix(stored, "$5$"), strings.HasPrefix(stored, "$6$"):
		got, err := shaCrypt(plain, stored)
		if err != nil {
			return false, err
		}
		return cryptEqual(got, stored), nil
	case strings.HasPrefix(stored, "$y$"):
		return verifyYescrypt(plain, stored)
	case strings.HasPrefix(stored, "$argon2"):
		// Not crypt(3), but Dovecot's ARGON2 values are sometimes filed
		// under {CRYPT} by migration scripts; the format is unambiguous.
		return verifyArgon2(plain, stored)
	case len(stored) == 13 && stored[0] != '$' && stored[0] != '_':
		got, err := desCrypt(plain, stored)
		if err != nil {
			return false, err
		}
		return cryptEqual(got, stored), nil
	}
	return false, fmt.Errorf("unsupported crypt format %q", cryptPrefix(stored))
}

// cryptPrefix names a crypt format for an error without quoting a hash.
func cryptPrefix(s string) string {
	if strings.HasPrefix(s, "$") {
		if i := strings.IndexByte(s[1:], '$'); i >= 0 && i < 10 {
			return s[:i+2]
		}
		return "$"
	}
	if s == "" {
		return ""
	}
	return "non-$ value of length " + strconv.Itoa(len(s))
}

func cryptEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// md5Crypt computes "$1$salt$hash" for the setting in stored: the salt is
// up to 8 characters after "$1$", ending at a '$' (FreeBSD/glibc rules).
func md5Crypt(plain, setting string) string {
	salt := strings.TrimPrefix(setting, "$1$")
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > 8 {
		salt = salt[:8]
	}
	// The key comes back already in crypt's base64 alphabet.
	return "$1$" + salt + "$" + string(xcrypt.KeyMD5Crypt([]byte(plain), []byte(salt)))
}

func genMD5Crypt(plain, _ string, _ Options) ([]byte, error) {
	return []byte(md5Crypt(plain, "$1$"+randomSalt(8))), nil
}

// SHA-crypt (Ulrich Drepper's specification, as glibc and libxcrypt
// implement it): rounds default 5000 and then omitted from the string,
// clamped to 1000..999999999 when given, salt at most 16 characters.
const (
	shaRoundsDefault = 5000
	shaRoundsMin     = 1000
	shaRoundsMax     = 999999999
	shaSaltMax       = 16
)

func shaCrypt(plain, setting string) (string, error) {
	prefix, rest := setting[:3], setting[3:]
	rounds, custom := shaRoundsDefault, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		i := strings.IndexByte(r, '$')
		if i < 0 {
			return "", errors.New("SHA-crypt rounds= without salt")
		}
		n, err := strconv.ParseUint(r[:i], 10, 64)
		if err != nil {
			return "", errors.New("SHA-crypt rounds= is not a number")
		}
		rounds, custom = int(min(max(n, shaRoundsMin), shaRoundsMax)), true
		rest = r[i+1:]
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > shaSaltMax {
		salt = salt[:shaSaltMax]
	}
	h := hSHA256
	if prefix == "$6$" {
		h = hSHA512
	}
	key := xcrypt.KeySHACrypt(h, []byte(plain), []byte(salt), rounds)
	var b strings.Builder
	b.WriteString(prefix)
	if custom {
		b.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	b.WriteString(salt + "$")
	b.Write(key) // already in crypt's base64 alphabet
	return b.String(), nil
}

func shaCryptGen(sha512 bool) func(string, string, Options) ([]byte, error) {
	return func(plain, _ string, opt Options) ([]byte, error) {
		prefix := "$5$"
		if sha512 {
			prefix = "$6$"
		}
		rounds := opt.Rounds
		if rounds == 0 {
			rounds = shaRoundsDefault
		}
		rounds = min(max(rounds, shaRoundsMin), shaRoundsMax)
		setting := prefix + randomSalt(shaSaltMax)
		if rounds != shaRoundsDefault {
			setting = prefix + "rounds=" + strconv.Itoa(rounds) + "$" + randomSalt(shaSaltMax)
		}
		s, err := shaCrypt(plain, setting)
		return []byte(s), err
	}
}

// bcrypt as Dovecot's crypt_blowfish writes it: "$2y$", cost 5 by default,
// clamped to 4..31. Only the first 72 bytes of a password count (the
// algorithm's key schedule takes no more); x/crypto refuses longer
// passwords, so they are cut here as crypt_blowfish does.
const (
	blfCostDefault = 5
	blfCostMin     = 4
	blfCostMax     = 31
	blfMaxPassword = 72
)

func blfPassword(plain string) []byte {
	if len(plain) > blfMaxPassword {
		plain = plain[:blfMaxPassword]
	}
	return []byte(plain)
}

func genBcrypt(plain, _ string, opt Options) ([]byte, error) {
	cost := opt.Rounds
	if cost == 0 {
		cost = blfCostDefault
	}
	cost = min(max(cost, blfCostMin), blfCostMax)
	h, err := bcrypt.GenerateFromPassword(blfPassword(plain), cost)
	if err != nil {
		return nil, err
	}
	// x/crypto writes $2a$; its algorithm is the corrected one that
	// crypt_blowfish calls $2y$ (and OpenBSD $2b$), so only the label
	// changes, to match doveadm's output.
	if len(h) > 3 && string(h[:4]) == "$2a$" {
		h[2] = 'y'
	}
	return h, nil
}

// verifyBlowfish is Dovecot's crypt_verify_blowfish: "$2<letter>$" and at
// least the cost and salt. $2x$ (the pre-2011 sign-extension bug) is
// computed with the corrected algorithm, so it matches only for
// passwords without 8-bit characters.
func verifyBlowfish(plain, _ string, raw []byte) (bool, error) {
	if len(raw) == 0 {
		return false, nil
	}
	if len(raw) < 7+22+1 || raw[0] != '$' || raw[1] != '2' || raw[2] < 'a' || raw[2] > 'z' || raw[3] != '$' {
		return false, errors.New("password is not a blowfish password")
	}
	// x/crypto parses only the version letters it knows; all the
	// letters in use hash alike here (see above), so normalise to $2a$.
	h := append([]byte(nil), raw...)
	h[2] = 'a'
	err := bcrypt.CompareHashAndPassword(h, blfPassword(plain))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, err
}

// verifyYescrypt checks a "$y$" hash as libxcrypt writes it (Debian 11+,
// Fedora 35+ chpasswd and passwd) with go-crypt's decoder.
func verifyYescrypt(plain, stored string) (bool, error) {
	d, err := scrypt.DecodeVariant(scrypt.VariantYescrypt)(stored)
	if err != nil {
		return false, errors.New("invalid yescrypt hash")
	}
	ok, err := d.MatchAdvanced(plain)
	if err != nil {
		return false, errors.New("invalid yescrypt hash")
	}
	return ok, nil
}

// genDESCrypt is Dovecot's DES-CRYPT: traditional crypt(3) with a
// 2-character random salt. Only the first 8 characters of the password
// count; Dovecot offers it for old databases, not for new hashes.
func genDESCrypt(plain, _ string, _ Options) ([]byte, error) {
	s, err := desCrypt(plain, randomSalt(2))
	return []byte(s), err
}
