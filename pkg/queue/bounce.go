package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"go.uber.org/zap"
)

// notifies reports whether a recipient's DSN NOTIFY asks for the event (FAILURE or DELAY);
// no NOTIFY means failures and delays are reported (RFC 3461 4.1).
func notifies(r Recipient, event string) bool {
	if len(r.Notify) == 0 {
		return true
	}
	for _, n := range r.Notify {
		if strings.EqualFold(n, event) {
			return true
		}
	}
	return false
}

// hasNotify reports whether a recipient's NOTIFY lists event explicitly (SUCCESS is never
// a default).
func hasNotify(r Recipient, event string) bool {
	for _, n := range r.Notify {
		if strings.EqualFold(n, event) {
			return true
		}
	}
	return false
}

// successReports queues the NOTIFY=SUCCESS reports of this attempt ("delivered" or
// "relayed"), one per action. They are not recorded in the queue file: a crash after the
// delivery records loses them (at most once), where failures are reported at least once.
func (d *Daemon) successReports(m *msg, log *zap.Logger) error {
	byAction := map[string][]int{}
	for k, i := range m.success {
		byAction[m.actions[k]] = append(byAction[m.actions[k]], i)
	}
	for _, action := range []string{"delivered", "relayed"} {
		if idx := byAction[action]; len(idx) > 0 {
			id, err := d.queueReport(m, idx, action)
			if err != nil {
				return err
			}
			log.Info("success report queued", zap.String("report_id", id), zap.String("action", action))
		}
	}
	return nil
}

// bounceFailed queues one RFC 3464 report for every recipient in state Failed (unless the
// sender is null or its NOTIFY excludes FAILURE), then records them Bounced. A crash between
// the bounce's Commit and the records sends the bounce twice, never zero times.
func (d *Daemon) bounceFailed(m *msg, log *zap.Logger) error {
	var failed, report []int
	for i, st := range m.q.Progress.Rcpts {
		if st.State == Failed {
			failed = append(failed, i)
			if m.q.Env.From != "" && notifies(m.q.Env.Rcpts[i], "FAILURE") {
				report = append(report, i)
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if len(report) > 0 {
		id, err := d.queueReport(m, report, "failed")
		if err != nil {
			return err
		}
		log.Info("bounce queued", zap.String("bounce_id", id), zap.Int("recipients", len(report)))
	} else if m.q.Env.From == "" {
		log.Info("undeliverable null-sender message: no bounce", zap.Int("recipients", len(failed)))
	}
	for _, i := range failed {
		st := m.q.Progress.Rcpts[i]
		st.State = Bounced
		if err := m.setStatus(i, st); err != nil {
			return err
		}
	}
	return nil
}

// delayWarning queues a "delayed" report once, when delay_warning_time has passed.
func (d *Daemon) delayWarning(m *msg, now time.Time, log *zap.Logger) error {
	if d.cfg.DelayWarning <= 0 || m.q.Progress.Warned || m.q.Env.From == "" ||
		now.Sub(m.q.Env.Received) < d.cfg.DelayWarning {
		return nil
	}
	var report []int
	for i, st := range m.q.Progress.Rcpts {
		if st.State == Pending && notifies(m.q.Env.Rcpts[i], "DELAY") {
			report = append(report, i)
		}
	}
	if len(report) > 0 {
		id, err := d.queueReport(m, report, "delayed")
		if err != nil {
			return err
		}
		log.Info("delay warning queued", zap.String("warning_id", id))
	}
	if err := m.record("warned\n"); err != nil {
		return err
	}
	m.q.Progress.Warned = true
	return nil
}

// queueReport writes a multipart/report delivery-status message for the recipients idx
// (action "failed" or "delayed") and commits it to the spool from the null sender.
func (d *Daemon) queueReport(m *msg, idx []int, action string) (string, error) {
	var buf bytes.Buffer
	if err := d.writeReport(&buf, m, idx, action); err != nil {
		return "", err
	}
	w, err := d.s.Create(Envelope{From: "", Rcpts: []Recipient{{Addr: m.q.Env.From, Notify: []string{"NEVER"}}},
		Received: d.cfg.Now(), ClientAddr: "127.0.0.1", ClientHelo: d.cfg.MyHostname, SMTPUTF8: m.q.Env.SMTPUTF8,
		EightBitMIME: m.q.Env.EightBitMIME})
	if err != nil {
		return "", err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		w.Abort()
		return "", err
	}
	return w.Commit()
}

// writeReport renders the RFC 3464 report (with go-message's multipart writer).
func (d *Daemon) writeReport(out io.Writer, m *msg, idx []int, action string) error {
	env := m.q.Env
	now := d.cfg.Now()
	host := d.cfg.MyHostname
	var h message.Header
	h.Set("From", "Mail Delivery System <MAILER-DAEMON@"+host+">")
	h.Set("To", "<"+env.From+">")
	h.Set("Date", now.Format(time.RFC1123Z))
	h.Set("Message-Id", fmt.Sprintf("<%s.%s@%s>", newID(), action, host))
	h.Set("Auto-Submitted", "auto-replied")
	h.Set("MIME-Version", "1.0")
	human := "This is the mail system at host " + host + ".\r\n\r\n"
	switch action {
	case "failed":
		h.Set("Subject", "Undelivered Mail Returned to Sender")
		human += "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients. It's attached below.\r\n\r\n"
	case "delivered", "relayed":
		h.Set("Subject", "Successful Mail Delivery Report")
		human += "Your message was successfully " + action + " to the destinations listed below.\r\n\r\n"
	default:
		h.Set("Subject", "Delayed Mail (still being retried)")
		human += "Your message could not be delivered for " + now.Sub(env.Received).Round(time.Minute).String() +
			".\r\nIt will be retried until it is " + d.cfg.MaxLifetime.String() + " old.\r\n\r\n"
	}
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status"})
	mw, err := message.CreateWriter(out, h)
	if err != nil {
		return err
	}
	// Part 1: for people.
	var ph message.Header
	ph.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	ph.Set("Content-Description", "Notification")
	pw, err := mw.CreatePart(ph)
	if err != nil {
		return err
	}
	io.WriteString(pw, human)
	for _, i := range idx {
		st := m.q.Progress.Rcpts[i]
		fmt.Fprintf(pw, "<%s>: %s\r\n", env.Rcpts[i].Addr, oneLine(st.Diag))
	}
	pw.Close()
	// Part 2: message/delivery-status (RFC 3464 section 2).
	var dh message.Header
	dh.SetContentType("message/delivery-status", nil)
	dh.Set("Content-Description", "Delivery report")
	dw, err := mw.CreatePart(dh)
	if err != nil {
		return err
	}
	fmt.Fprintf(dw, "Reporting-MTA: dns; %s\r\n", host)
	fmt.Fprintf(dw, "X-Cote-Queue-ID: %s\r\n", m.id)
	if env.EnvID != "" {
		fmt.Fprintf(dw, "Original-Envelope-Id: %s\r\n", oneLine(env.EnvID))
	}
	fmt.Fprintf(dw, "Arrival-Date: %s\r\n", env.Received.Format(time.RFC1123Z))
	for _, i := range idx {
		r, st := env.Rcpts[i], m.q.Progress.Rcpts[i]
		io.WriteString(dw, "\r\n")
		typ := "rfc822"
		if env.SMTPUTF8 {
			typ = "utf-8"
		}
		fmt.Fprintf(dw, "Final-Recipient: %s; %s\r\n", typ, r.Addr)
		if typ, addr := orcptParts(r.ORcpt); addr != "" {
			fmt.Fprintf(dw, "Original-Recipient: %s; %s\r\n", strings.ToLower(typ), oneLine(addr))
		}
		fmt.Fprintf(dw, "Action: %s\r\n", action)
		status := st.Status
		if status == "" || (action == "failed" && status[0] == '2') {
			status = "5.0.0"
		}
		if action == "failed" && status[0] == '4' && st.Status != "4.4.7" {
			status = "5" + status[1:]
		}
		fmt.Fprintf(dw, "Status: %s\r\n", status)
		if st.MTA != "" && st.MTA != "lmtp" {
			fmt.Fprintf(dw, "Remote-MTA: dns; %s\r\n", st.MTA)
		}
		if st.Diag != "" {
			kind := "smtp"
			if st.MTA == "" {
				kind = "x-cote"
			}
			fmt.Fprintf(dw, "Diagnostic-Code: %s; %s\r\n", kind, oneLine(st.Diag))
		}
		if !st.Time.IsZero() {
			fmt.Fprintf(dw, "Last-Attempt-Date: %s\r\n", st.Time.Format(time.RFC1123Z))
		}
		if action == "delayed" {
			fmt.Fprintf(dw, "Will-Retry-Until: %s\r\n", env.Received.Add(d.cfg.MaxLifetime).Format(time.RFC1123Z))
		}
	}
	dw.Close()
	// Part 3: the message, or only its header for RET=HDRS (RFC 3461 4.3).
	var oh message.Header
	hdrsOnly := strings.EqualFold(env.RET, "HDRS")
	if hdrsOnly {
		oh.SetContentType("text/rfc822-headers", nil)
	} else {
		oh.SetContentType("message/rfc822", nil)
		if env.EightBitMIME || env.SMTPUTF8 {
			oh.Set("Content-Transfer-Encoding", "8bit")
		}
	}
	switch {
	case action == "delivered" || action == "relayed":
		oh.Set("Content-Description", "Delivered Message")
	case hdrsOnly:
		oh.Set("Content-Description", "Undelivered Message Headers")
	default:
		oh.Set("Content-Description", "Undelivered Message")
	}
	ow, err := mw.CreatePart(oh)
	if err != nil {
		return err
	}
	if hdrsOnly {
		br := bufio.NewReader(m.body())
		for {
			line, err := br.ReadString('\n')
			if strings.TrimRight(line, "\r\n") == "" {
				break
			}
			io.WriteString(ow, line)
			if err != nil {
				break
			}
		}
	} else if _, err := io.Copy(ow, m.body()); err != nil {
		return err
	}
	ow.Close()
	return mw.Close()
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// orcptParts splits a recipient's ORcpt, "addr-type;address" (RFC 3461 ORCPT, as smtpd and
// pickup record it), into its parts; a bare address (queue files of older smtpd builds) is
// rfc822.
func orcptParts(orcpt string) (typ, addr string) {
	if t, a, ok := strings.Cut(orcpt, ";"); ok && t != "" && !strings.ContainsAny(t, "@<>") {
		return t, a
	}
	return "rfc822", orcpt
}
