package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// words feed generated subjects and bodies, and SEARCH keys, so searches
// find something.
var words = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
	"quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
	"xray", "yankee", "zulu", "meeting", "invoice", "report", "holiday",
}

// bodySizes approximate the spread of real mail: mostly small text, some
// larger messages.
var bodySizes = []int{400, 1200, 2500, 4000, 8000, 16000, 48000}

// GenerateMessages returns n RFC 5322 messages with CRLF line ends, the
// same for the same seed: plain text and multipart/alternative ones, of
// varied sizes, so FETCH ENVELOPE/BODYSTRUCTURE and SEARCH have real work.
func GenerateMessages(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x6d657373616765))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([][]byte, n)
	for i := range msgs {
		var b strings.Builder
		date := base.Add(time.Duration(r.IntN(3*365*24)) * time.Hour)
		from := r.IntN(50)
		fmt.Fprintf(&b, "Return-Path: <user%d@example.org>\r\n", from)
		fmt.Fprintf(&b, "Message-ID: <%d.%d@bench.example.org>\r\n", i, r.Uint64())
		fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
		fmt.Fprintf(&b, "From: User %d <user%d@example.org>\r\n", from, from)
		fmt.Fprintf(&b, "To: user%d@example.org", r.IntN(50))
		for range r.IntN(3) {
			fmt.Fprintf(&b, ", user%d@example.org", r.IntN(50))
		}
		b.WriteString("\r\n")
		fmt.Fprintf(&b, "Subject: %s %s %s\r\n", pick(r), pick(r), pick(r))
		b.WriteString("MIME-Version: 1.0\r\n")
		size := bodySizes[r.IntN(len(bodySizes))]
		if r.IntN(3) == 0 {
			boundary := fmt.Sprintf("b%016x", r.Uint64())
			fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
			fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
			writeText(&b, r, size/2, "")
			fmt.Fprintf(&b, "--%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n", boundary)
			writeText(&b, r, size/2, "<p>")
			fmt.Fprintf(&b, "</body></html>\r\n--%s--\r\n", boundary)
		} else {
			b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
			writeText(&b, r, size, "")
		}
		msgs[i] = []byte(b.String())
	}
	return msgs
}

func pick(r *rand.Rand) string { return words[r.IntN(len(words))] }

// writeText writes about size bytes of words in lines under 78 characters.
func writeText(b *strings.Builder, r *rand.Rand, size int, prefix string) {
	written := 0
	for written < size {
		line := prefix
		for len(line) < 60 {
			line += pick(r) + " "
		}
		line = strings.TrimSuffix(line, " ") + "\r\n"
		b.WriteString(line)
		written += len(line)
	}
}
