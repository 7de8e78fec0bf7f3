package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"
)

// replyResult turns a server reply error into a recipient result.
func replyResult(err error, mta string) result {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		status := ""
		if se.EnhancedCode != gosmtp.NoEnhancedCode && se.EnhancedCode != (gosmtp.EnhancedCode{}) {
			status = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		} else if se.Code >= 500 {
			status = "5.0.0"
		} else {
			status = "4.0.0"
		}
		return result{temp: se.Code < 500, status: status, mta: mta, diag: fmt.Sprintf("%d %s", se.Code, se.Message)}
	}
	return result{temp: true, status: "4.4.2", mta: mta, diag: err.Error()}
}

func mailOptions(env Envelope, size int64) *gosmtp.MailOptions {
	o := &gosmtp.MailOptions{UTF8: env.SMTPUTF8, EnvelopeID: env.EnvID, Size: size}
	switch strings.ToUpper(env.RET) {
	case "FULL":
		o.Return = gosmtp.DSNReturnFull
	case "HDRS":
		o.Return = gosmtp.DSNReturnHeaders
	}
	return o
}

func rcptOptions(r Recipient) *gosmtp.RcptOptions {
	o := &gosmtp.RcptOptions{}
	for _, n := range r.Notify {
		o.Notify = append(o.Notify, gosmtp.DSNNotify(strings.ToUpper(n)))
	}
	if t, a := orcptParts(r.ORcpt); a != "" && strings.EqualFold(t, "rfc822") {
		o.OriginalRecipientType, o.OriginalRecipient = gosmtp.DSNAddressTypeRFC822, a
	}
	return o
}

// transaction runs MAIL, RCPT for each recipient (duplicates of one address once), DATA on
// an open client and returns per-recipient results.
//
// For LMTP, resume is the ENVID the queue's resume signal rides on ("" for none) and the
// sender's DSN parameters are not sent: lmtp offers DSN to the queue only as that channel
// (pkg/lmtp), and the queue itself reports success for local deliveries.
func (d *Daemon) transaction(c *gosmtp.Client, m *msg, idx []int, mta string, lmtp bool, resume string) []result {
	env := m.q.Env
	opts := mailOptions(env, m.q.BodySize)
	if lmtp {
		opts.EnvelopeID, opts.Return = resume, ""
	}
	if ok, _ := c.Extension("SMTPUTF8"); opts.UTF8 && !ok {
		if !lmtp {
			// RFC 6531 3.2: no downgrade here; the message cannot go to this server.
			return allResults(idx, result{status: "5.6.7", mta: mta, diag: "SMTPUTF8 is required, but was not offered by host " + mta})
		}
		// Local delivery stores the bytes as they are: the flag only matters in transit.
		opts.UTF8 = false
	}
	action := "delivered"
	if !lmtp {
		action = "relayed"
		if ok, _ := c.Extension("DSN"); ok {
			action = "" // NOTIFY went along: the next hop reports success
		}
	}
	if err := c.Mail(env.From, opts); err != nil {
		return allResults(idx, replyResult(err, mta))
	}
	out := make([]result, 0, len(idx))
	sent := map[string]int{} // address -> index in out of the first recipient sent
	var accepted []int       // indexes into out
	var dups [][2]int        // (out index, out index of the original)
	for _, i := range idx {
		addr := env.Rcpts[i].Addr
		if first, ok := sent[addr]; ok {
			out = append(out, result{idx: i})
			dups = append(dups, [2]int{len(out) - 1, first})
			continue
		}
		sent[addr] = len(out)
		ropts := rcptOptions(env.Rcpts[i])
		if lmtp {
			ropts = nil
		}
		if err := c.Rcpt(addr, ropts); err != nil {
			r := replyResult(err, mta)
			r.idx = i
			out = append(out, r)
			var se *gosmtp.SMTPError
			if !errors.As(err, &se) {
				// The connection broke: what is left is deferred.
				for _, j := range idx[len(out):] {
					out = append(out, result{idx: j, temp: true, status: "4.4.2", mta: mta, diag: err.Error()})
				}
				return out
			}
			continue
		}
		out = append(out, result{idx: i, ok: true, status: "2.0.0", mta: mta, action: action})
		accepted = append(accepted, len(out)-1)
	}
	fixDups := func() []result {
		for _, p := range dups {
			r := out[p[1]]
			r.idx = out[p[0]].idx
			out[p[0]] = r
		}
		return out
	}
	if len(accepted) == 0 {
		c.Reset()
		return fixDups()
	}
	setAll := func(r result) {
		for _, k := range accepted {
			i := out[k].idx
			out[k] = r
			out[k].idx = i
		}
	}
	w, err := c.Data()
	if err != nil {
		setAll(replyResult(err, mta))
		return fixDups()
	}
	if _, err := io.Copy(w, m.body()); err != nil {
		w.Close()
		setAll(replyResult(err, mta))
		return fixDups()
	}
	if lmtp {
		resp, err := w.CloseWithLMTPResponse()
		var le gosmtp.LMTPDataError
		errors.As(err, &le)
		for _, k := range accepted {
			addr := env.Rcpts[out[k].idx].Addr
			if se, ok := le[addr]; ok {
				r := replyResult(se, mta)
				r.idx = out[k].idx
				out[k] = r
			} else if dr, ok := resp[addr]; ok {
				out[k].diag = "250 " + dr.StatusText
			} else {
				r := replyResult(fmt.Errorf("no LMTP reply: %v", err), mta)
				r.idx = out[k].idx
				out[k] = r
			}
		}
		return fixDups()
	}
	dr, err := w.CloseWithResponse()
	if err != nil {
		setAll(replyResult(err, mta))
		return fixDups()
	}
	for _, k := range accepted {
		out[k].diag = "250 " + dr.StatusText
	}
	return fixDups()
}

// deliverLMTP hands local recipients to base_dir/lmtp in one transaction.
func (d *Daemon) deliverLMTP(m *msg, idx []int) []result {
	const mta = "lmtp"
	c, err := d.lmtpClient()
	if err != nil {
		return allResults(idx, replyResult(err, mta))
	}
	since, err := m.startAttempt(d.cfg.Now(), idx)
	if err != nil {
		d.lmtpRelease(c)
		return allResults(idx, result{temp: true, status: "4.3.0", mta: mta, diag: "recording the attempt: " + err.Error()})
	}
	resume := ""
	if !since.IsZero() {
		resume = ResumeEnvID(m.id, since)
	}
	res := d.transaction(c.Client, m, idx, mta, true, resume)
	d.lmtpRelease(c)
	return res
}

// ResumeEnvPrefix starts the MAIL FROM ENVID by which the queue asks lmtp to skip the
// recipients that already hold the message; lmtp honours it only from mail_owner or root.
const ResumeEnvPrefix = "cote-resume."

// ResumeEnvID is the resume ENVID for queue message id whose first LMTP attempt started at
// since: "cote-resume.<queue id>.<unix seconds>" (pkg/lmtp parses it; it imports no queue).
func ResumeEnvID(id string, since time.Time) string {
	return ResumeEnvPrefix + id + "." + strconv.FormatInt(since.Unix(), 10)
}

// lmtpConn is an LMTP client connection with its socket, for the liveness check of a pooled
// one.
type lmtpConn struct {
	*gosmtp.Client
	conn net.Conn
}

// idleAlive reports whether the server kept an idle pooled connection, without a round
// trip: it peeks at the socket without blocking. An idle server that kept it has sent
// nothing (EAGAIN); one that closed it (idle timeout, restart) gives end of file, and one
// that wrote anything unasked (a 421 before closing) has left it unusable. A NOOP per
// message cost the queue and lmtp one more exchange (two context switches each side) for
// the same answer; a server that dies after the check fails the MAIL as it failed after the
// NOOP, and the message is retried.
func (c *lmtpConn) idleAlive() bool {
	sc, ok := c.conn.(syscall.Conn)
	if !ok {
		return c.Noop() == nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK
		return true // never wait for readiness: this is a probe
	})
	return err == nil && alive
}

// lmtpClient returns an idle LMTP connection the server has kept (idleAlive), or a new one:
// the connect, LHLO and the server's session setup are paid once per connection, not per
// message.
func (d *Daemon) lmtpClient() (*lmtpConn, error) {
	for {
		select {
		case c := <-d.lmtpIdle:
			if c.idleAlive() {
				return c, nil
			}
			c.Close() // the server closed it (idle timeout, restart): dial anew
			continue
		default:
		}
		break
	}
	conn, err := net.DialTimeout("unix", d.cfg.LMTPPath, d.cfg.ConnectTimeout)
	if err != nil {
		return nil, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 1}, Message: err.Error()}
	}
	c := gosmtp.NewClientLMTP(conn)
	if err := c.Hello(d.cfg.MyHostname); err != nil {
		c.Close()
		return nil, err
	}
	return &lmtpConn{Client: c, conn: conn}, nil
}

// lmtpRelease keeps c for the next message when it is in a clean state (RSET answered) and
// the pool has room; otherwise it says QUIT.
func (d *Daemon) lmtpRelease(c *lmtpConn) {
	if c.Reset() == nil {
		select {
		case d.lmtpIdle <- c:
			return
		default:
		}
	}
	c.Quit()
	c.Close()
}

// closeIdle ends the pooled LMTP connections (Run's exit).
func (d *Daemon) closeIdle() {
	for {
		select {
		case c := <-d.lmtpIdle:
			c.Quit()
			c.Close()
		default:
			return
		}
	}
}

// resolver returns the resolver for MX/A lookups: the configured server or the system's.
func (d *Daemon) resolver() *net.Resolver {
	if d.cfg.Resolver == "" {
		return net.DefaultResolver
	}
	addr := d.cfg.Resolver
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dd net.Dialer
		return dd.DialContext(ctx, network, addr)
	}}
}

// target is one host to try, in order.
type target struct {
	host string // name (for TLS SNI and logs)
	port int
}

// hosts returns the hosts to try for domain (MX by preference, falling back to the domain's own
// A/AAAA); perm tells a permanent failure (no such domain, null MX).
func (d *Daemon) hosts(ctx context.Context, domain string) ([]target, result, bool) {
	port := d.cfg.SMTPPort
	if rh := d.cfg.Relayhost; rh != "" {
		h, p := rh, ""
		if i := strings.LastIndexByte(rh, ':'); i > strings.LastIndexByte(rh, ']') {
			h, p = rh[:i], rh[i+1:]
		}
		if p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, result{temp: true, status: "4.3.5", diag: "bad relayhost " + rh}, false
			}
			port = n
		}
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			return []target{{host: h[1 : len(h)-1], port: port}}, result{}, true
		}
		domain = h
	}
	r := d.resolver()
	mxs, err := r.LookupMX(ctx, domain+".")
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil, result{temp: true, status: "4.4.3", diag: "MX lookup of " + domain + ": " + err.Error()}, false
	}
	if len(mxs) == 1 && mxs[0].Host == "." {
		return nil, result{status: "5.1.10", diag: domain + " does not accept mail (null MX)"}, false
	}
	if len(mxs) == 0 {
		// RFC 5321 5.1: no MX, the domain itself is the host if it has an address.
		if _, err := r.LookupIPAddr(ctx, domain+"."); err != nil {
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return nil, result{status: "5.1.2", diag: "Host or domain name not found: " + domain}, false
			}
			return nil, result{temp: true, status: "4.4.3", diag: "address lookup of " + domain + ": " + err.Error()}, false
		}
		return []target{{host: domain, port: port}}, result{}, true
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	var out []target
	for _, mx := range mxs {
		out = append(out, target{host: strings.TrimSuffix(mx.Host, "."), port: port})
	}
	return out, result{}, true
}

// deliverSMTP delivers the recipients of one remote domain: each MX host in turn (each of its
// addresses) until one takes the transaction.
func (d *Daemon) deliverSMTP(m *msg, idx []int, domain string) []result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	hosts, res, ok := d.hosts(ctx, domain)
	if !ok {
		return allResults(idx, res)
	}
	last := result{temp: true, status: "4.4.1", diag: "no host to try for " + domain}
	r := d.resolver()
	for _, h := range hosts {
		var ips []net.IPAddr
		var err error
		if ip := net.ParseIP(h.host); ip != nil {
			ips = []net.IPAddr{{IP: ip}}
		} else {
			ips, err = r.LookupIPAddr(ctx, h.host+".")
		}
		if err != nil {
			last = result{temp: true, status: "4.4.3", mta: h.host, diag: "address lookup: " + err.Error()}
			continue
		}
		for _, ip := range ips {
			addr := net.JoinHostPort(ip.IP.String(), strconv.Itoa(h.port))
			mta := h.host + "[" + ip.IP.String() + "]"
			c, fail := d.dialSMTP(ctx, h.host, addr, mta)
			if c == nil {
				last = fail
				continue
			}
			out := d.transaction(c, m, idx, mta, false, "")
			c.Quit()
			c.Close()
			return out
		}
	}
	return allResults(idx, last)
}

// prefixConn replays a synthetic greeting before the real stream: the session is opened
// (greeting, EHLO, STARTTLS) here, then handed to go-smtp's client, which expects a greeting.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// dialSMTP connects, reads the greeting, sends EHLO, runs STARTTLS per TLSLevel and returns a
// go-smtp client ready for MAIL (it sends its own EHLO after TLS, as RFC 3207 requires).
func (d *Daemon) dialSMTP(ctx context.Context, host, addr, mta string) (*gosmtp.Client, result) {
	dl := net.Dialer{Timeout: d.cfg.ConnectTimeout}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, result{temp: true, status: "4.4.1", mta: mta, diag: "connect: " + err.Error()}
	}
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	tp := textproto.NewConn(conn)
	fail := func(r result) (*gosmtp.Client, result) {
		conn.Close()
		r.mta = mta
		return nil, r
	}
	code, msg, err := tp.ReadResponse(220)
	if err != nil {
		return fail(result{temp: code < 500, status: "4.4.2", diag: fmt.Sprintf("greeting: %d %s", code, msg)})
	}
	useTLS := false
	if d.cfg.TLSLevel == "may" || d.cfg.TLSLevel == "encrypt" {
		if err := tp.PrintfLine("EHLO %s", d.cfg.MyHostname); err != nil {
			return fail(result{temp: true, status: "4.4.2", diag: err.Error()})
		}
		_, msg, err := tp.ReadResponse(250)
		if err == nil {
			for _, l := range strings.Split(msg, "\n") {
				if strings.EqualFold(strings.Fields(l + " x")[0], "STARTTLS") {
					useTLS = true
				}
			}
		}
		if !useTLS && d.cfg.TLSLevel == "encrypt" {
			return fail(result{temp: true, status: "4.7.4", diag: "TLS is required, but was not offered by host " + host})
		}
	}
	var stream net.Conn = conn
	if useTLS {
		if err := tp.PrintfLine("STARTTLS"); err != nil {
			return fail(result{temp: true, status: "4.4.2", diag: err.Error()})
		}
		if code, msg, err := tp.ReadResponse(220); err != nil {
			return fail(result{temp: true, status: "4.7.5", diag: fmt.Sprintf("STARTTLS: %d %s", code, msg)})
		}
		cfg := &tls.Config{InsecureSkipVerify: true}
		if d.cfg.TLSConfig != nil {
			cfg = d.cfg.TLSConfig.Clone()
		}
		cfg.ServerName = host
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(result{temp: true, status: "4.7.5", diag: "TLS handshake: " + err.Error()})
		}
		stream = tc
	}
	var rd io.Reader = stream
	if useTLS {
		rd = stream
	} else if tp.R.Buffered() > 0 {
		// Nothing is pipelined by the server before our next command; keep any bytes anyway.
		buf, _ := tp.R.Peek(tp.R.Buffered())
		rd = io.MultiReader(strings.NewReader(string(buf)), conn)
	}
	pc := &prefixConn{Conn: stream, r: io.MultiReader(strings.NewReader("220 "+host+" session\r\n"), rd)}
	c := gosmtp.NewClient(pc)
	c.CommandTimeout = 5 * time.Minute
	c.SubmissionTimeout = 10 * time.Minute
	if err := c.Hello(d.cfg.MyHostname); err != nil {
		c.Close()
		r := replyResult(err, mta)
		return nil, r
	}
	return c, result{}
}
