package imapd

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// Messages whose header keys exercise what the header cache must keep:
// encoded-words in several charsets, folded values, repeated fields,
// missing fields, a field outside CachedHeaderNames.
var hdrCacheMsgs = []string{
	"From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\nTo: a@example.org,\r\n b@example.net\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= folded\r\n line\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\nX-Tag: alpha\r\nMessage-ID: <one@example.org>\r\n\r\nbody one\r\n",
	"From: Carol <carol@example.org>\r\nTo: bob@example.org\r\nCc: list@lists.example.com\r\nBcc: hidden@example.org\r\nSubject: first subject\r\nSubject: second subject\r\nDate: Tue, 02 Jan 2024 10:00:00 +0100\r\nX-Tag: beta\r\n\r\nbody two\r\n",
	"From: nobody@example.org\r\nDate: garbage\r\n\r\nno subject here\r\n",
	"From: a@example.org\r\nSubject: =?koi8-r?B?79TexdQ=?=\r\nDate: Wed, 03 Jan 2024 10:00:00 +0000\r\n\r\nbody four\r\n",
}

var hdrCacheCases = []struct{ name, key, want string }{
	{"encoded subject", `SUBJECT "GRÜSSE"`, "* SEARCH"}, // ß does not fold to SS (RFC 5051)
	{"encoded subject utf8", `SUBJECT "grüße"`, "* SEARCH 1"},
	{"folded subject", `SUBJECT "folded line"`, "* SEARCH 1"},
	{"encoded from", `FROM "jörg"`, "* SEARCH 1"},
	{"folded to", `TO "b@example.net"`, "* SEARCH 1"},
	{"cc", `CC "lists.example"`, "* SEARCH 2"},
	{"bcc", `BCC "HIDDEN"`, "* SEARCH 2"},
	{"second occurrence", `SUBJECT "second"`, "* SEARCH 2"},
	{"koi8-r", `SUBJECT "отчет"`, "* SEARCH 4"},
	{"presence", `HEADER Subject ""`, "* SEARCH 1 2 4"},
	{"absence", `NOT HEADER Subject ""`, "* SEARCH 3"},
	{"other field", `HEADER X-Tag "ALPHA"`, "* SEARCH 1"},
	{"other field presence", `HEADER x-tag ""`, "* SEARCH 1 2"},
	{"message-id", `HEADER Message-ID "one@"`, "* SEARCH 1"},
	{"sent date", `SENTON 2-Jan-2024`, "* SEARCH 2"},
	{"sent since", `SENTSINCE 2-Jan-2024`, "* SEARCH 2 4"},
	{"or", `OR SUBJECT "first" FROM "a@example"`, "* SEARCH 2 4"},
}

// runHdrCacheCases runs every case on a selected session.
func runHdrCacheCases(t *testing.T, l *lineConn) {
	t.Helper()
	for _, tc := range hdrCacheCases {
		t.Run(tc.name, func(t *testing.T) {
			l.t = t
			l.send("t SEARCH CHARSET UTF-8 " + utf8Literals(tc.key))
			got := l.until("t ")
			if len(got) != 2 || got[0] != tc.want || got[1][:4] != "t OK" {
				t.Fatalf("SEARCH %s = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

// utf8Literals sends each quoted string holding non-ASCII as a literal.
func utf8Literals(key string) string {
	out := ""
	for {
		i := indexQuote(key)
		if i < 0 {
			return out + key
		}
		j := indexQuote(key[i+1:]) + i + 1
		s := key[i+1 : j]
		if isASCII(s) {
			out += key[:j+1]
		} else {
			out += key[:i] + fmt.Sprintf("{%d+}\r\n%s", len(s), s)
		}
		key = key[j+1:]
	}
}

func indexQuote(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return i
		}
	}
	return -1
}

// TestSearchHeaderCache: header keys give the same answers whether they
// read the message or its cached fields, for messages parsed at save,
// for files put there by another program (the first search fills their
// cache), and when a cached record is corrupt (ignored and replaced).
// After the first pass the files are emptied: the answers that stay
// right came from the cache, not from the files.
func TestSearchHeaderCache(t *testing.T) {
	for _, mode := range []string{"saved", "written", "corrupt"} {
		t.Run(mode, func(t *testing.T) {
			ts := newTestServer(t, Config{AppendLimit: 1 << 20})
			cur := filepath.Join(ts.home, "Maildir", "cur")
			switch mode {
			case "saved", "corrupt":
				ts.deliver(t, "INBOX", testDate, hdrCacheMsgs...)
			case "written":
				for _, sub := range []string{"cur", "new", "tmp"} {
					if err := os.MkdirAll(filepath.Join(ts.home, "Maildir", sub), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				for i, m := range hdrCacheMsgs {
					name := fmt.Sprintf("%d.M%dP1.test,S=%d:2,", 1700000000+i, i, len(m))
					if err := os.WriteFile(filepath.Join(cur, name), []byte(m), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			if mode == "corrupt" {
				u, err := ts.openUser()
				if err != nil {
					t.Fatal(err)
				}
				mb, err := u.Open("INBOX", false)
				if err != nil {
					t.Fatal(err)
				}
				for uid := uint32(1); uid <= uint32(len(hdrCacheMsgs)); uid++ {
					good, _ := mb.Cache(uid, storage.CacheHeaders)
					bad := append([]byte{}, good...)
					bad[len(bad)/2] ^= 0x55
					if err := mb.SetCache(uid, storage.CacheHeaders, bad); err != nil {
						t.Fatal(err)
					}
				}
				mb.Close()
				u.Close()
			}
			c := ts.dial(t)
			l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
			l.until("* PREAUTH")
			l.send("s SELECT INBOX")
			l.until("s OK")
			runHdrCacheCases(t, l)

			// Every message has a record now, covering X-Tag too.
			mb, done := ts.examine(t, "INBOX")
			for uid := uint32(1); uid <= uint32(len(hdrCacheMsgs)); uid++ {
				hc, ok := storage.CachedHeaders(mb, uid)
				if !ok || !hc.Covers("X-TAG") || !hc.Covers("subject") {
					t.Fatalf("uid %d: cached record %v %v", uid, hc, ok)
				}
			}
			done()
			files, _ := filepath.Glob(filepath.Join(ts.home, "Maildir", "cur", "*"))
			inNew, _ := filepath.Glob(filepath.Join(ts.home, "Maildir", "new", "*"))
			files = append(files, inNew...)
			if len(files) != len(hdrCacheMsgs) {
				t.Fatalf("%d message files", len(files))
			}
			for _, f := range files {
				if err := os.WriteFile(f, []byte("X-Emptied: yes\r\n\r\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			l.t = t
			runHdrCacheCases(t, l)
		})
	}
}

// TestSortCriteriaFillHeaderCache: SORT's search criteria on header keys
// fill the header cache of messages that have none (files written by
// another program), as SEARCH does.
func TestSortCriteriaFillHeaderCache(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(ts.home, "Maildir", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range hdrCacheMsgs {
		name := fmt.Sprintf("%d.M%dP1.test,S=%d:2,", 1700000000+i, i, len(m))
		if err := os.WriteFile(filepath.Join(ts.home, "Maildir", "cur", name), []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.dial(t)
	l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
	l.until("* PREAUTH")
	l.send("s SELECT INBOX")
	l.until("s OK")
	l.send(`o SORT (ARRIVAL) UTF-8 HEADER X-Tag ""`)
	if got := l.until("o "); !strings.HasPrefix(got[len(got)-1], "o OK") {
		t.Fatalf("SORT: %q", got)
	}
	mb, done := ts.examine(t, "INBOX")
	defer done()
	for uid := uint32(1); uid <= uint32(len(hdrCacheMsgs)); uid++ {
		if hc, ok := storage.CachedHeaders(mb, uid); !ok || !hc.Covers("x-tag") {
			t.Errorf("UID %d: no header record covering X-Tag after SORT (%v)", uid, ok)
		}
	}
}
