package passwd

import (
	"bytes"
	"crypto/des"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDESCoreMatchesCryptoDES(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		key, block := make([]byte, 8), make([]byte, 8)
		for j := range key {
			key[j], block[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		c, err := des.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 8)
		c.Encrypt(want, block)

		kb, bb := toBits(key), toBits(block)
		newDESCipher(&kb).encrypt(&bb)
		if got := fromBits(bb); !bytes.Equal(got, want) {
			t.Fatalf("case %d: DES(%x, %x) = %x, want %x", i, key, block, got, want)
		}
	}
}

func toBits(b []byte) desBits {
	var out desBits
	for i := range 64 {
		out[i] = b[i/8] >> (7 - i%8) & 1
	}
	return out
}

func fromBits(b desBits) []byte {
	out := make([]byte, 8)
	for i := range 64 {
		out[i/8] |= b[i] << (7 - i%8)
	}
	return out
}

func TestDESCrypt(t *testing.T) {
	for _, tc := range []struct{ name, password, setting, want string }{
		// Dovecot's self-test sample (password-scheme-crypt.c).
		{"dovecot sample", "08/15!test~4711", "JB", "JBOZ0DgmtucwE"},
		// Made by doveadm pw -s DES-CRYPT -p secret.
		{"doveadm", "secret", "VU", "VUnd1iCtCZMck"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := desCrypt(tc.password, tc.setting)
			if err != nil || got != tc.want {
				t.Errorf("desCrypt = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	a, _ := desCrypt("01234567", "JB")
	b, _ := desCrypt("0123456789", "JB")
	if a != b {
		t.Errorf("DES-crypt depends on more than 8 characters: %q != %q", a, b)
	}
	if _, err := desCrypt("x", "!!"); err == nil {
		t.Error("desCrypt accepted salt characters outside ./0-9A-Za-z")
	}
}

// Known values written by doveadm pw (Dovecot 2.3.19) and libxcrypt, so
// these cases run without doveadm too.
func TestVerifyKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name, stored, def, password string
	}{
		{"SHA", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "", "secret"},
		{"SHA hex", "{SHA.HEX}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", "", "secret"},
		{"SHA hex guessed", "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", "", "secret"},
		{"SSHA512", "{SSHA512}kMhug3on4ef3xYbAbBKTl6XPlYn7paet8uTnS0ZjUSOoLr+qVpE/1phQ3jDmziWuON8BSM3DSyz5Qj+27YKi0CU6wgc=", "", "secret"},
		{"SMD5", "{SMD5}abCWSvaa2UWNmS4UEf4oxE5QLKM=", "", "secret"},
		{"PLAIN-MD5", "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", "", "secret"},
		{"MD5 as hex digest", "{MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", "", "secret"},
		{"MD5 as crypt", "{MD5}$1$Ib03bkFx$sV/kdAD21U4MZ5JofavhF/", "", "secret"},
		{"bare $1$ is MD5-CRYPT", "$1$gVNmr9cX$5LF44JUbGKBXEZY2oWmip/", "PLAIN", "secret"},
		{"bare $1$ ignores a trailing field", "$1$gVNmr9cX$5LF44JUbGKBXEZY2oWmip/$junk", "PLAIN", "secret"},
		{"LDAP-MD5", "{LDAP-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "", "secret"},
		{"PLAIN-MD4", "{PLAIN-MD4}67d3dafef63ff00603aeef3769cfbf0d", "", "secret"},
		{"CRAM-MD5", "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56", "", "secret"},
		{"PBKDF2", "{PBKDF2}$1$P9yD1cgbI0PPkCve$5000$6c1ebc721377b80327120d979e3898621e3896aa", "", "secret"},
		{"SCRAM-SHA-1", "{SCRAM-SHA-1}4096,poNHEwGFhG9pLNjeYuCFxw==,LkoW1U6po6wd5l+amP6Yzg7KT9s=,wpl+l9IU7e8UZUg79JxAsviEeRw=", "", "secret"},
		{"SHA512-CRYPT", "{SHA512-CRYPT}$6$15b5eRWzStJ0O0ti$JDoGbpnc8Iu0bAHQ.Xr2di4Ny.fnuI3Coe4xf.6kiF6g4hfxNX3s4gT1HctC5QIGCQLiJPHSD7gqZWe3KZbNx0", "", "secret"},
		{"SHA512-CRYPT rounds", "{SHA512-CRYPT}$6$rounds=6000$7W7uzYOQXsP6LO3P$D6iuSjHynfu7cUBIY3Tn/vhwlELTVD5KCYBL78G.HzwYHbS34NSagQqtavdPwNIR0y392etAMq0AKRJ5mGGbg/", "", "x"},
		{"SHA256-CRYPT", "{SHA256-CRYPT}$5$Putz0hgWnaQPszUf$qjtf82Vcz.d9a8bA2JUtV/scroGenSqV6ZADTghP9h6", "", "secret"},
		{"SHA512-CRYPT holding bcrypt", "{SHA512-CRYPT}$2y$05$pFY1OALfOlSaUDnPcK79b.HwUALc7vpumb2xYYVRJyeOictu6xm8y", "", "secret"},
		{"BLF-CRYPT", "{BLF-CRYPT}$2y$05$pFY1OALfOlSaUDnPcK79b.HwUALc7vpumb2xYYVRJyeOictu6xm8y", "", "secret"},
		{"default scheme CRYPT detects bcrypt", "$2y$05$WoViFo7RWKa7Y5IZjRViWOeC8b80MfI3ugqCApE8z5X2bNr6rehE6", "CRYPT", "secret"},
		{"empty default is CRYPT", "$6$15b5eRWzStJ0O0ti$JDoGbpnc8Iu0bAHQ.Xr2di4Ny.fnuI3Coe4xf.6kiF6g4hfxNX3s4gT1HctC5QIGCQLiJPHSD7gqZWe3KZbNx0", "", "secret"},
		{"CRYPT detects DES", "VUnd1iCtCZMck", "CRYPT", "secret"},
		{"ARGON2I", "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$3ccRlYZzZSNeB6rgwz8vcg$kju2b2ad0WRCSWmG+97b4NYnRLde8bPEsEEQtnsWSw8", "", "secret"},
		{"PLAIN-TRUNC truncated", "{PLAIN-TRUNC}3-sec", "", "secret"},
		{"PLAIN-TRUNC whole", "{PLAIN-TRUNC}9-secret", "", "secret"},
		{"scheme name case", "{plain}secret", "", "secret"},
		{"default scheme", "secret", "PLAIN", "secret"},
		{"plain b64", "{PLAIN.B64}c2VjcmV0", "", "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify(tc.stored, tc.def, testUser, tc.password)
			if err != nil || !ok {
				t.Errorf("Verify = %v, %v; want true", ok, err)
			}
			ok, err = Verify(tc.stored, tc.def, testUser, "wrong")
			if err != nil || ok {
				t.Errorf("Verify(wrong) = %v, %v; want false", ok, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, stored, def string
		malformed         bool   // errors.Is(err, ErrMalformed)
		contains          string // in the error text
	}{
		{"unknown scheme", "{NOPE}x", "", false, "unknown password scheme"},
		{"unknown default", "x", "NOPE", false, "unknown password scheme"},
		{"unknown suffix", "{SHA.b32}x", "", false, "unknown encoding"},
		{"OTP refused with reason", "{OTP}sha1 1024 c53535fcc2bb318e 92677a1875f6f5e0", "", false, "OTP: not supported: one-time passwords"},
		{"SHA bad base64", "{SHA}!!!!", "", true, "base64"},
		{"SHA wrong length", "{SHA}c2VjcmV0", "", true, "length"},
		{"hex suffix not hex", "{SHA.hex}zz", "", true, "hex"},
		{"SSHA too short", "{SSHA}c2VjcmV0", "", true, "too short"},
		{"PLAIN-TRUNC no length", "{PLAIN-TRUNC}secret", "", true, "missing length"},
		{"PBKDF2 prefix", "{PBKDF2}$2$a$1$00", "", true, "prefix"},
		{"PBKDF2 rounds", "{PBKDF2}$1$a$x$00", "", true, "format"},
		{"PBKDF2 key", "{PBKDF2}$1$a$10$00", "", true, "160bit"},
		{"SCRAM fields", "{SCRAM-SHA-1}4096,abc", "", true, "format"},
		{"SCRAM low iterations", "{SCRAM-SHA-1}10,poNHEwGFhG9pLNjeYuCFxw==,LkoW1U6po6wd5l+amP6Yzg7KT9s=,wpl+l9IU7e8UZUg79JxAsviEeRw=", "", true, "iteration"},
		{"SCRAM key size", "{SCRAM-SHA-256}4096,poNHEwGFhG9pLNjeYuCFxw==,LkoW1U6po6wd5l+amP6Yzg7KT9s=,wpl+l9IU7e8UZUg79JxAsviEeRw=", "", true, "StoredKey"},
		{"crypt unknown", "{CRYPT}$9$abc$def", "", true, "unsupported crypt format"},
		{"crypt garbage", "{CRYPT}hello", "", true, "unsupported crypt format"},
		{"BLF not blowfish", "{BLF-CRYPT}$6$abc", "", true, "blowfish"},
		{"sha-crypt rounds", "{SHA512-CRYPT}$6$rounds=x$abc$def", "", true, "rounds"},
		{"argon2 params", "{ARGON2ID}$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "", true, "parameters"},
		{"argon2 version", "{ARGON2ID}$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "", true, "version"},
		{"yescrypt", "{CRYPT}$y$j9T$bad", "", true, "yescrypt"},
		{"DES bad salt", "{DES-CRYPT}!!nd1iCtCZMck", "", true, "salt"},
		{"MD5 neither", "{MD5}hello", "", true, "MD5-CRYPT or PLAIN-MD5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify(tc.stored, tc.def, testUser, "secret")
			if err == nil || ok {
				t.Fatalf("Verify = %v, %v; want an error", ok, err)
			}
			if errors.Is(err, ErrMalformed) != tc.malformed {
				t.Errorf("errors.Is(%v, ErrMalformed) = %v, want %v", err, !tc.malformed, tc.malformed)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if strings.Contains(err.Error(), "secret") && !strings.Contains(tc.stored, "secret") {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

func TestHashRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, scheme, user string
		rounds             int
		contains           string
	}{
		{"OTP", "OTP", "", 0, "one-time passwords"},
		{"unknown", "NOPE", "", 0, "unknown password scheme"},
		{"rounds on a digest", "SHA256", "", 1000, "no rounds"},
		{"negative rounds", "SHA512-CRYPT", "", -1, "negative"},
		{"SCRAM below 4096", "SCRAM-SHA-256", "", 100, "minimum"},
		{"ARGON2I below 3", "ARGON2I", "", 2, "minimum"},
		{"DIGEST-MD5 without user", "DIGEST-MD5", "", 0, "user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Hash(tc.scheme, tc.user, "secret", Options{Rounds: tc.rounds})
			if err == nil {
				t.Fatalf("Hash = %q, want an error", h)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, stored, want string
		err                error
		check              func(Creds) bool
	}{
		{"plain from PLAIN", "{PLAIN}secret", "PLAIN", nil, func(c Creds) bool { return c.Plain == "secret" }},
		{"plain from default scheme", "secret", "PLAIN", nil, nil},
		{"plain from CLEARTEXT b64", "{CLEARTEXT.b64}c2VjcmV0", "PLAIN", nil, func(c Creds) bool { return c.Plain == "secret" }},
		{"no plain from SHA", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "PLAIN", ErrNoCredentials, nil},
		{"no plain from PLAIN-TRUNC", "{PLAIN-TRUNC}3-sec", "PLAIN", ErrNoCredentials, nil},
		{"no CRAM from crypt", "{SHA512-CRYPT}$6$15b5eRWzStJ0O0ti$JDoGbpnc8Iu0bAHQ.Xr2di4Ny.fnuI3Coe4xf.6kiF6g4hfxNX3s4gT1HctC5QIGCQLiJPHSD7gqZWe3KZbNx0", "CRAM-MD5", ErrNoCredentials, nil},
		{"no SCRAM-SHA-256 from SCRAM-SHA-1", "{SCRAM-SHA-1}4096,poNHEwGFhG9pLNjeYuCFxw==,LkoW1U6po6wd5l+amP6Yzg7KT9s=,wpl+l9IU7e8UZUg79JxAsviEeRw=", "SCRAM-SHA-256", ErrNoCredentials, nil},
		{"no DIGEST from CRAM", "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56", "DIGEST-MD5", ErrNoCredentials, nil},
		{"CRAM from stored", "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56", "CRAM-MD5", nil, func(c Creds) bool { return len(c.CRAM) == 32 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Credentials(tc.stored, "PLAIN", testUser, tc.want)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Credentials error %v, want %v", err, tc.err)
			}
			if tc.check != nil && !tc.check(c) {
				t.Errorf("Credentials = %+v", c)
			}
		})
	}
	// The CRAM-MD5 context of "secret" computed here equals doveadm's.
	want, _ := Credentials("{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56", "", "", "CRAM-MD5")
	got, err := Credentials("{PLAIN}secret", "", "", "CRAM-MD5")
	if err != nil || !bytes.Equal(got.CRAM, want.CRAM) {
		t.Errorf("CRAM-MD5 context from plaintext %x, %v; want %x", got.CRAM, err, want.CRAM)
	}
	// doveadm pw -s DIGEST-MD5 -u user@example.com -p secret
	ok, err := Verify("{DIGEST-MD5}30969131580e626606ce70ceaab77719", "", "user@example.com", "secret")
	if !ok || err != nil {
		t.Errorf("DIGEST-MD5 known value: %v, %v", ok, err)
	}
	if _, err := Credentials("{PLAIN}secret", "", "", "GSSAPI"); err == nil || errors.Is(err, ErrNoCredentials) {
		t.Errorf("Credentials for an unknown mechanism: %v, want a distinct error", err)
	}
}

func TestDummy(t *testing.T) {
	for _, s := range append(Schemes(), "NOPE", "sha512-crypt") {
		if s == "ARGON2ID" {
			// Costs 64 MiB; the benchmark covers it.
			continue
		}
		t.Run(s, func(t *testing.T) {
			d := Dummy(s)
			if d != Dummy(s) {
				t.Errorf("Dummy(%s) is not stable", s)
			}
			ok, err := Verify(d, "", testUser, "secret")
			if err != nil || ok {
				t.Errorf("Verify(Dummy(%s)) = %v, %v; want false, nil", s, ok, err)
			}
			switch s {
			case "OTP", "NOPE":
				if !strings.HasPrefix(d, "{CRYPT}") {
					t.Errorf("Dummy(%s) = %q, want the CRYPT dummy", s, d)
				}
			default:
				if !strings.HasPrefix(d, "{"+strings.ToUpper(s)+"}") {
					t.Errorf("Dummy(%s) = %q", s, d)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, s := range []string{"SHA512-CRYPT", "ARGON2ID"} {
		h, err := Hash(s, testUser, "secret", Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if ok, err := Verify(h, "", testUser, "secret"); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
