package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gosmtp "github.com/emersion/go-smtp"
	"go.uber.org/zap/zaptest"
)

type harness struct {
	t      *testing.T
	s      *Spool
	d      *Daemon
	lmtp   *fakeMTA
	remote *fakeMTA
	now    time.Time
}

func newHarness(t *testing.T, tlsServer bool, mod func(*Config)) *harness {
	h := &harness{t: t, lmtp: newFake(), remote: newFake(), now: time.Unix(1800000000, 0)}
	var err error
	if h.s, err = OpenSpool(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Spool: h.s, MyHostname: "mx.local.test",
		Local:    func(d string) bool { return d == "local.test" },
		LMTPPath: startLMTP(t, h.lmtp), Resolver: startDNS(t),
		SMTPPort: startSMTP(t, h.remote, tlsServer), TLSLevel: "may",
		MinBackoff: time.Minute, MaxBackoff: 4 * time.Minute, MaxLifetime: time.Hour,
		ConnectTimeout: 5 * time.Second,
		Now:            func() time.Time { return h.now },
	}
	if mod != nil {
		mod(&cfg)
	}
	if h.d, err = NewDaemon(cfg); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) submit(from string, rcpts ...string) string {
	env := Envelope{From: from, Received: h.now}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, Recipient{Addr: r})
	}
	return h.submitEnv(env)
}

func (h *harness) submitEnv(env Envelope) string {
	w, err := h.s.Create(env)
	if err != nil {
		h.t.Fatal(err)
	}
	io.WriteString(w, "From: sender@example.org\r\nSubject: test\r\nMessage-Id: <m1@example.org>\r\n\r\nbody line\r\n")
	id, err := w.Commit()
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// where returns the queue holding id, "" when gone.
func (h *harness) where(id string) string {
	for _, q := range spoolDirs {
		if _, err := os.Stat(h.s.path(q, id)); err == nil {
			return q
		}
	}
	return ""
}

// run makes one delivery attempt of id (moving it back from deferred/ first).
func (h *harness) run(id string) {
	if h.where(id) == DirDeferred {
		if err := h.s.moveID(id, DirActive, DirDeferred); err != nil {
			h.t.Fatal(err)
		}
	}
	h.d.process(id)
}

func (h *harness) file(id string) *QFile {
	data, err := os.ReadFile(h.s.path(h.where(id), id))
	if err != nil {
		h.t.Fatal(err)
	}
	q, err := ParseFile(data)
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

// reports returns the null-sender messages in active/ other than skip: bounces and warnings.
func (h *harness) reports() map[string]*QFile {
	out := map[string]*QFile{}
	ents, _ := os.ReadDir(filepath.Join(h.s.Dir(), DirActive))
	for _, e := range ents {
		data, _ := os.ReadFile(h.s.path(DirActive, e.Name()))
		q, err := ParseFile(data)
		if err == nil && q.Env.From == "" {
			out[e.Name()] = q
		}
	}
	return out
}

func (h *harness) body(id string) []byte {
	data, _ := os.ReadFile(h.s.path(h.where(id), id))
	q, _ := ParseFile(data)
	return data[q.BodyOffset : q.BodyOffset+q.BodySize]
}

// dsn parses an RFC 3464 report: the per-message fields and each per-recipient block.
type dsn struct {
	msg     textproto.MIMEHeader
	rcpts   []textproto.MIMEHeader
	subject string
	third   string // content type of the returned message part
}

func parseDSN(t *testing.T, raw []byte) dsn {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out dsn
	out.subject = e.Header.Get("Subject")
	if ct, params, _ := e.Header.ContentType(); ct != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q %v", ct, params)
	}
	mr := e.MultipartReader()
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		ct, _, _ := p.Header.ContentType()
		switch n {
		case 2:
			if ct != "message/delivery-status" {
				t.Fatalf("part 2 is %q", ct)
			}
			tr := textproto.NewReader(bufio.NewReader(p.Body))
			if out.msg, err = tr.ReadMIMEHeader(); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			for {
				h, err := tr.ReadMIMEHeader()
				if len(h) > 0 {
					out.rcpts = append(out.rcpts, h)
				}
				if err != nil {
					break
				}
			}
		case 3:
			out.third = ct
		}
	}
	if n != 3 {
		t.Fatalf("%d parts", n)
	}
	return out
}

func TestDeliverLMTPPartialAndRetry(t *testing.T) {
	h := newHarness(t, false, nil)
	h.lmtp.setErr(h.lmtp.dataErr, "gone@local.test", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	h.lmtp.setErr(h.lmtp.rcptErr, "full@local.test", &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "over quota"})
	id := h.submit("sender@example.org", "ok@local.test", "gone@local.test", "full@local.test", "ok@local.test")
	h.run(id)
	got := h.lmtp.deliveries()
	if len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "ok@local.test" {
		t.Fatalf("deliveries %+v", got)
	}
	if q := h.where(id); q != DirDeferred {
		t.Fatalf("message in %q, want deferred", q)
	}
	st := h.file(id).Progress
	want := []RcptState{Delivered, Bounced, Pending, Delivered}
	for i, w := range want {
		if st.Rcpts[i].State != w {
			t.Fatalf("rcpt %d state %v, want %v (%+v)", i, st.Rcpts[i].State, w, st.Rcpts[i])
		}
	}
	if st.Attempts != 1 || !st.Next.Equal(h.now.Add(time.Minute)) {
		t.Fatalf("attempts %d next %v", st.Attempts, st.Next)
	}
	reps := h.reports()
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	for rid, q := range reps {
		if q.Env.Rcpts[0].Addr != "sender@example.org" {
			t.Fatalf("bounce to %q", q.Env.Rcpts[0].Addr)
		}
		d := parseDSN(t, h.body(rid))
		if len(d.rcpts) != 1 || d.rcpts[0].Get("Final-Recipient") != "rfc822; gone@local.test" ||
			d.rcpts[0].Get("Action") != "failed" || d.rcpts[0].Get("Status") != "5.1.1" || d.third != "message/rfc822" {
			t.Fatalf("dsn %+v", d)
		}
		if !strings.Contains(d.rcpts[0].Get("Diagnostic-Code"), "no such user") {
			t.Fatalf("diagnostic %q", d.rcpts[0].Get("Diagnostic-Code"))
		}
	}
	// The quota clears; the retry delivers only the pending recipient.
	h.lmtp.setErr(h.lmtp.rcptErr, "full@local.test", nil)
	h.now = h.now.Add(2 * time.Minute)
	h.run(id)
	got = h.lmtp.deliveries()
	if len(got) != 2 || strings.Join(got[1].Rcpts, ",") != "full@local.test" {
		t.Fatalf("deliveries %+v", got)
	}
	if q := h.where(id); q != "" {
		t.Fatalf("message still in %q", q)
	}
}

func TestBackoffDoubles(t *testing.T) {
	h := newHarness(t, false, nil)
	h.lmtp.setErr(h.lmtp.rcptErr, "full@local.test", &gosmtp.SMTPError{Code: 451, Message: "later"})
	id := h.submit("s@example.org", "full@local.test")
	wantBack := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute}
	for i, b := range wantBack {
		h.run(id)
		p := h.file(id).Progress
		if p.Attempts != i+1 || !p.Next.Equal(h.now.Add(b)) {
			t.Fatalf("attempt %d: attempts %d next in %v, want %v", i+1, p.Attempts, p.Next.Sub(h.now), b)
		}
		info, _ := os.Stat(h.s.path(DirDeferred, id))
		if !info.ModTime().Equal(p.Next) {
			t.Fatalf("mtime %v, want %v", info.ModTime(), p.Next)
		}
		h.now = p.Next
	}
}

func TestNullSenderNoBounce(t *testing.T) {
	h := newHarness(t, false, nil)
	h.lmtp.setErr(h.lmtp.rcptErr, "gone@local.test", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no"})
	id := h.submit("", "gone@local.test")
	h.run(id)
	if q := h.where(id); q != "" {
		t.Fatalf("message in %q", q)
	}
	if n := len(h.reports()); n != 0 {
		t.Fatalf("%d reports for a null-sender message", n)
	}
}

func TestExpiryBounces(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.DelayWarning = 10 * time.Minute })
	h.lmtp.setErr(h.lmtp.rcptErr, "full@local.test", &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "over quota"})
	env := Envelope{From: "s@example.org", Received: h.now, RET: "HDRS", EnvID: "env-1",
		Rcpts: []Recipient{{Addr: "full@local.test", ORcpt: "rfc822;Full@local.test"}}}
	id := h.submitEnv(env)
	h.run(id)
	if n := len(h.reports()); n != 0 {
		t.Fatalf("%d reports before the warning time", n)
	}
	h.now = h.now.Add(11 * time.Minute)
	h.run(id)
	reps := h.reports()
	if len(reps) != 1 {
		t.Fatalf("%d reports, want a delay warning", len(reps))
	}
	for rid := range reps {
		d := parseDSN(t, h.body(rid))
		if d.rcpts[0].Get("Action") != "delayed" || d.rcpts[0].Get("Status") != "4.2.2" || d.third != "text/rfc822-headers" ||
			d.msg.Get("Original-Envelope-Id") != "env-1" || d.rcpts[0].Get("Original-Recipient") != "rfc822; Full@local.test" {
			t.Fatalf("warning %+v", d)
		}
		os.Remove(h.s.path(DirActive, rid))
	}
	h.now = h.now.Add(2 * time.Minute)
	h.run(id)
	if n := len(h.reports()); n != 0 {
		t.Fatalf("second delay warning")
	}
	h.now = h.now.Add(time.Hour)
	h.run(id)
	if q := h.where(id); q != "" {
		t.Fatalf("expired message still in %q", q)
	}
	reps = h.reports()
	if len(reps) != 1 {
		t.Fatalf("%d reports, want the expiry bounce", len(reps))
	}
	for rid := range reps {
		d := parseDSN(t, h.body(rid))
		if d.rcpts[0].Get("Action") != "failed" || d.rcpts[0].Get("Status") != "4.4.7" {
			t.Fatalf("expiry %+v", d.rcpts[0])
		}
	}
}

func TestDeliverRemote(t *testing.T) {
	cases := []struct {
		name      string
		tlsServer bool
		level     string
		rcpt      string
		wantWhere string // where the message ends: "" delivered or bounced
		wantTLS   bool
		delivered int
		bounce    string // DSN Status, "" = none
	}{
		{"mx with starttls", true, "may", "u@remote.test", "", true, 1, ""},
		{"mx plain", false, "may", "u@remote.test", "", false, 1, ""},
		{"tls none", true, "none", "u@remote.test", "", false, 1, ""},
		{"a fallback", false, "may", "u@bare.test", "", false, 1, ""},
		{"encrypt without tls", false, "encrypt", "u@remote.test", DirDeferred, false, 0, ""},
		{"encrypt with tls", true, "encrypt", "u@remote.test", "", true, 1, ""},
		{"nxdomain", false, "may", "u@nx.test", "", false, 0, "5.1.2"},
		{"null mx", false, "may", "u@nullmx.test", "", false, 0, "5.1.10"},
		{"rcpt refused", false, "may", "refused@remote.test", "", false, 0, "5.7.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.tlsServer, func(cfg *Config) { cfg.TLSLevel = c.level })
			h.remote.setErr(h.remote.rcptErr, "refused@remote.test", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "relay denied"})
			id := h.submit("s@example.org", c.rcpt)
			h.run(id)
			if q := h.where(id); q != c.wantWhere {
				t.Fatalf("message in %q, want %q (%+v)", q, c.wantWhere, h.file(id).Progress.Rcpts)
			}
			got := h.remote.deliveries()
			if len(got) != c.delivered {
				t.Fatalf("%d deliveries", len(got))
			}
			if len(got) > 0 && (got[0].TLS != c.wantTLS || got[0].From != "s@example.org" || !strings.Contains(got[0].Data, "body line")) {
				t.Fatalf("delivery %+v", got[0])
			}
			reps := h.reports()
			if c.bounce == "" && len(reps) != 0 {
				t.Fatalf("unexpected bounce")
			}
			for rid := range reps {
				d := parseDSN(t, h.body(rid))
				if d.rcpts[0].Get("Status") != c.bounce {
					t.Fatalf("status %q, want %q (%v)", d.rcpts[0].Get("Status"), c.bounce, d.rcpts[0])
				}
			}
			if c.wantWhere == DirDeferred && c.level == "encrypt" {
				if st := h.file(id).Progress.Rcpts[0]; st.Status != "4.7.4" {
					t.Fatalf("deferred status %+v", st)
				}
			}
		})
	}
}

func TestRelayhost(t *testing.T) {
	h := newHarness(t, false, nil)
	h.d.cfg.Relayhost = "[127.0.0.1]"
	id := h.submit("s@example.org", "a@nx.test", "b@elsewhere.test")
	h.run(id)
	got := h.remote.deliveries()
	if len(got) != 1 || len(got[0].Rcpts) != 2 || h.where(id) != "" {
		t.Fatalf("deliveries %+v, where %q", got, h.where(id))
	}
}

func TestDaemonRunPicksUpCommit(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Now = nil; c.Workers = 2; c.Log = zaptest.NewLogger(t) })
	h.lmtp.arrived = make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.d.Run(ctx) }()
	before := h.submit("s@example.org", "early@local.test") // picked up by the first scan or the watcher
	_ = before
	h.submit("s@example.org", "late@local.test")
	for i := 0; i < 2; i++ {
		select {
		case <-h.lmtp.arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("no delivery")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(h.lmtp.deliveries()); n != 2 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestCrashResume(t *testing.T) {
	h := newHarness(t, false, nil)
	id := h.submit("s@example.org", "a@local.test", "b@local.test")
	// A previous run delivered a and crashed while appending the next record.
	f, err := os.OpenFile(h.s.path(DirActive, id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(recordDone(0, RcptStatus{State: Delivered, Time: h.now, Status: "2.0.0", MTA: "lmtp"}) + "done 1 12")
	f.Close()
	h.run(id)
	got := h.lmtp.deliveries()
	if len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "b@local.test" {
		t.Fatalf("deliveries %+v", got)
	}
	if h.where(id) != "" {
		t.Fatalf("message in %q", h.where(id))
	}
}

func TestCorruptMovedAside(t *testing.T) {
	h := newHarness(t, false, nil)
	os.WriteFile(h.s.path(DirActive, "0000000000001000001"), []byte("garbage\n"), 0o600)
	h.d.process("0000000000001000001")
	if q := h.where("0000000000001000001"); q != DirCorrupt {
		t.Fatalf("in %q", q)
	}
}

func TestDestinationConcurrency(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			h := newHarness(t, false, func(c *Config) { c.DestConcurrency = limit })
			h.lmtp.inData, h.lmtp.gate = make(chan struct{}), make(chan struct{})
			ids := []string{h.submit("s@example.org", "a@local.test"), h.submit("s@example.org", "b@local.test")}
			done := make(chan struct{})
			for _, id := range ids {
				go func() { h.d.process(id); done <- struct{}{} }()
			}
			if limit == 2 {
				// Both transactions must be in DATA at once before either is released.
				<-h.lmtp.inData
				<-h.lmtp.inData
				h.lmtp.gate <- struct{}{}
				h.lmtp.gate <- struct{}{}
			} else {
				for range ids {
					<-h.lmtp.inData
					h.lmtp.gate <- struct{}{}
				}
			}
			<-done
			<-done
			if h.lmtp.maxActive != limit || len(h.lmtp.deliveries()) != 2 {
				t.Fatalf("max parallel %d, want %d; %d deliveries", h.lmtp.maxActive, limit, len(h.lmtp.deliveries()))
			}
		})
	}
}

func TestSuccessNotification(t *testing.T) {
	cases := []struct {
		name, rcpt string
		notify     []string
		want       string // Action of the report, "" = none
	}{
		{"local success", "a@local.test", []string{"SUCCESS"}, "delivered"},
		{"remote without DSN", "u@remote.test", []string{"SUCCESS", "FAILURE"}, "relayed"},
		{"default notify", "a@local.test", nil, ""},
		{"never", "a@local.test", []string{"NEVER"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, false, nil)
			id := h.submitEnv(Envelope{From: "s@example.org", Received: h.now, Rcpts: []Recipient{{Addr: c.rcpt, Notify: c.notify}}})
			h.run(id)
			if h.where(id) != "" {
				t.Fatalf("message in %q", h.where(id))
			}
			reps := h.reports()
			if c.want == "" {
				if len(reps) != 0 {
					t.Fatalf("%d reports", len(reps))
				}
				return
			}
			if len(reps) != 1 {
				t.Fatalf("%d reports", len(reps))
			}
			for rid := range reps {
				d := parseDSN(t, h.body(rid))
				if d.rcpts[0].Get("Action") != c.want || d.rcpts[0].Get("Status") != "2.0.0" {
					t.Fatalf("report %+v", d.rcpts[0])
				}
			}
		})
	}
}

func TestLMTPConnectionReuse(t *testing.T) {
	h := newHarness(t, false, nil)
	for i := 0; i < 3; i++ {
		h.run(h.submit("s@example.org", fmt.Sprintf("u%d@local.test", i)))
	}
	if n := len(h.lmtp.deliveries()); n != 3 {
		t.Fatalf("%d deliveries", n)
	}
	h.lmtp.mu.Lock()
	conns := h.lmtp.conns
	h.lmtp.mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d LMTP connections for 3 messages, want 1", conns)
	}
	// A pooled connection the server dropped is replaced.
	c := <-h.d.lmtpIdle
	c.Close()
	h.d.lmtpIdle <- c
	h.run(h.submit("s@example.org", "late@local.test"))
	if n := len(h.lmtp.deliveries()); n != 4 {
		t.Fatalf("%d deliveries after a dead pooled connection", n)
	}
}

// TestResumeSignal: a recipient whose LMTP transaction started (an attempt record) without a
// recorded outcome is delivered with the resume ENVID bounded by that first attempt; a first
// attempt carries none, and the sender's DSN parameters never go to lmtp.
func TestResumeSignal(t *testing.T) {
	tests := []struct {
		name    string
		records func(id string, now time.Time) string // appended before the run, as by a dead daemon
		want    func(id string, now time.Time) string
	}{
		{"first attempt", func(string, time.Time) string { return "" }, func(string, time.Time) string { return "" }},
		{"attempt without outcome", func(_ string, now time.Time) string {
			return recordAttempt(now.Add(-time.Hour), []int{0, 1})
		}, func(id string, now time.Time) string { return ResumeEnvID(id, now.Add(-time.Hour)) }},
		{"first attempt kept over a later one", func(_ string, now time.Time) string {
			return recordAttempt(now.Add(-2*time.Hour), []int{1}) +
				recordDone(1, RcptStatus{State: Pending, Time: now, Status: "4.4.2", MTA: "lmtp", Diag: "no LMTP reply"}) +
				recordAttempt(now.Add(-time.Hour), []int{0, 1})
		}, func(id string, now time.Time) string { return ResumeEnvID(id, now.Add(-2*time.Hour)) }},
		{"attempt cut by the crash", func(_ string, now time.Time) string { return "attempt 12" },
			func(string, time.Time) string { return "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, false, nil)
			id := h.submit("s@example.org", "a@local.test", "b@local.test")
			f, err := os.OpenFile(h.s.path(DirActive, id), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tc.records(id, h.now))
			f.Close()
			h.run(id)
			got := h.lmtp.deliveries()
			if len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "a@local.test,b@local.test" {
				t.Fatalf("deliveries %+v", got)
			}
			if want := tc.want(id, h.now); got[0].EnvID != want {
				t.Errorf("ENVID %q, want %q", got[0].EnvID, want)
			}
			if h.where(id) != "" {
				t.Fatalf("message in %q", h.where(id))
			}
		})
	}
}
