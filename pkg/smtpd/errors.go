package smtpd

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
)

// errorCounter is smtpd_hard_error_limit. It counts the refusals the
// client hears, whoever wrote them: this package's policy replies and
// go-smtp's own (unknown command, bad MAIL/RCPT syntax, MAIL before HELO,
// DATA without RCPT...), which never reach the Session. As Postfix does,
// every 4xx/5xx reply counts (except 421, which closes anyway), and the
// reply that reaches the limit is followed at once by
// "421 4.7.0 <host> Error: too many errors" and the end of the session.
//
// How it sees the replies: go-smtp copies everything it reads and writes
// to Server.Debug, above any TLS layer. The raw connection (oneConn, below
// TLS) marks that it was written to; a Debug write that follows a raw
// write is a reply, one that follows a raw read is client input. Once the
// 421 is sent, oneConn drops every later write (replies to commands the
// client pipelined behind the limit) and the read side is closed, so
// go-smtp ends the session at its next read.
type errorCounter struct {
	limit int32
	host  string
	raw   *oneConn
	base  net.Conn // the plaintext connection before any STARTTLS
	log   *zap.Logger

	conn     atomic.Pointer[smtp.Conn] // set at HELO: its Conn() follows STARTTLS
	wrote    atomic.Bool               // raw was written since its last read
	done     atomic.Bool               // 421 sent
	errs     atomic.Int32
	upgraded bool // go-smtp answered STARTTLS before any HELO set conn
}

// reached reports whether the limit has been reached (the 421 is out).
func (e *errorCounter) reached() bool { return e != nil && e.errs.Load() >= e.limit }

// Write receives go-smtp's Debug copy of its input and output.
func (e *errorCounter) Write(p []byte) (int, error) {
	if !e.wrote.Swap(false) || e.done.Load() {
		return len(p), nil // client input, or after the end
	}
	// go-smtp writes one reply line per flush; parse every line anyway.
	for line := p; len(line) > 0; {
		l := line
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			l, line = line[:i+1], line[i+1:]
		} else {
			line = nil
		}
		if len(l) < 4 || l[3] != ' ' || !isDigit(l[0]) || !isDigit(l[1]) || !isDigit(l[2]) {
			continue // a continuation line, or not a reply
		}
		code := string(l[:3])
		if code == "220" && e.conn.Load() == nil && bytes.Contains(l, []byte("Ready to start TLS")) {
			e.upgraded = true // the STARTTLS go-ahead: base is no longer the top
		}
		if (l[0] != '4' && l[0] != '5') || code == "421" {
			continue
		}
		if e.errs.Add(1) >= e.limit {
			e.hangUp()
			break
		}
	}
	return len(p), nil
}

// hangUp sends the 421 on the connection go-smtp writes to and ends the
// session.
func (e *errorCounter) hangUp() {
	e.log.Info("too many errors; disconnecting", zap.Int32("errors", e.errs.Load()))
	top := e.base
	if c := e.conn.Load(); c != nil {
		top = c.Conn()
	} else if e.upgraded {
		top = nil // go-smtp's own TLS layer, which this package cannot reach
	}
	if top != nil {
		fmt.Fprintf(top, "421 4.7.0 %s Error: too many errors\r\n", e.host)
	}
	e.done.Store(true)
	closeRead(e.raw)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
