package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/mail"
	"strings"
	"time"
)

// readMessage reads the message from r as sendmail does: lines end at LF (a CR before it is
// dropped; lines are rejoined with CRLF, so bare-LF input becomes CRLF) and, unless ignoreDots
// (-i, -oi), a line holding a lone dot ends the message. A leading mbox "From " line is
// dropped, as Postfix's sendmail does. max bounds the size (0: none).
func readMessage(r io.Reader, ignoreDots bool, max int64) ([][]byte, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var lines [][]byte
	var size int64
	for first := true; ; first = false {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if !ignoreDots && complete && len(line) == 1 && line[0] == '.' {
				return lines, nil
			}
			if !(first && bytes.HasPrefix(line, []byte("From "))) {
				size += int64(len(line)) + 2
				if max > 0 && size > max {
					return nil, errTooBig
				}
				lines = append(lines, line)
			}
		}
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

type sendmailError string

func (e sendmailError) Error() string { return string(e) }

const errTooBig = sendmailError("message is larger than message_size_limit")

// header is one header field with its continuation lines.
type header struct {
	name  string // as written
	lines [][]byte
}

func (h header) is(names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(h.name, n) {
			return true
		}
	}
	return false
}

// value is the unfolded field body.
func (h header) value() string {
	var b strings.Builder
	for i, l := range h.lines {
		if i == 0 {
			_, v, _ := bytes.Cut(l, []byte(":"))
			b.Write(v)
			continue
		}
		b.Write(l)
	}
	return strings.TrimSpace(b.String())
}

// splitHeader separates the header fields from the body. The header ends at the first empty
// line or at the first line that is neither a field nor a continuation (then the whole rest
// is body, as Postfix's cleanup treats it).
func splitHeader(lines [][]byte) (hdr []header, body [][]byte, hadBlank bool) {
	for i, l := range lines {
		if len(l) == 0 {
			return hdr, lines[i+1:], true
		}
		if (l[0] == ' ' || l[0] == '\t') && len(hdr) > 0 {
			hdr[len(hdr)-1].lines = append(hdr[len(hdr)-1].lines, l)
			continue
		}
		name, ok := fieldName(l)
		if !ok {
			return hdr, lines[i:], false
		}
		hdr = append(hdr, header{name: name, lines: [][]byte{l}})
	}
	return hdr, nil, false
}

// fieldName returns the name of a header field line (RFC 5322 ftext: printable ASCII but
// colon, at least one character).
func fieldName(l []byte) (string, bool) {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return "", false
	}
	for _, c := range l[:i] {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(l[:i]), true
}

// headerRecipients extracts the recipients of -t: To, Cc and Bcc, or, when the message has
// Resent- fields, Resent-To, Resent-Cc and Resent-Bcc only (a resent message goes to the new
// recipients, as Postfix and sendmail do).
func headerRecipients(hdr []header) []string {
	names := []string{"To", "Cc", "Bcc"}
	for _, h := range hdr {
		if h.is("Resent-To", "Resent-Cc", "Resent-Bcc") {
			names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
			break
		}
	}
	var out []string
	for _, h := range hdr {
		if h.is(names...) {
			out = append(out, parseAddrList(h.value())...)
		}
	}
	return out
}

// parseAddrList reads an address list with net/mail; a list it refuses (a bare local part
// like "root" is common in scripts) is split at commas, taking the <...> part of each item.
// Group syntax contributes its members; an empty group ("undisclosed-recipients:;") none.
func parseAddrList(v string) []string {
	if v == "" {
		return nil
	}
	if list, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if _, rest, ok := strings.Cut(item, ":"); ok && !strings.Contains(item, "<") {
			item = strings.TrimSpace(rest) // "group: member"
		}
		item = strings.TrimSuffix(item, ";")
		if lt := strings.LastIndexByte(item, '<'); lt >= 0 {
			if gt := strings.IndexByte(item[lt:], '>'); gt > 0 {
				item = item[lt+1 : lt+gt]
			}
		}
		item = strings.TrimSpace(item)
		if item == "" || strings.ContainsAny(item, " \t\"()") {
			continue
		}
		out = append(out, item)
	}
	return out
}

// fixup is what Postfix's cleanup does to a locally submitted message (pkg/queue's pickup
// does none of it, so cote-sendmail does it once, before submission): Bcc, Resent-Bcc and
// Content-Length fields are removed, and a missing From, Date or Message-ID is added (From
// names the envelope sender with the full name, Message-ID uses myhostname).
type fixup struct {
	sender   string // the envelope sender, qualified
	fullName string
	host     string // myhostname
	now      time.Time
}

func (f fixup) apply(lines [][]byte) []byte {
	hdr, body, _ := splitHeader(lines)
	var out bytes.Buffer
	var hasFrom, hasDate, hasMsgID bool
	for _, h := range hdr {
		switch {
		case h.is("Bcc", "Resent-Bcc", "Content-Length"):
			continue
		case h.is("From"):
			hasFrom = true
		case h.is("Date"):
			hasDate = true
		case h.is("Message-ID"):
			hasMsgID = true
		}
		for _, l := range h.lines {
			out.Write(l)
			out.WriteString("\r\n")
		}
	}
	if !hasFrom {
		from := f.sender
		if f.fullName != "" {
			from = phrase(f.fullName) + " <" + f.sender + ">"
		}
		out.WriteString("From: " + from + "\r\n")
	}
	if !hasDate {
		out.WriteString("Date: " + f.now.Format("Mon, 2 Jan 2006 15:04:05 -0700 (MST)") + "\r\n")
	}
	if !hasMsgID {
		var r [6]byte
		rand.Read(r[:])
		out.WriteString("Message-ID: <" + f.now.UTC().Format("20060102150405") + "." +
			strings.ToUpper(hex.EncodeToString(r[:])) + "@" + f.host + ">\r\n")
	}
	out.WriteString("\r\n")
	// The separator is written in every case: a body that had none gets it here.
	for _, l := range body {
		out.Write(l)
		out.WriteString("\r\n")
	}
	return out.Bytes()
}

// phrase writes a display name as Postfix does: as it is when it is made of atoms, quoted
// when it holds specials, RFC 2047 encoded (by net/mail) when it is not ASCII.
func phrase(name string) string {
	plain := true
	for _, c := range name {
		if c >= 0x80 {
			a := (&mail.Address{Name: name, Address: "x@y"}).String()
			return strings.TrimSuffix(a, " <x@y>")
		}
		if !(c == ' ' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", c)) {
			plain = false
		}
	}
	if plain {
		return name
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}
