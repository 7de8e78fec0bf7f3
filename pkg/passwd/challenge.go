package passwd

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	stdencoding "encoding"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// cramContextLen is Dovecot's CRAM_MD5_CONTEXTLEN: the MD5 chaining
// values (A, B, C, D, little-endian) after the outer pad block, then after
// the inner pad block, of HMAC-MD5 keyed with the password (RFC 2104).
// With it a server computes HMAC-MD5(password, challenge) without knowing
// the password, which is what {CRAM-MD5} stores.
const cramContextLen = 32

func genCRAM(plain, _ string, _ Options) ([]byte, error) {
	return cramContext(plain)
}

func cramContext(plain string) ([]byte, error) {
	key := []byte(plain)
	if len(key) > md5.BlockSize {
		k := md5.Sum(key)
		key = k[:]
	}
	var ipad, opad [md5.BlockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	out := make([]byte, 0, cramContextLen)
	for _, pad := range [][]byte{opad[:], ipad[:]} {
		st, err := md5State(pad)
		if err != nil {
			return nil, err
		}
		for _, v := range st {
			out = binary.LittleEndian.AppendUint32(out, v)
		}
	}
	return out, nil
}

// md5State returns MD5's four chaining values after one 64-byte block.
// crypto/md5's MarshalBinary layout is "md5\x01" then the four values
// big-endian, which is stable: it is the format its UnmarshalBinary must
// keep accepting.
func md5State(block []byte) ([4]uint32, error) {
	d := md5.New()
	d.Write(block)
	b, err := d.(stdencoding.BinaryMarshaler).MarshalBinary()
	var st [4]uint32
	if err != nil || len(b) < 4+16 || string(b[:4]) != "md5\x01" {
		return st, errors.New("crypto/md5 state format changed")
	}
	for i := range st {
		st[i] = binary.BigEndian.Uint32(b[4+4*i:])
	}
	return st, nil
}

// SCRAM as Dovecot stores it: "<iterations>,<base64 salt>,<base64
// StoredKey>,<base64 ServerKey>", 16-byte random salt, 4096 iterations by
// default (RFC 5802 §5.1 says at least 4096; Dovecot refuses fewer).
const (
	scramSaltLen       = 16
	scramMinIterations = 4096
	scramMaxIterations = 1<<31 - 1
)

// scramKeys derives RFC 5802 §3's StoredKey and ServerKey.
func scramKeys(h func() hash.Hash, plain string, salt []byte, iter int) *SCRAMKeys {
	salted := hi(h, []byte(plain), salt, iter)
	mac := hmac.New(h, salted)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	mac = hmac.New(h, salted)
	mac.Write([]byte("Server Key"))
	return &SCRAMKeys{
		Iterations: iter,
		Salt:       salt,
		StoredKey:  sum(h, clientKey),
		ServerKey:  mac.Sum(nil),
	}
}

// hi is RFC 5802's Hi(), PBKDF2 with one output block, written out
// because crypto/pbkdf2 takes the password as a string and returns an
// error where SCRAM has none to give.
func hi(h func() hash.Hash, password, salt []byte, iter int) []byte {
	mac := hmac.New(h, password)
	mac.Write(salt)
	mac.Write([]byte{0, 0, 0, 1})
	u := mac.Sum(nil)
	out := append([]byte(nil), u...)
	for j := 2; j <= iter; j++ {
		mac.Reset()
		mac.Write(u)
		u = mac.Sum(u[:0])
		for k := range out {
			out[k] ^= u[k]
		}
	}
	return out
}

func formatSCRAM(k *SCRAMKeys) []byte {
	e := base64.StdEncoding
	return []byte(strconv.Itoa(k.Iterations) + "," + e.EncodeToString(k.Salt) + "," +
		e.EncodeToString(k.StoredKey) + "," + e.EncodeToString(k.ServerKey))
}

func parseSCRAM(h func() hash.Hash, raw []byte) (*SCRAMKeys, error) {
	f := strings.Split(string(raw), ",")
	if len(f) != 4 {
		return nil, errors.New("invalid SCRAM passdb entry format")
	}
	iter, err := strconv.Atoi(f[0])
	if err != nil || iter < scramMinIterations || iter > scramMaxIterations {
		return nil, errors.New("invalid SCRAM iteration count in passdb")
	}
	salt, err := decodeBase64(f[1])
	if err != nil {
		return nil, errors.New("invalid SCRAM salt in passdb")
	}
	size := h().Size()
	stored, err := decodeBase64(f[2])
	if err != nil || len(stored) != size {
		return nil, errors.New("invalid SCRAM StoredKey in passdb")
	}
	server, err := decodeBase64(f[3])
	if err != nil || len(server) != size {
		return nil, errors.New("invalid SCRAM ServerKey in passdb")
	}
	return &SCRAMKeys{Iterations: iter, Salt: salt, StoredKey: stored, ServerKey: server}, nil
}

func scramGen(h func() hash.Hash) func(string, string, Options) ([]byte, error) {
	return func(plain, _ string, opt Options) ([]byte, error) {
		iter := opt.Rounds
		if iter == 0 {
			iter = scramMinIterations
		}
		if iter < scramMinIterations {
			return nil, fmt.Errorf("rounds %d below the SCRAM minimum of %d (RFC 5802 §5.1)", iter, scramMinIterations)
		}
		return formatSCRAM(scramKeys(h, plain, randomBytes(scramSaltLen), iter)), nil
	}
}

func scramVerify(h func() hash.Hash) func(string, string, []byte) (bool, error) {
	return func(plain, _ string, raw []byte) (bool, error) {
		k, err := parseSCRAM(h, raw)
		if err != nil {
			return false, err
		}
		got := scramKeys(h, plain, k.Salt, k.Iterations)
		return subtle.ConstantTimeCompare(got.StoredKey, k.StoredKey) == 1, nil
	}
}

// Credentials returns what a challenge-response SASL mechanism needs from a
// stored value: for want = "PLAIN" the plaintext (only from the PLAIN,
// CLEAR and CLEARTEXT schemes), "CRAM-MD5" the 32-byte HMAC-MD5 context
// Dovecot stores (from {CRAM-MD5}/{HMAC-MD5} or computed from plaintext),
// "SCRAM-SHA-1"/"SCRAM-SHA-256" the keys from Dovecot's {SCRAM-SHA-*}
// format or computed from plaintext with a fresh salt and 4096 iterations
// (as Dovecot converts plaintext credentials), "DIGEST-MD5" the HA1 (from
// {DIGEST-MD5} or computed from plaintext and user). ErrNoCredentials when
// the stored scheme cannot provide them.
func Credentials(stored, defaultScheme, user, want string) (Creds, error) {
	s, _, raw, err := parseStored(stored, defaultScheme)
	if err != nil {
		return Creds{}, err
	}
	plain, hasPlain := "", false
	switch s.name {
	case "PLAIN", "CLEAR", "CLEARTEXT":
		plain, hasPlain = string(raw), true
	}
	switch strings.ToUpper(want) {
	case "PLAIN":
		if hasPlain {
			return Creds{Plain: plain}, nil
		}
	case "CRAM-MD5":
		switch {
		case s.name == "CRAM-MD5" || s.name == "HMAC-MD5":
			return Creds{CRAM: raw}, nil
		case hasPlain:
			c, err := cramContext(plain)
			if err != nil {
				return Creds{}, err
			}
			return Creds{CRAM: c}, nil
		}
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		h := hSHA1
		if strings.EqualFold(want, "SCRAM-SHA-256") {
			h = hSHA256
		}
		switch {
		case strings.EqualFold(s.name, want):
			k, err := parseSCRAM(h, raw)
			if err != nil {
				return Creds{}, fmt.Errorf("passwd: %s: %w: %v", s.name, ErrMalformed, err)
			}
			return Creds{SCRAM: k}, nil
		case hasPlain:
			return Creds{SCRAM: scramKeys(h, plain, randomBytes(scramSaltLen), scramMinIterations)}, nil
		}
	case "DIGEST-MD5":
		switch {
		case s.name == "DIGEST-MD5":
			return Creds{DigestHA1: raw}, nil
		case hasPlain:
			if user == "" {
				return Creds{}, errors.New("passwd: DIGEST-MD5 credentials need the user name")
			}
			return Creds{DigestHA1: digestHA1(user, plain)}, nil
		}
	default:
		return Creds{}, fmt.Errorf("passwd: no credentials are defined for mechanism %q", want)
	}
	return Creds{}, ErrNoCredentials
}
