package message_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/message"
)

// typical50K is a typical 50 KiB message: a multipart/mixed with a
// multipart/alternative (text and HTML) and a base64 attachment.
func typical50K() []byte {
	var b strings.Builder
	b.WriteString("Return-Path: <alice@example.org>\r\nReceived: from mx.example.org by mail.example.net; Mon, 7 Sep 2026 10:15:00 +0200\r\n" +
		"From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.net>, Carol <carol@example.net>\r\nCc: team@example.net\r\n" +
		"Subject: =?UTF-8?Q?Quarterly_report_=E2=80=94_final?=\r\nDate: Mon, 7 Sep 2026 10:15:00 +0200\r\n" +
		"Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for i := 0; i < 60; i++ {
		b.WriteString("The quick brown fox jumps over the lazy dog, line of the plain text part.\r\n")
	}
	b.WriteString("\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for i := 0; i < 60; i++ {
		b.WriteString("<p>The quick brown fox jumps over the lazy dog, in the HTML part.</p>=\r\n")
	}
	b.WriteString("\r\n--alt--\r\n\r\n--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	att := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("%PDF binary-ish content \x00\x01\xff", 1100)))
	for len(att) > 76 {
		b.WriteString(att[:76] + "\r\n")
		att = att[76:]
	}
	b.WriteString(att + "\r\n--outer--\r\n")
	return []byte(b.String())
}

func BenchmarkParse50K(b *testing.B) {
	raw := typical50K()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		message.Parse(raw)
	}
}

func BenchmarkRenderEnvelopeBodyStructure(b *testing.B) {
	m := message.Parse(typical50K())
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		buf = imap.AppendEnvelope(buf[:0], m.Root.Envelope)
		buf = imap.AppendBodyStructure(buf, m.Root, true)
	}
}

func BenchmarkUnmarshalTree(b *testing.B) {
	m := message.Parse(typical50K())
	enc, _ := m.Root.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		var p message.Part
		if err := p.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}
