package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"syscall"
	"time"
)

// smtpOnStdin is -bs: the SMTP dialogue on stdin and stdout goes to pickup as it is, line by
// line with CRLF endings, except that the header of each message gets what fixup adds (pickup
// adds nothing, and Postfix's cleanup does this for -bs mail too). It ends when pickup closes
// the connection (after QUIT) or, once stdin ends, when pickup has answered everything.
func smtpOnStdin(e *env, stdin io.Reader, stdout io.Writer) error {
	conn, err := dialPickup(e)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdout, conn)
		done <- err
	}()
	go func() {
		p := &bsProxy{e: e, w: bufio.NewWriter(conn), fullName: defaultFullName(), login: loginName()}
		p.run(stdin)
		conn.CloseWrite()
	}()
	if err := <-done; err != nil && !isClosed(err) {
		return fail(exTempFail, "pickup: %v", err)
	}
	return nil
}

// isClosed is pickup resetting the connection after its last reply: not a failure.
func isClosed(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// bsProxy tracks the client's side of the dialogue: the MAIL FROM path (for an added From:)
// and, after DATA, the message's header until its end.
type bsProxy struct {
	e        *env
	w        *bufio.Writer
	fullName string
	login    string
	sender   string
	data     bool     // inside DATA
	inHeader bool     // inside the header of the message being sent
	hdr      [][]byte // header lines held back until the header ends
}

func (p *bsProxy) run(in io.Reader) {
	br := bufio.NewReaderSize(in, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			p.line(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")))
			// Commands are answered one by one: each line goes out before the next is read,
			// unless more input is already buffered (a pipelining client).
			if br.Buffered() == 0 {
				p.w.Flush()
			}
		}
		if err != nil {
			if p.inHeader {
				p.endHeader()
			}
			p.w.Flush()
			return
		}
	}
}

func (p *bsProxy) out(l []byte) {
	p.w.Write(l)
	p.w.WriteString("\r\n")
}

func (p *bsProxy) line(l []byte) {
	if !p.data {
		p.command(l)
		p.out(l)
		return
	}
	if len(l) == 1 && l[0] == '.' {
		if p.inHeader {
			p.endHeader()
		}
		p.data = false
		p.out(l)
		return
	}
	if p.inHeader {
		if len(l) > 0 {
			if (l[0] == ' ' || l[0] == '\t') && len(p.hdr) > 0 {
				p.hdr = append(p.hdr, bytes.Clone(l))
				return
			}
			if _, ok := fieldName(l); ok {
				p.hdr = append(p.hdr, bytes.Clone(l))
				return
			}
		}
		// An empty line ends the header (fixup writes it); another line starts the body.
		p.endHeader()
		if len(l) == 0 {
			return
		}
	}
	p.out(l)
}

// endHeader writes the held header with fixup's changes and the separating empty line.
func (p *bsProxy) endHeader() {
	sender := p.sender
	if sender == "" {
		sender = p.login + "@" + p.e.host
	}
	p.w.Write(fixup{sender: sender, fullName: p.fullName, host: p.e.host, now: time.Now()}.apply(p.hdr))
	p.hdr, p.inHeader = nil, false
}

func (p *bsProxy) command(l []byte) {
	s := string(l)
	switch {
	case strings.EqualFold(strings.TrimSpace(s), "DATA"):
		p.data, p.inHeader, p.hdr = true, true, nil
	case len(s) >= 10 && strings.EqualFold(s[:10], "MAIL FROM:"):
		path := strings.TrimSpace(s[10:])
		if end := strings.IndexByte(path, '>'); strings.HasPrefix(path, "<") && end > 0 {
			path = path[1:end]
		} else {
			path, _, _ = strings.Cut(path, " ")
		}
		p.sender = qualify(path, p.e.host)
	}
}
