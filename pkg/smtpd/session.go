package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/authproto"
	caddr "github.com/cote-mail/cote/pkg/smtp"
)

type session struct {
	s       *Server
	c       *smtp.Conn
	ctx     context.Context
	kind    Conn
	id      string
	ip      netip.Addr
	trusted bool
	log     *zap.Logger

	authUser string
	ec       *errorCounter // nil: no smtpd_hard_error_limit
	cork     *oneConn      // the raw connection, which holds replies (smtpd.go)
	exchange Exchange      // a SASL exchange in progress

	// the transaction
	mail     bool
	from     string
	mailOpts smtp.MailOptions
	rcpts    []Recipient
	given    []string // RCPT addresses as accepted, for logs and Received
}

func (s *Server) newSession(ctx context.Context, c *smtp.Conn, kind Conn, id string, ip netip.Addr, trusted bool, ec *errorCounter, cork *oneConn, log *zap.Logger) *session {
	return &session{s: s, c: c, ctx: ctx, kind: kind, id: id, ip: ip, trusted: trusted, ec: ec, cork: cork, log: log}
}

func reply(code int, enh [3]int, format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enh), Message: fmt.Sprintf(format, args...)}
}

// fail marks a refused command. The count itself (smtpd_hard_error_limit)
// is kept on the wire by the errorCounter, which sees go-smtp's own
// refusals too.
func (ss *session) fail(err *smtp.SMTPError) error { return err }

// tooMany is checked before each command this package handles: once the
// error limit is reached the 421 is out and the input closed, and nothing
// a pipelining client sent behind it may take effect.
func (ss *session) tooMany() error {
	if ss.ec.reached() {
		return reply(421, [3]int{4, 7, 0}, "%s Error: too many errors", ss.s.cfg.Hostname)
	}
	return nil
}

func (ss *session) Reset() {
	ss.mail = false
	ss.from = ""
	ss.mailOpts = smtp.MailOptions{}
	ss.rcpts = nil
	ss.given = nil
}

func (ss *session) Logout() error {
	if ss.exchange != nil {
		ss.exchange.Abort()
		ss.exchange = nil
	}
	return nil
}

func (ss *session) isTLS() bool {
	_, ok := ss.c.TLSConnectionState()
	return ok
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if err := ss.tooMany(); err != nil {
		return err
	}
	if isSubmission(ss.kind.Kind) && ss.authUser == "" {
		return ss.fail(reply(530, [3]int{5, 7, 0}, "Authentication required"))
	}
	if opts == nil {
		opts = &smtp.MailOptions{}
	}
	if from != "" {
		a, err := caddr.ParseDecoded(from)
		if err != nil {
			return ss.fail(reply(501, [3]int{5, 1, 7}, "<%s>: Sender address rejected: bad address syntax", from))
		}
		if !isASCII(from) && !opts.UTF8 {
			return ss.fail(reply(553, [3]int{5, 6, 7}, "<%s>: Sender address rejected: must declare SMTPUTF8 to send a UTF-8 address", from))
		}
		if ss.authUser != "" && ss.s.cfg.SenderMustMatchLogin && !ss.senderOwned(a) {
			ss.log.Info("sender refused: not owned by the login", zap.String("from", from), zap.String("user", ss.authUser))
			return ss.fail(reply(553, [3]int{5, 7, 1}, "<%s>: Sender address rejected: not owned by user %s", from, ss.authUser))
		}
		from = a.String()
	}
	ss.Reset()
	ss.mail = true
	ss.from = from
	ss.mailOpts = *opts
	return nil
}

// senderOwned is smtpd_sender_must_match_login: the sender (without its
// recipient_delimiter extension) is the login name when that has a domain,
// or login@<a local or virtual domain> when it has none.
func (ss *session) senderOwned(a caddr.Address) bool {
	base, _ := caddr.SplitExtension(strings.ToLower(a.Local), ss.s.cfg.RecipientDelimiter)
	user := strings.ToLower(ss.authUser)
	if at := strings.LastIndexByte(user, '@'); at >= 0 {
		d, err := caddr.NormalizeDomain(user[at+1:])
		return err == nil && base == user[:at] && d == a.Domain
	}
	c := ss.s.cfg.Routing.Class(a.Domain)
	return base == user && (c == caddr.Local || c == caddr.Virtual)
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := ss.tooMany(); err != nil {
		return err
	}
	a, err := caddr.ParseDecoded(to)
	if err != nil {
		return ss.fail(reply(501, [3]int{5, 1, 3}, "<%s>: Recipient address rejected: bad address syntax", to))
	}
	if !isASCII(to) && !ss.mailOpts.UTF8 {
		return ss.fail(reply(553, [3]int{5, 6, 7}, "<%s>: Recipient address rejected: must declare SMTPUTF8 to send a UTF-8 address", to))
	}
	targets, rerr := ss.resolve(a, to)
	if rerr != nil {
		if rerr.Code >= 500 {
			return ss.fail(rerr)
		}
		return rerr // a temporary lookup failure is not the client's error
	}
	var notify []string
	// ORcpt is "addr-type;address" (RFC 3461 ORCPT), the form pickup
	// writes and the queue relays and reports; without ORCPT it is the
	// address the client gave at RCPT.
	orcpt := string(smtp.DSNAddressTypeRFC822) + ";" + to
	if !isASCII(to) {
		orcpt = string(smtp.DSNAddressTypeUTF8) + ";" + to
	}
	if opts != nil {
		for _, n := range opts.Notify {
			notify = append(notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			typ := opts.OriginalRecipientType
			if typ == "" {
				typ = smtp.DSNAddressTypeRFC822
			}
			orcpt = string(typ) + ";" + opts.OriginalRecipient
		}
	}
	for _, t := range targets {
		r := Recipient{Addr: t.String(), ORcpt: orcpt, Notify: notify}
		if !slices.ContainsFunc(ss.rcpts, func(x Recipient) bool { return x.Addr == r.Addr }) {
			ss.rcpts = append(ss.rcpts, r)
		}
	}
	ss.given = append(ss.given, a.String())
	return nil
}

// resolve applies the relay policy and recipient verification to one RCPT
// and returns the final recipients (after alias expansion).
func (ss *session) resolve(a caddr.Address, raw string) ([]caddr.Address, *smtp.SMTPError) {
	cfg := &ss.s.cfg
	relayOK := ss.trusted || ss.authUser != ""
	denied := func(why string) *smtp.SMTPError {
		ss.log.Info("rcpt refused: relay access denied", zap.String("rcpt", raw), zap.String("why", why), zap.String("from", ss.from))
		return reply(554, [3]int{5, 7, 1}, "<%s>: Relay access denied", raw)
	}
	if a.IsLiteral() {
		if !relayOK {
			return nil, denied("address literal")
		}
		return []caddr.Address{a}, nil
	}
	class := cfg.Routing.Class(a.Domain)
	vad := class == caddr.Remote && cfg.VirtualAliases.IsVirtualDomain(a.Domain)
	switch {
	case class == caddr.Relay:
		return []caddr.Address{a}, nil
	case class == caddr.Remote && !vad:
		if !relayOK {
			return nil, denied("remote domain")
		}
		return []caddr.Address{a}, nil
	}
	if a.HasRoutingChars() && !relayOK {
		return nil, denied("routing characters in a local address")
	}
	tempFail := func(err error) *smtp.SMTPError {
		ss.log.Error("rcpt: lookup failed", zap.String("rcpt", raw), zap.Error(err))
		return reply(451, [3]int{4, 3, 0}, "<%s>: Temporary lookup failure", raw)
	}
	first := []caddr.Address{a}
	if cfg.VirtualAliases != nil {
		out, err := cfg.VirtualAliases.Expand(a)
		if err != nil {
			return nil, tempFail(err)
		}
		if vad && len(out) == 1 && out[0] == a {
			ss.log.Info("rcpt refused: unknown user", zap.String("rcpt", raw), zap.String("table", "virtual alias"))
			return nil, reply(550, [3]int{5, 1, 1}, "<%s>: Recipient address rejected: User unknown in virtual alias table", raw)
		}
		first = out
	}
	var final []caddr.Address
	for _, t := range first {
		if cfg.Aliases != nil && cfg.Routing.Class(t.Domain) == caddr.Local {
			out, err := cfg.Aliases.Expand(t)
			if err != nil {
				return nil, tempFail(err)
			}
			final = append(final, out...)
			continue
		}
		final = append(final, t)
	}
	var ok []caddr.Address
	for _, t := range final {
		c := cfg.Routing.Class(t.Domain)
		if t.Domain == "" || (c != caddr.Local && c != caddr.Virtual) {
			ok = append(ok, t) // forwarded elsewhere by the admin's alias
			continue
		}
		base, _ := caddr.SplitExtension(t.Local, cfg.RecipientDelimiter)
		ctx, cancel := context.WithTimeout(ss.ctx, lookupTimeout)
		exists, err := cfg.Users.Exists(ctx, base+"@"+t.Domain)
		cancel()
		if err != nil {
			return nil, tempFail(err)
		}
		if exists {
			ok = append(ok, t)
			continue
		}
		if t != a {
			// An alias target that is no user: the alias table is
			// wrong, and the other targets still get the mail.
			ss.log.Warn("alias target is not a user; dropped", zap.String("rcpt", raw), zap.String("target", t.String()))
		}
	}
	if len(ok) == 0 {
		table := "local recipient table"
		if class == caddr.Virtual {
			table = "virtual mailbox table"
		}
		ss.log.Info("rcpt refused: unknown user", zap.String("rcpt", raw), zap.String("from", ss.from))
		return nil, reply(550, [3]int{5, 1, 1}, "<%s>: Recipient address rejected: User unknown in %s", raw, table)
	}
	return ok, nil
}

// Data spools the message: Received header, then the body as received
// (bare LF handled per smtpd_forbid_bare_newline), then Commit; the reply
// is 250 only once Commit returned.
func (ss *session) Data(r io.Reader) error {
	// The reply to DATA (or BDAT LAST) is what the client waits for: it
	// is not corked behind whatever the client pipelined after the dot.
	defer ss.cork.FlushNextWrite()
	if err := ss.tooMany(); err != nil {
		return err
	}
	if len(ss.rcpts) == 0 {
		return ss.fail(reply(554, [3]int{5, 5, 1}, "Error: no valid recipients"))
	}
	now := ss.s.cfg.Now()
	env := Envelope{
		From: ss.from, Rcpts: ss.rcpts, Received: now, ClientHelo: ss.c.Hostname(), AuthUser: ss.authUser,
		RET: string(ss.mailOpts.Return), EnvID: ss.mailOpts.EnvelopeID,
		SMTPUTF8: ss.mailOpts.UTF8, EightBitMIME: ss.mailOpts.Body == smtp.Body8BitMIME,
	}
	if ss.ip.IsValid() {
		env.ClientAddr = ss.ip.String()
	}
	w, err := ss.s.cfg.Sink.Create(env)
	if err != nil {
		return ss.spoolError("create", err)
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()
	bw := spoolWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		spoolWriters.Put(bw)
	}()
	if _, err := bw.WriteString(ss.received(w.ID(), now)); err != nil {
		return ss.spoolError("write", err)
	}
	mode := ss.s.cfg.BareNewline
	if ss.trusted {
		mode = BareLFAllow // Postfix's smtpd_forbid_bare_newline_exclusions = $mynetworks
	}
	size, bare, err := copyBody(bw, r, mode)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			ss.log.Info("message refused", zap.String("from", ss.from), zap.String("reason", se.Message))
			return ss.fail(se) // go-smtp's verdict: too large, or BDAT reset
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, smtp.ErrDataReset) {
			return err // the client is gone; nothing is queued
		}
		return ss.spoolError("write", err)
	}
	if bare && mode == BareLFReject {
		ss.log.Info("message refused: bare LF", zap.String("from", ss.from))
		closeRead(ss.c.Conn())
		return reply(521, [3]int{5, 5, 2}, "%s Error: bare <LF> received", ss.s.cfg.Hostname)
	}
	if err := bw.Flush(); err != nil {
		return ss.spoolError("write", err)
	}
	// Replies still corked (a client's BDAT chunks with no read since)
	// go out before the wait for the disk.
	ss.cork.Flush()
	id, err := w.Commit()
	if err != nil {
		return ss.spoolError("commit", err)
	}
	committed = true
	ss.log.Info("queued", zap.String("queue_id", id), zap.String("from", "<"+ss.from+">"),
		zap.Strings("to", ss.given), zap.Int("nrcpt", len(ss.rcpts)), zap.Int64("size", size),
		zap.String("helo", ss.c.Hostname()), zap.String("user", ss.authUser))
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}

// spoolError is a local failure: nothing was queued; the client retries.
// A full disk is 452 4.3.1 (RFC 3463: mail system full).
func (ss *session) spoolError(op string, err error) error {
	ss.log.Error("spool "+op+" failed", zap.Error(err))
	if isNoSpace(err) {
		return reply(452, [3]int{4, 3, 1}, "Error: insufficient system storage")
	}
	return reply(451, [3]int{4, 3, 0}, "Error: queue file write error")
}

// Buffers of the DATA path, shared by all sessions: a message costs no
// allocation for them (they were 160 KiB per message).
var (
	bodyBufs     = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	spoolWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
)

// copyBody copies the message to w per the bare-LF mode and reports its
// size and whether a bare LF was seen. Chunks go to w as read, except that
// normalize mode inserts a CR before each bare LF; in reject mode nothing
// more is written after the first bare LF, but the rest is still read
// (go-smtp would discard it anyway). w should be buffered: go-smtp's
// reader returns about a line per Read.
func copyBody(w io.Writer, r io.Reader, mode string) (int64, bool, error) {
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	buf := *bp
	var n int64
	prevCR, bare := false, false
	write := func(p []byte) error {
		if len(p) == 0 || (bare && mode == BareLFReject) {
			return nil
		}
		m, err := w.Write(p)
		n += int64(m)
		return err
	}
	for {
		k, err := r.Read(buf)
		chunk := buf[:k]
		start := 0
		for off := 0; off < len(chunk); {
			i := bytes.IndexByte(chunk[off:], '\n')
			if i < 0 {
				break
			}
			j := off + i
			if (j > 0 && chunk[j-1] != '\r') || (j == 0 && !prevCR) {
				if mode == BareLFNormalize {
					if werr := write(chunk[start:j]); werr != nil {
						return n, bare, werr
					}
					if werr := write([]byte{'\r'}); werr != nil {
						return n, bare, werr
					}
					start = j // the LF starts the next piece
				}
				if mode == BareLFReject && !bare {
					// what precedes it is written; it is aborted anyway
					if werr := write(chunk[start:j]); werr != nil {
						return n, bare, werr
					}
				}
				bare = true
			}
			off = j + 1
		}
		if werr := write(chunk[start:]); werr != nil {
			return n, bare, werr
		}
		if k > 0 {
			prevCR = chunk[k-1] == '\r'
		}
		if err == io.EOF {
			return n, bare, nil
		}
		if err != nil {
			return n, bare, err
		}
	}
}

// received renders Postfix's Received: header (RFC 5321 section 4.4).
func (ss *session) received(id string, now time.Time) string {
	var b strings.Builder
	helo := ss.c.Hostname()
	ip := "127.0.0.1"
	if ss.ip.IsValid() {
		ip = ss.ip.String()
		if ss.ip.Is6() {
			ip = "IPv6:" + ip
		}
	}
	fmt.Fprintf(&b, "Received: from %s (unknown [%s])\r\n", sanitizeHelo(helo), ip)
	proto := "ESMTP"
	if ss.mailOpts.UTF8 {
		proto = "UTF8SMTP"
	}
	if st, ok := ss.c.TLSConnectionState(); ok {
		proto += "S"
		fmt.Fprintf(&b, "\t(using %s with cipher %s)\r\n", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	if ss.authUser != "" {
		proto += "A"
	}
	fmt.Fprintf(&b, "\tby %s (cote) with %s id %s", ss.s.cfg.Hostname, proto, id)
	if len(ss.given) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", ss.given[0])
	}
	fmt.Fprintf(&b, "; %s\r\n", now.Format("Mon, 2 Jan 2006 15:04:05 -0700 (MST)"))
	return b.String()
}

// sanitizeHelo keeps the HELO argument from breaking the header: it is
// client input.
func sanitizeHelo(h string) string {
	if h == "" || !utf8.ValidString(h) {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' {
			return '?'
		}
		return r
	}, h)
}

// AuthMechanisms lists the auth service's mechanisms on submission
// listeners; go-smtp shows them only over TLS. Port 25 offers no AUTH.
func (ss *session) AuthMechanisms() []string {
	if !isSubmission(ss.kind.Kind) || ss.s.cfg.Auth == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ss.ctx, lookupTimeout)
	defer cancel()
	mechs, _ := ss.s.cfg.Auth.Mechanisms(ctx)
	var out []string
	for _, m := range mechs {
		if !m.Private {
			out = append(out, strings.ToUpper(m.Name))
		}
	}
	return out
}

// Auth runs one SASL exchange on the auth service.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if err := ss.tooMany(); err != nil {
		return nil, err
	}
	if !isSubmission(ss.kind.Kind) || ss.s.cfg.Auth == nil {
		return nil, ss.fail(reply(503, [3]int{5, 5, 1}, "Error: authentication not enabled"))
	}
	if !slices.Contains(ss.AuthMechanisms(), strings.ToUpper(mech)) {
		return nil, ss.fail(reply(504, [3]int{5, 5, 4}, "Unsupported authentication mechanism"))
	}
	if ss.mail {
		return nil, ss.fail(reply(503, [3]int{5, 5, 1}, "Error: MAIL transaction in progress"))
	}
	if ss.exchange != nil {
		// An exchange the client cancelled with "*" (go-smtp does not
		// tell the session): cancel it on the auth service too.
		ss.exchange.Abort()
		ss.exchange = nil
	}
	return &saslBridge{ss: ss, mech: strings.ToUpper(mech)}, nil
}

// saslBridge is a go-sasl server whose every step is a round trip to the
// auth service (auth-client protocol), as Postfix's smtpd_sasl_type =
// dovecot does.
type saslBridge struct {
	ss   *session
	mech string
	ex   Exchange
}

func (b *saslBridge) Next(resp []byte) ([]byte, bool, error) {
	ss := b.ss
	ctx, cancel := context.WithTimeout(ss.ctx, authTimeout)
	defer cancel()
	if b.ex == nil {
		req := authproto.Request{Mech: b.mech, Service: "smtp", Secured: ss.isTLS(), InitialResponse: resp}
		if ss.ip.IsValid() {
			if ap, err := netip.ParseAddrPort(ss.c.Conn().RemoteAddr().String()); err == nil {
				req.Remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
			if ap, err := netip.ParseAddrPort(ss.c.Conn().LocalAddr().String()); err == nil {
				req.Local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
		}
		ex, err := ss.s.cfg.Auth.Start(ctx, req)
		if err != nil {
			ss.log.Warn("auth service unavailable", zap.Error(err))
			return nil, false, reply(454, [3]int{4, 7, 0}, "Temporary authentication failure")
		}
		b.ex = ex
		ss.exchange = ex
	} else if err := b.ex.Continue(resp); err != nil {
		ss.exchange = nil
		return nil, false, reply(454, [3]int{4, 7, 0}, "Temporary authentication failure")
	}
	r, err := b.ex.Next(ctx)
	if err != nil {
		ss.exchange = nil
		ss.log.Warn("auth exchange failed", zap.Error(err))
		return nil, false, reply(454, [3]int{4, 7, 0}, "Temporary authentication failure")
	}
	switch r.Kind {
	case authproto.KindCont:
		return r.Data, false, nil
	case authproto.KindOK:
		ss.exchange = nil
		ss.authUser = r.User
		ss.log.Info("authenticated", zap.String("user", r.User), zap.String("mech", b.mech))
		return nil, true, nil
	}
	ss.exchange = nil
	ss.log.Info("authentication failed", zap.String("mech", b.mech), zap.String("user", r.User), zap.String("reason", r.Reason))
	if r.Temp {
		return nil, false, reply(454, [3]int{4, 7, 0}, "Temporary authentication failure")
	}
	return nil, false, ss.fail(reply(535, [3]int{5, 7, 8}, "Error: authentication failed"))
}
