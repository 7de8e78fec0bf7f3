package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/mailuser"
	"github.com/cote-mail/cote/pkg/settings"
	"github.com/cote-mail/cote/pkg/storage"
)

// Options are the delivery settings.
type Options struct {
	Hostname       string // the `by` host of Received
	Delimiters     string // recipient_delimiter
	AddReceived    bool   // lmtp_add_received_header (LMTP only)
	SaveToDetail   bool   // lmtp_save_to_detail_mailbox
	RcptCheckQuota bool   // lmtp_rcpt_check_quota
	Autocreate     bool   // lda_mailbox_autocreate
	Autosubscribe  bool   // lda_mailbox_autosubscribe
	QuotaTempfail  bool   // quota_full_tempfail
}

// LoadOptions reads the delivery settings from root (the protocol view:
// settings.Config.Protocol("lmtp") or ("lda")). An empty hostname setting
// means the system's host name.
func LoadOptions(root *settings.Section) (Options, error) {
	o := Options{
		Hostname:       root.Get("hostname"),
		Delimiters:     root.Get("recipient_delimiter"),
		AddReceived:    root.Bool("lmtp_add_received_header"),
		SaveToDetail:   root.Bool("lmtp_save_to_detail_mailbox"),
		RcptCheckQuota: root.Bool("lmtp_rcpt_check_quota"),
		Autocreate:     root.Bool("lda_mailbox_autocreate"),
		Autosubscribe:  root.Bool("lda_mailbox_autosubscribe"),
		QuotaTempfail:  root.Bool("quota_full_tempfail"),
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return Options{}, fmt.Errorf("hostname: %w", err)
		}
		o.Hostname = h
	}
	return o, nil
}

// Received describes the LMTP session for the Received header.
type Received struct {
	Helo      string // LHLO argument
	RemoteIP  string // "" for a unix socket
	SessionID string
	Time      time.Time
}

// Envelope is one recipient's delivery.
type Envelope struct {
	From string // reverse path; "" is the null sender <>
	Rcpt string // the recipient address as given (RCPT TO, deliver -a)
	// Mailbox is an explicit target (deliver -m); "" means the detail
	// mailbox (SaveToDetail) or INBOX.
	Mailbox string
	// Received adds a Received header when set and Options.AddReceived.
	Received *Received
	// NoReturnPath leaves out Return-Path (deliver without -f: dovecot-lda
	// then keeps the message's own).
	NoReturnPath bool
	// MultiRcpt marks one of several recipients of a transaction: the
	// trace fields then leave out the recipient (no Delivered-To, no
	// "for" in Received), as Dovecot's lmtp does, so all recipients
	// store the same bytes.
	MultiRcpt bool
}

// Message is a spooled message with CRLF line endings.
type Message struct {
	R    io.ReaderAt
	Size int64
}

// SieveFunc is the hook where a Sieve interpreter will decide a
// message's fate (not part of cote yet). It returns the mailboxes to save
// into; an empty, non-nil list discards the message; nil keeps it
// (implicit keep: the default mailbox).
type SieveFunc func(u *storage.User, env Envelope, msg Message) ([]string, error)

// Deliverer saves messages into users' stores.
type Deliverer struct {
	Options Options
	Drivers map[string]storage.Driver
	Log     *zap.Logger
	// Sieve is nil: cote has no Sieve interpreter yet, and the default
	// mailbox is used.
	Sieve SieveFunc
}

// Failure is a delivery that did not happen, as the SMTP reply for the
// recipient and the LDA's exit status.
type Failure struct {
	Code     int    // 451, 452, 550, 552
	Enhanced [3]int // 4.3.0, 4.2.2, 5.2.2, ...
	Text     string // reply text after the recipient address
	Err      error  // the cause, for the log
}

func (f *Failure) Error() string {
	s := fmt.Sprintf("%d %d.%d.%d %s", f.Code, f.Enhanced[0], f.Enhanced[1], f.Enhanced[2], f.Text)
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

// Temporary reports whether the sender should retry (a 4xx reply).
func (f *Failure) Temporary() bool { return f.Code/100 == 4 }

// Sysexits codes as dovecot-lda uses them.
const (
	ExitOK       = 0
	ExitUsage    = 64 // EX_USAGE: bad command line
	ExitNoUser   = 67 // EX_NOUSER: unknown user
	ExitTempFail = 75 // EX_TEMPFAIL: retry later
	ExitNoPerm   = 77 // EX_NOPERM: rejected (over quota without quota_full_tempfail)
	ExitConfig   = 78 // EX_CONFIG: configuration error
)

// ExitCode maps a Deliver error to dovecot-lda's exit status.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var f *Failure
	if errors.As(err, &f) && !f.Temporary() {
		if f.Code == 550 && f.Enhanced == [3]int{5, 1, 1} {
			return ExitNoUser
		}
		return ExitNoPerm
	}
	return ExitTempFail
}

// TempFailure is the generic temporary failure (the cause goes to the log
// only: it may name paths).
func TempFailure(err error) *Failure {
	return &Failure{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Temporary internal error", Err: err}
}

// NoUser is the reply for a recipient the userdb does not know.
func NoUser(addr string) *Failure {
	return &Failure{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "User doesn't exist: " + addr}
}

// quotaFailure is Dovecot's over-quota reply, permanent unless
// quota_full_tempfail.
func (o Options) quotaFailure(err error) *Failure {
	if o.QuotaTempfail {
		return &Failure{Code: 452, Enhanced: [3]int{4, 2, 2}, Text: "Quota exceeded (mailbox for user is full)", Err: err}
	}
	return &Failure{Code: 552, Enhanced: [3]int{5, 2, 2}, Text: "Quota exceeded (mailbox for user is full)", Err: err}
}

// failure maps a store error to the recipient's outcome.
func (o Options) failure(err error) *Failure {
	var f *Failure
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, storage.ErrOverQuota):
		return o.quotaFailure(err)
	case errors.Is(err, storage.ErrTooBig):
		return &Failure{Code: 552, Enhanced: [3]int{5, 2, 3}, Text: "Message is too big", Err: err}
	}
	return TempFailure(err)
}

// Headers returns the trace fields prepended for env: Return-Path and
// Delivered-To (RFC 5321 section 4.4; Dovecot's lmtp_hdr_delivery_address
// = final: the RCPT address), then Received when the envelope has session
// data and AddReceived is set. With env.MultiRcpt the recipient is left
// out of both (Dovecot uses "none" when a mail has several recipients).
func (o Options) Headers(env Envelope) []byte {
	if env.MultiRcpt {
		return o.headers(env, "")
	}
	return o.headers(env, env.Rcpt)
}

// headers builds the trace fields naming rcpt as the delivery address;
// rcpt "" leaves out the per-recipient parts (Delivered-To and
// Received's "for" clause), as Dovecot's lmtp does for a transaction
// with several recipients, so every recipient stores the same bytes.
func (o Options) headers(env Envelope, rcpt string) []byte {
	b := make([]byte, 0, 256)
	if !env.NoReturnPath {
		b = append(b, "Return-Path: <"...)
		b = append(b, env.From...)
		b = append(b, ">\r\n"...)
	}
	if rcpt != "" {
		b = append(b, "Delivered-To: "...)
		b = append(b, rcpt...)
		b = append(b, "\r\n"...)
	}
	if r := env.Received; r != nil && o.AddReceived {
		b = append(b, "Received: from "...)
		b = append(b, r.Helo...)
		if r.RemoteIP != "" {
			b = append(b, " (["...)
			b = append(b, r.RemoteIP...)
			b = append(b, "])"...)
		}
		b = append(b, "\r\n\tby "...)
		b = append(b, o.Hostname...)
		b = append(b, " with LMTP\r\n\tid "...)
		b = append(b, r.SessionID...)
		b = append(b, "\r\n\t(envelope-from <"...)
		b = append(b, env.From...)
		b = append(b, ">)"...)
		if rcpt != "" {
			b = append(b, "\r\n\tfor <"...)
			b = append(b, rcpt...)
			b = append(b, '>')
		}
		b = append(b, "; "...)
		b = r.Time.AppendFormat(b, time.RFC1123Z)
		b = append(b, "\r\n"...)
	}
	return b
}

// CheckQuota refuses (with the quota failure) a user who is already over
// quota, or whom a message of size bytes would put over it: the RCPT-time
// check of lmtp_rcpt_check_quota. size is 0 when the client sent no SIZE.
func (d *Deliverer) CheckQuota(cfg storage.UserConfig, size int64) error {
	if err := mailuser.MakeHome(cfg.Home); err != nil {
		return TempFailure(fmt.Errorf("home directory: %w", err))
	}
	u, err := storage.OpenUser(cfg, d.Drivers, d.log())
	if err != nil {
		return d.Options.failure(err)
	}
	defer u.Close()
	q := u.Quota()
	if q == (storage.Quota{}) {
		return nil
	}
	us, err := u.Usage()
	if err != nil {
		return d.Options.failure(err)
	}
	if q.Exceeds(us, size, 1) {
		return d.Options.quotaFailure(storage.Errorf("rcpt", "", storage.ErrOverQuota, nil))
	}
	return nil
}

func (d *Deliverer) log() *zap.Logger {
	if d.Log == nil {
		return zap.NewNop()
	}
	return d.Log
}

// Deliver saves msg for one recipient and returns the mailbox it went to.
// A non-nil error is a *Failure.
func (d *Deliverer) Deliver(cfg storage.UserConfig, env Envelope, msg Message) (string, error) {
	return d.deliverHdr(cfg, env, msg, d.Options.Headers(env))
}

// deliverUser runs the Sieve hook and saves msg, prefixed with hdr, into
// the mailboxes it picks (the default one without Sieve).
func (d *Deliverer) deliverUser(u *storage.User, env Envelope, msg Message, hdr []byte) (string, error) {
	targets := []string{d.target(env)}
	if d.Sieve != nil {
		t, err := d.Sieve(u, env, msg)
		if err != nil {
			return "", d.Options.failure(err)
		}
		if t != nil {
			targets = t
		}
	}
	var saved []string
	for _, name := range targets {
		got, err := d.saveTo(u, name, func(name string) error { return d.save(u, name, hdr, msg) })
		if err != nil {
			return strings.Join(saved, ","), d.Options.failure(err)
		}
		saved = append(saved, got)
	}
	return strings.Join(saved, ","), nil
}

// target is the mailbox env asks for before any fallback.
func (d *Deliverer) target(env Envelope) string {
	if env.Mailbox != "" {
		return env.Mailbox
	}
	if d.Options.SaveToDetail {
		if _, detail, _ := SplitAddress(env.Rcpt, d.Options.Delimiters); detail != "" {
			return detail
		}
	}
	return "INBOX"
}

// saveTo saves into name, creating it (lda_mailbox_autocreate) or falling
// back on INBOX when it does not exist or cannot be saved into, as
// Dovecot's mail_deliver does; quota and temporary errors do not fall
// back (INBOX shares the quota, and a retry may succeed).
func (d *Deliverer) saveTo(u *storage.User, name string, save func(name string) error) (string, error) {
	err := save(name)
	if err == nil || storage.IsInbox(name) {
		return name, err
	}
	if errors.Is(err, storage.ErrNotFound) && d.Options.Autocreate {
		cerr := u.Create(name)
		if cerr == nil || errors.Is(cerr, storage.ErrExists) {
			if cerr == nil && d.Options.Autosubscribe {
				if err := u.SetSubscribed(name, true); err != nil {
					d.log().Warn("autosubscribe failed", zap.String("mailbox", name), zap.Error(err))
				}
			}
			if err = save(name); err == nil {
				return name, nil
			}
		} else {
			err = cerr
		}
	}
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrNoPerm) {
		d.log().Info("delivering to INBOX instead", zap.String("mailbox", name), zap.Error(err))
		return "INBOX", save("INBOX")
	}
	return name, err
}

// save runs one save transaction; Commit returns once the message is on
// stable storage.
func (d *Deliverer) save(u *storage.User, name string, hdr []byte, msg Message) error {
	mb, err := u.OpenSave(name)
	if err != nil {
		return err
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		return err
	}
	body := io.MultiReader(bytes.NewReader(hdr), io.NewSectionReader(msg.R, 0, msg.Size))
	if err := sv.Append(body, storage.AppendOptions{}); err != nil {
		sv.Abort()
		return err
	}
	_, _, err = sv.Commit()
	return err
}

// CopyCRLF copies r to w turning every bare LF into CRLF (Dovecot's lmtp
// and LDA convert too, so a stored message has one line-ending
// convention and no bare LF reaches IMAP clients); it returns the bytes
// written.
func CopyCRLF(w io.Writer, r io.Reader) (int64, error) {
	bufs := crlfBufs.Get().(*crlfBuf)
	defer crlfBufs.Put(bufs)
	buf, out := bufs.in[:], bufs.out[:0]
	var n int64
	prevCR := false
	for {
		k, err := r.Read(buf)
		out = out[:0]
		for _, c := range buf[:k] {
			if c == '\n' && !prevCR {
				out = append(out, '\r')
			}
			out = append(out, c)
			prevCR = c == '\r'
		}
		if len(out) > 0 {
			m, werr := w.Write(out)
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// crlfBuf is CopyCRLF's read buffer and its converted output (at most
// twice as long); pooled, as every LMTP message passes through one.
type crlfBuf struct {
	in  [32 << 10]byte
	out [64 << 10]byte
}

var crlfBufs = sync.Pool{New: func() any { return new(crlfBuf) }}

// SplitAddress splits a recipient address into the user part the userdb
// is asked for (local part without detail, @domain kept) and the detail:
// the detail starts after the first character of delims in the local
// part, as Dovecot's recipient_delimiter. A local part starting with a
// delimiter has no detail. user is "" when the local part is empty.
func SplitAddress(addr, delims string) (user, detail string, ok bool) {
	local, domain, hasAt := addr, "", false
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain, hasAt = addr[:i], addr[i+1:], true
	}
	if delims != "" {
		if i := strings.IndexAny(local, delims); i > 0 {
			// The delimiter may be a multi-byte character.
			rest := local[i:]
			_, n := utf8.DecodeRuneInString(rest)
			local, detail = local[:i], rest[n:]
		}
	}
	if local == "" {
		return "", "", false
	}
	if hasAt {
		return local + "@" + domain, detail, true
	}
	return local, detail, true
}
