package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// cramContextLen is Dovecot's CRAM_MD5_CONTEXTLEN: the MD5 chaining values
// (A, B, C, D little-endian) after the outer pad block, then after the inner
// pad block, of HMAC-MD5 keyed with the password (passwd.Creds.CRAM).
const cramContextLen = 32

// CRAM-MD5 (RFC 2195). The challenge is "<random.time@host>" (RFC 2195 §2:
// a msg-id that is unique per exchange); the response "user hexdigest".
func newCRAM(ctx context.Context, b Backend, r *Request) *Session {
	s := &Session{}
	challenge := ""
	s.step = func(resp []byte) ([]byte, bool, error) {
		if challenge == "" {
			if len(resp) > 0 {
				return nil, false, malformed("CRAM-MD5 takes no initial response")
			}
			challenge = cramChallenge()
			return []byte(challenge), false, nil
		}
		// The user name may contain spaces; the digest cannot, so split at
		// the last space, as Dovecot does.
		i := strings.LastIndexByte(string(resp), ' ')
		if i < 0 {
			return nil, false, malformed("CRAM-MD5 response without a space")
		}
		user, digestHex := string(resp[:i]), string(resp[i+1:])
		if err := checkUser(user); err != nil {
			return nil, false, err
		}
		digest, err := hex.DecodeString(digestHex)
		if err != nil || len(digest) != md5.Size {
			return nil, false, malformed("CRAM-MD5 digest is not 32 hex digits")
		}
		creds, res, err := b.Credentials(ctx, r, user, "CRAM-MD5")
		if err != nil {
			return nil, false, backendErr(err)
		}
		want, err := cramDigest(creds.CRAM, []byte(challenge))
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrTempFail, err)
		}
		if !hmac.Equal(want, digest) {
			return nil, false, ErrAuthFailed
		}
		if err := s.verified(res, nil); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return s
}

func cramChallenge() string {
	var rnd [8]byte
	rand.Read(rnd[:])
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("<%x.%d@%s>", rnd, time.Now().Unix(), host)
}

// cramDigest computes HMAC-MD5(password, challenge) from Dovecot's stored
// context: the outer and inner MD5 states after the pad blocks are loaded
// into crypto/md5 digests and continued with the message.
func cramDigest(ctxBytes, challenge []byte) ([]byte, error) {
	if len(ctxBytes) != cramContextLen {
		return nil, errors.New("CRAM-MD5 credentials have the wrong length")
	}
	outer, err := md5After(ctxBytes[:16])
	if err != nil {
		return nil, err
	}
	inner, err := md5After(ctxBytes[16:])
	if err != nil {
		return nil, err
	}
	inner.Write(challenge)
	outer.Write(inner.Sum(nil))
	return outer.Sum(nil), nil
}

type md5State interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// md5After returns an MD5 digest in the state after one 64-byte block whose
// chaining values are st (four little-endian uint32s). crypto/md5's
// UnmarshalBinary takes "md5\x01", the four values big-endian, the 64-byte
// pending block and the length so far, big-endian: a stable format, since
// saved states must keep loading.
func md5After(st []byte) (md5State, error) {
	b := make([]byte, 0, 4+16+md5.BlockSize+8)
	b = append(b, "md5\x01"...)
	for i := 0; i < 4; i++ {
		b = binary.BigEndian.AppendUint32(b, binary.LittleEndian.Uint32(st[4*i:]))
	}
	b = append(b, make([]byte, md5.BlockSize)...)
	b = binary.BigEndian.AppendUint64(b, md5.BlockSize)
	d := md5.New()
	if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("crypto/md5 state format changed: %v", err)
	}
	return d, nil
}
