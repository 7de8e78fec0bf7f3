package passwd

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 as Dovecot writes it through libsodium's crypto_pwhash_str:
// "$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>", unpadded base64,
// 16-byte salt, 32-byte hash. Options.Rounds is libsodium's opslimit and
// picks the memory as Dovecot's password-scheme-sodium.c does:
// SENSITIVE opslimit and above gets SENSITIVE memory, MODERATE gets
// MODERATE, anything less INTERACTIVE.
const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
	argon2Version = 19
	// argon2MaxMemKiB bounds what a stored value can make a verifier
	// allocate: libsodium's SENSITIVE level (1 GiB) times four.
	argon2MaxMemKiB = 4 << 20
)

type argon2Level struct {
	ops    int
	memKiB uint32
}

// libsodium's crypto_pwhash_argon2{i,id}_{OPS,MEM}LIMIT_{INTERACTIVE,
// MODERATE,SENSITIVE}.
var (
	argon2iLevels  = [3]argon2Level{{4, 32 << 10}, {6, 128 << 10}, {8, 512 << 10}}
	argon2idLevels = [3]argon2Level{{2, 64 << 10}, {3, 256 << 10}, {4, 1 << 20}}
)

func argon2Gen(id bool) func(string, string, Options) ([]byte, error) {
	return func(plain, _ string, opt Options) ([]byte, error) {
		levels, name := argon2iLevels, "argon2i"
		if id {
			levels, name = argon2idLevels, "argon2id"
		}
		ops := opt.Rounds
		if ops == 0 {
			ops = levels[0].ops
		}
		mem := levels[0].memKiB
		switch {
		case ops >= levels[2].ops:
			mem = levels[2].memKiB
		case ops >= levels[1].ops:
			mem = levels[1].memKiB
		}
		t := uint32(ops)
		if id {
			// libsodium runs argon2id with at least 3 passes whatever
			// opslimit asks (doveadm pw -s ARGON2ID -r 1 writes t=3).
			t = max(t, 3)
		} else if t < 3 {
			// libsodium's crypto_pwhash_argon2i_OPSLIMIT_MIN.
			return nil, fmt.Errorf("rounds %d below the ARGON2I minimum of 3", ops)
		}
		salt := randomBytes(argon2SaltLen)
		var key []byte
		if id {
			key = argon2.IDKey([]byte(plain), salt, t, mem, 1, argon2KeyLen)
		} else {
			key = argon2.Key([]byte(plain), salt, t, mem, 1, argon2KeyLen)
		}
		e := base64.RawStdEncoding
		return fmt.Appendf(nil, "$%s$v=%d$m=%d,t=%d,p=1$%s$%s", name, argon2Version, mem, t,
			e.EncodeToString(salt), e.EncodeToString(key)), nil
	}
}

func verifyArgon2String(plain, _ string, raw []byte) (bool, error) {
	return verifyArgon2(plain, string(raw))
}

// verifyArgon2 parses the PHC string format that libsodium and the
// reference argon2 implementation write, version 19 only (what libsodium
// accepts), and recomputes the hash with the stored parameters.
func verifyArgon2(plain, stored string) (bool, error) {
	f := strings.Split(stored, "$")
	if len(f) != 6 || f[0] != "" {
		return false, errors.New("invalid argon2 hash format")
	}
	id := false
	switch f[1] {
	case "argon2id":
		id = true
	case "argon2i":
	default:
		return false, fmt.Errorf("unsupported argon2 variant %q", f[1])
	}
	if f[2] != "v="+strconv.Itoa(argon2Version) {
		return false, errors.New("unsupported argon2 version")
	}
	var m, t, p uint64
	seen := 0
	for _, kv := range strings.Split(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return false, errors.New("invalid argon2 parameters")
		}
		switch k {
		case "m":
			m, seen = n, seen|1
		case "t":
			t, seen = n, seen|2
		case "p":
			p, seen = n, seen|4
		default:
			return false, errors.New("invalid argon2 parameters")
		}
	}
	if seen != 7 || t < 1 || p < 1 || p > 255 || m < 8*p || m > argon2MaxMemKiB {
		return false, errors.New("invalid argon2 parameters")
	}
	e := base64.RawStdEncoding
	salt, err := e.DecodeString(f[4])
	if err != nil || len(salt) < 8 {
		return false, errors.New("invalid argon2 salt")
	}
	want, err := e.DecodeString(f[5])
	if err != nil || len(want) < 16 {
		return false, errors.New("invalid argon2 hash")
	}
	var got []byte
	if id {
		got = argon2.IDKey([]byte(plain), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	} else {
		got = argon2.Key([]byte(plain), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
