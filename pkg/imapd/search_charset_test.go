package imapd

import (
	"bufio"
	"strings"
	"testing"
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

func TestFoldString(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"ascii", "Hello", "hELLO"},
		{"latin1", "ÄÖÜ", "äöü"},
		{"greek sigma", "ΣΑΣ", "σας"},
		{"kelvin", "\u212a", "k"},
		{"cyrillic", "ПРИВЕТ", "привет"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if foldString(tc.a) != foldString(tc.b) {
				t.Fatalf("fold(%q)=%q fold(%q)=%q", tc.a, foldString(tc.a), tc.b, foldString(tc.b))
			}
		})
	}
}
