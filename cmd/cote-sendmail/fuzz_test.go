package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzMessage feeds arbitrary stdin to the message path: reading, -t extraction and the
// header fixup. The output must be CRLF lines only, with one From, Date and Message-ID
// field and no Bcc field in its header.
func FuzzMessage(f *testing.F) {
	f.Add([]byte("To: a@x.example\nBcc: b@x.example\nSubject: s\n\nbody\n.\n"), false)
	f.Add([]byte("From x\nnot a header\n\n"), true)
	f.Add([]byte("To: root,\n\t\"q, r\" <q@x>\r\nResent-Bcc: z@x\r\n\r\n"), true)
	fx := fixup{sender: "u@h.example", fullName: "U", host: "h.example", now: time.Unix(0, 0)}
	f.Fuzz(func(t *testing.T, in []byte, ignoreDots bool) {
		lines, err := readMessage(bytes.NewReader(in), ignoreDots, 0)
		if err != nil {
			t.Fatal(err)
		}
		hdr, _, _ := splitHeader(lines)
		headerRecipients(hdr)
		out := fx.apply(lines)
		if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("bare LF in %q", out)
		}
		head, _, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("no header end in %q", out)
		}
		outHdr, _, _ := splitHeader(bytes.Split(head, []byte("\r\n")))
		count := map[string]int{}
		for _, h := range outHdr {
			count[strings.ToLower(h.name)]++
		}
		if count["bcc"]+count["resent-bcc"] != 0 || count["from"] < 1 || count["date"] < 1 || count["message-id"] < 1 {
			t.Fatalf("header fields %v in %q", count, out)
		}
	})
}
