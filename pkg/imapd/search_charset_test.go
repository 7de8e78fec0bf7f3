package imapd

import (
	"bufio"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Messages in legacy charsets, each with a distinctive word outside
// ASCII, stored with a transfer encoding where one is needed.
var charsetMsgs = []string{
	// 1: ISO-8859-1, quoted-printable: "Grüße aus Köln".
	"From: a@example.org\r\nSubject: one\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=F6ln\r\n",
	// 2: windows-1252, 8bit: "€ 5 naïve" (0x80 is the euro sign).
	"From: a@example.org\r\nSubject: two\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\x80 5 na\xefve\r\n",
	// 3: KOI8-R in base64 inside a multipart: "Привет мир".
	"From: a@example.org\r\nSubject: three\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain part\r\n--x\r\nContent-Type: text/plain; charset=\"KOI8-R\"\r\nContent-Transfer-Encoding: base64\r\n\r\n8NLJ18XUIM3J0g==\r\n--x--\r\n",
	// 4: ISO-2022-JP, 7bit: "日本語" (ESC $ B F| K\ 8l ESC ( B), with a
	// Subject in a KOI8-R encoded-word ("Отчет").
	"From: a@example.org\r\nSubject: =?koi8-r?B?79TexdQ=?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n\x1b$BF|K\\8l\x1b(B text\r\n",
	// 5: a message/rfc822 wrapping an ISO-8859-1 base64 body ("Ça va").
	"From: a@example.org\r\nSubject: five\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\nSubject: inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\nx2EgdmE=\r\n",
}

// TestSearchCharsets: BODY, TEXT and HEADER match text decoded to UTF-8
// from its transfer encoding and charset, case-insensitively.
func TestSearchCharsets(t *testing.T) {
	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	ts.deliver(t, "INBOX", testDate, charsetMsgs...)
	c := ts.dial(t)
	l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
	l.until("* PREAUTH")
	l.send("s SELECT INBOX")
	l.until("s OK")
	for _, tc := range []struct {
		name, key, want string
	}{
		{"latin1 qp", `BODY "grüße"`, "* SEARCH 1"},
		{"latin1 qp upper", `BODY "KÖLN"`, "* SEARCH 1"},
		{"cp1252 euro", `BODY "€ 5"`, "* SEARCH 2"},
		{"cp1252 diaeresis fold", `BODY "NAÏVE"`, "* SEARCH 2"},
		{"koi8-r base64", `BODY "привет"`, "* SEARCH 3"},
		{"koi8-r fold", `TEXT "МИР"`, "* SEARCH 3"},
		{"iso-2022-jp", `BODY "日本語"`, "* SEARCH 4"},
		{"encoded-word koi8-r", `HEADER Subject "отчет"`, "* SEARCH 4"},
		{"encoded-word via SUBJECT", `SUBJECT "ОТЧЕТ"`, "* SEARCH 4"},
		{"embedded message", `BODY "ça va"`, "* SEARCH 5"},
		{"raw bytes do not match", `BODY "F|K"`, "* SEARCH"},
		{"base64 text not matched raw", `BODY "8NLJ"`, "* SEARCH"},
		{"ascii everywhere", `BODY "plain"`, "* SEARCH 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The literal carries UTF-8 bytes (RFC 9051 §6.4.4 CHARSET).
			n := len(strings.SplitN(tc.key, `"`, 3)[1])
			key := strings.Replace(tc.key, `"`+strings.SplitN(tc.key, `"`, 3)[1]+`"`, "{"+itoa(uint32(n))+"+}\r\n"+strings.SplitN(tc.key, `"`, 3)[1], 1)
			l.send("t SEARCH CHARSET UTF-8 " + key)
			got := l.until("t ")
			if len(got) != 2 || got[0] != tc.want || !strings.HasPrefix(got[1], "t OK") {
				t.Fatalf("SEARCH %s = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

// TestFoldString: foldString is RFC 5051's i;unicode-casemap: simple
// titlecase, then compatibility decomposition. Cases marked match=false
// are equivalences a full case folding would make and RFC 5051 does not.
func TestFoldString(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		match      bool
	}{
		{"ascii", "Hello", "hELLO", true},
		{"latin1", "ÄÖÜ", "äöü", true},
		{"greek sigma", "ΣΑΣ", "σας", true},
		{"cyrillic", "ПРИВЕТ", "привет", true},
		{"kelvin sign", "\u212a", "k", true},
		{"kelvin sign upper", "\u212a", "K", true},
		{"angstrom sign", "\u212b", "å", true},
		{"nfc vs nfd", "caf\u00e9", "cafe\u0301", true},
		{"nfc vs nfd upper", "CAF\u00c9", "cafe\u0301", true},
		{"fi ligature", "\ufb01le", "FILE", true},
		{"fi ligature lower", "\ufb01le", "file", true},
		{"ffl ligature", "wa\ufb04e", "WAFFLE", true},
		{"fullwidth", "\uff21\uff42\uff43", "abc", true},
		{"superscript two", "x\u00b2", "X2", true},
		{"dz digraph title", "\u01c5", "\u01c6", true},
		{"dz digraph upper", "\u01c4", "dž", true},
		{"long s", "\u017f", "s", true},
		{"hangul syllable vs jamo", "\ud55c", "\u1112\u1161\u11ab", true},
		{"turkish dotless i upper", "\u0131", "I", true},
		{"turkish dotless i lower", "\u0131", "i", true},
		{"turkish dotted capital I", "\u0130", "i\u0307", true},
		{"sharp s vs ss", "stra\u00dfe", "STRASSE", false},
		{"sharp s vs capital sharp s", "\u00df", "\u1e9e", false},
		{"turkish dotted capital I vs i", "\u0130", "i", false},
		{"accent kept", "\u00e9", "e", false},
		{"invalid utf-8", "a\xffb", "A\ufffdB", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa, fb := foldString(tc.a), foldString(tc.b)
			if (fa == fb) != tc.match {
				t.Fatalf("fold(%q)=%q fold(%q)=%q, want equal=%v", tc.a, fa, tc.b, fb, tc.match)
			}
		})
	}
}

// TestFoldSubstring: SEARCH is a substring test over canonical forms,
// so a base letter finds its accented forms (their decomposition holds
// it) but not the other way round.
func TestFoldSubstring(t *testing.T) {
	for _, tc := range []struct {
		name, hay, needle string
		want              bool
	}{
		{"base finds accented", "Caf\u00e9", "cafe", true},
		{"accented finds nfd", "cafe\u0301 noir", "CAF\u00c9", true},
		{"accented misses base", "cafe", "caf\u00e9", false},
		{"ligature inside word", "pro\ufb01t", "profit", true},
		{"dotted capital I holds i", "\u0130stanbul", "i", true},
		{"dotted capital I keeps its dot", "\u0130stanbul", "istanbul", false},
		{"dotted capital I with dot", "\u0130stanbul", "i\u0307stanbul", true},
		{"dotless i", "\u0131s\u0131k", "ISIK", true},
		{"sharp s not ss", "Stra\u00dfe", "strasse", false},
		{"sharp s itself", "STRA\u00dfE", "stra\u00dfe", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Contains(foldString(tc.hay), foldString(tc.needle)); got != tc.want {
				t.Fatalf("contains(fold(%q)=%q, fold(%q)=%q) = %v, want %v",
					tc.hay, foldString(tc.hay), tc.needle, foldString(tc.needle), got, tc.want)
			}
		})
	}
}

// TestFoldIdempotent: the canonical form of a canonical form is itself,
// for every code point, so the repeat bound in foldString is never hit.
func TestFoldIdempotent(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.IsPrint(r) && !unicode.IsMark(r) {
			continue
		}
		f := foldString(string(r))
		if g := foldString(f); g != f {
			t.Fatalf("fold(%U)=%q, fold of that=%q", r, f, g)
		}
	}
}

// FuzzFoldString: the canonical form is valid UTF-8 and a fixed point.
func FuzzFoldString(f *testing.F) {
	for _, s := range []string{"Hello", "stra\u00dfe", "\ufb01", "\u0130\u0131", "e\u0301\u0323", "\ud55c", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := foldString(s)
		if !utf8.ValidString(got) {
			t.Fatalf("fold(%q)=%q is not UTF-8", s, got)
		}
		if again := foldString(got); again != got {
			t.Fatalf("fold(%q)=%q, fold of that=%q", s, got, again)
		}
	})
}
