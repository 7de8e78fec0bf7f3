package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/queue"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		prog    string
		args    []string
		want    options // warnings are only counted
		nwarn   int
		errCode int
	}{
		{name: "plain", args: []string{"bob@example.com"}, want: options{mode: 'm', rcpts: []string{"bob@example.com"}}},
		{name: "cluster ti", args: []string{"-ti"}, want: options{mode: 'm', extract: true, ignoreDots: true}},
		{name: "oi", args: []string{"-oi", "-t"}, want: options{mode: 'm', extract: true, ignoreDots: true}},
		{name: "sender attached", args: []string{"-fme@x.example", "a"}, want: options{mode: 'm', sender: "me@x.example", senderSet: true, rcpts: []string{"a"}}},
		{name: "sender separate and r", args: []string{"-r", "<me@x.example>", "a"}, want: options{mode: 'm', sender: "me@x.example", senderSet: true, rcpts: []string{"a"}}},
		{name: "fullname and config", args: []string{"-F", "Ann Example", "-C", "/x.conf", "a"}, want: options{mode: 'm', fullName: "Ann Example", config: "/x.conf", rcpts: []string{"a"}}},
		{name: "bs", args: []string{"-bs"}, want: options{mode: 's'}},
		{name: "bp", args: []string{"-bp"}, want: options{mode: 'p'}},
		{name: "mailq name", prog: "/usr/bin/mailq", want: options{mode: 'p'}},
		{name: "q", args: []string{"-q"}, want: options{mode: 'q'}},
		{name: "qR site", args: []string{"-qRexample.com"}, want: options{mode: 'q'}, nwarn: 1},
		{name: "q interval", args: []string{"-q30m"}, want: options{mode: 'n'}, nwarn: 1},
		{name: "legacy flags", args: []string{"-oem", "-odi", "-v", "-om", "-U", "-h", "5", "-B8BITMIME", "a"},
			want: options{mode: 'm', rcpts: []string{"a"}}, nwarn: 5},
		{name: "double dash", args: []string{"-t", "--", "-odd"}, want: options{mode: 'm', extract: true, rcpts: []string{"-odd"}}},
		{name: "unknown option", args: []string{"-k"}, errCode: exUsage},
		{name: "missing value", args: []string{"-f"}, errCode: exUsage},
		{name: "daemon mode", args: []string{"-bd"}, errCode: exUsage},
		{name: "bad mode", args: []string{"-bz"}, errCode: exUsage},
		{name: "verify mode", args: []string{"-bv", "a"}, errCode: exUnavailable},
		{name: "newaliases", args: []string{"-bi"}, errCode: exUnavailable},
		{name: "bad body type", args: []string{"-B", "BINARY"}, errCode: exUsage},
		{name: "dash recipient", args: []string{"a", "-"}, errCode: exUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog := tc.prog
			if prog == "" {
				prog = "sendmail"
			}
			o, err := parseArgs(prog, tc.args)
			if tc.errCode != 0 {
				var ee *exitError
				if err == nil || !asExit(err, &ee) || ee.code != tc.errCode {
					t.Fatalf("err = %v, want exit %d", err, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.warnings) != tc.nwarn {
				t.Errorf("warnings %q, want %d", o.warnings, tc.nwarn)
			}
			o.warnings = nil
			if !reflect.DeepEqual(*o, tc.want) {
				t.Errorf("got %+v\nwant %+v", *o, tc.want)
			}
		})
	}
}

func asExit(err error, ee **exitError) bool {
	e, ok := err.(*exitError)
	*ee = e
	return ok
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name, in   string
		ignoreDots bool
		want       string // lines joined by |
	}{
		{"bare LF", "a: 1\nb\n", false, "a: 1|b"},
		{"CRLF", "a: 1\r\n\r\nb\r\n", false, "a: 1||b"},
		{"dot ends", "a\n.\nafter\n", false, "a"},
		{"dot kept with -i", "a\n.\nafter\n", true, "a|.|after"},
		{"dot CRLF ends", "a\r\n.\r\nz\r\n", false, "a"},
		{"no final newline", "a\nb", false, "a|b"},
		{"dot without newline is text", "a\n.", false, "a|."},
		{"mbox From line dropped", "From me Tue Nov 27 2026\nSubject: x\n", false, "Subject: x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := readMessage(strings.NewReader(tc.in), tc.ignoreDots, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(bytes.Join(lines, []byte("|"))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := readMessage(strings.NewReader(strings.Repeat("x\n", 100)), false, 50); err != errTooBig {
		t.Errorf("size limit: %v", err)
	}
}

func TestHeaderRecipients(t *testing.T) {
	tests := []struct {
		name, hdr string
		want      []string
	}{
		{"to cc bcc", "To: A <a@x.example>, b@x.example\nCc: c@x.example\nBcc: d@x.example\nSubject: s", []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example"}},
		{"folded", "To: a@x.example,\n b@x.example", []string{"a@x.example", "b@x.example"}},
		{"bare local part", "To: root, Ann <ann@x.example>", []string{"root", "ann@x.example"}},
		{"empty group", "To: undisclosed-recipients:;\nBcc: z@x.example", []string{"z@x.example"}},
		{"resent wins", "To: old@x.example\nResent-To: new@x.example", []string{"new@x.example"}},
		{"none", "Subject: s", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, _ := readMessage(strings.NewReader(tc.hdr+"\n\nbody\n"), false, 0)
			hdr, _, _ := splitHeader(lines)
			if got := headerRecipients(hdr); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFixup(t *testing.T) {
	f := fixup{sender: "ann@host.example", fullName: "Ann Example", host: "host.example"}
	tests := []struct {
		name, in  string
		want      []string // regexps that must match
		wantNot   []string
		wantCount map[string]int
	}{
		{name: "adds all", in: "Subject: s\n\nbody\n",
			want: []string{"^Subject: s\r\nFrom: Ann Example <ann@host.example>\r\nDate: .+\r\nMessage-ID: <[0-9]{14}\\.[0-9A-F]{12}@host\\.example>\r\n\r\nbody\r\n$"}},
		{name: "keeps existing", in: "From: x@y.example\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <m@y>\n\nb\n",
			want: []string{"^From: x@y.example\r\nDate: Mon, 1 Jan 2024 00:00:00 \\+0000\r\nMessage-ID: <m@y>\r\n\r\nb\r\n$"}},
		{name: "drops bcc", in: "To: a@x\nBcc: secret@x,\n more@x\nResent-Bcc: r@x\nContent-Length: 3\nFrom: f@x\nDate: d\nMessage-ID: <i>\n\nb\n",
			want: []string{"^To: a@x\r\nFrom: f@x\r\n"}, wantNot: []string{"secret", "more@x", "r@x", "Content-Length"}},
		{name: "no header", in: "just text\nmore\n",
			want: []string{"^From: .*\r\nDate: .*\r\nMessage-ID: .*\r\n\r\njust text\r\nmore\r\n$"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, _ := readMessage(strings.NewReader(tc.in), false, 0)
			got := string(f.apply(lines))
			for _, re := range tc.want {
				if !regexp.MustCompile(re).MatchString(got) {
					t.Errorf("%q does not match %s", got, re)
				}
			}
			for _, s := range tc.wantNot {
				if strings.Contains(got, s) {
					t.Errorf("%q contains %q", got, s)
				}
			}
		})
	}
}

// pickupEnv serves pkg/queue's Pickup in this process on a temporary base_dir/pickup, the
// socket the queue service serves, with a configuration naming it.
type pickupEnv struct {
	conf, spool, run string
}

func startPickup(t *testing.T) *pickupEnv {
	t.Helper()
	// Short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &pickupEnv{conf: filepath.Join(dir, "cote.conf"), spool: filepath.Join(dir, "spool"), run: filepath.Join(dir, "run")}
	if err := os.Mkdir(e.run, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "base_dir = " + e.run + "\nqueue_directory = " + e.spool + "\nmyhostname = host.example\n"
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := queue.OpenSpool(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	p := queue.NewPickup(queue.PickupConfig{Spool: sp, MyHostname: "host.example"})
	l, err := net.Listen("unix", filepath.Join(e.run, "pickup"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.Handle(ctx, c)
		}
	}()
	t.Cleanup(func() { cancel(); l.Close(); p.Close() })
	return e
}

func (e *pickupEnv) sendmail(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, er bytes.Buffer
	code = run(append([]string{"sendmail", "-C", e.conf}, args...), strings.NewReader(stdin), &o, &er)
	return code, o.String(), er.String()
}

// queued returns the one queued message's entry and bytes.
func (e *pickupEnv) queued(t *testing.T) (queue.Entry, string) {
	t.Helper()
	ents, err := queue.List(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("%d queued messages, want 1", len(ents))
	}
	data, err := os.ReadFile(filepath.Join(e.spool, ents[0].Queue, ents[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	qf, err := queue.ParseFile(data)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(qf.Body(bytes.NewReader(data)))
	return ents[0], string(body)
}

func me(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func rcptAddrs(e queue.Entry) []string {
	var out []string
	for _, r := range e.Rcpts {
		out = append(out, r.Addr)
	}
	return out
}

func TestSubmitExtract(t *testing.T) {
	e := startPickup(t)
	code, _, errs := e.sendmail(t, "To: bob@example.com, root\nBcc: hidden@example.com\nSubject: hi\n\nline one\n.\n..two\n", "-t", "-i", "-F", "Ann", "extra@example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ent, body := e.queued(t)
	if want := me(t) + "@host.example"; ent.From != want {
		t.Errorf("sender %q, want %q", ent.From, want)
	}
	if got, want := rcptAddrs(ent), []string{"extra@example.com", "bob@example.com", "root@host.example", "hidden@example.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("recipients %q, want %q", got, want)
	}
	for _, want := range []string{"Received: by host.example (cote pickup", "\r\nTo: bob@example.com, root\r\nSubject: hi\r\nFrom: Ann <" + me(t) + "@host.example>\r\nDate: ",
		"\r\n\r\nline one\r\n.\r\n..two\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "hidden") || strings.Count(body, "Message-ID:") != 1 {
		t.Errorf("Bcc kept or Message-ID not added once:\n%s", body)
	}
}

func TestSubmitSenderAndDot(t *testing.T) {
	e := startPickup(t)
	code, _, errs := e.sendmail(t, "Subject: s\n\nkept\n.\ndropped\n", "-f", "robot", "bob@example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ent, body := e.queued(t)
	if ent.From != "robot@host.example" {
		t.Errorf("sender %q", ent.From)
	}
	if !strings.Contains(body, "From: robot@host.example\r\n") && !strings.Contains(body, "<robot@host.example>") {
		t.Errorf("From: not the -f sender:\n%s", body)
	}
	if !strings.HasSuffix(body, "\r\n\r\nkept\r\n") {
		t.Errorf("the lone dot did not end the message:\n%q", body)
	}
}

func TestSMTPOnStdin(t *testing.T) {
	e := startPickup(t)
	in := "EHLO client\nMAIL FROM:<>\nRCPT TO:<bob@example.com>\nDATA\nSubject: bs\n\nhello\n.\nQUIT\n"
	code, out, errs := e.sendmail(t, in, "-bs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"220 ", "250-", "354 ", "221 "} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\r\n250 ") < 3 {
		t.Errorf("MAIL, RCPT and the message were not all accepted:\n%s", out)
	}
	ent, body := e.queued(t)
	if ent.From != me(t)+"@host.example" || len(ent.Rcpts) != 1 {
		t.Errorf("envelope %q -> %v", ent.From, ent.Rcpts)
	}
	if !strings.Contains(body, "Subject: bs\r\nFrom: ") || !strings.Contains(body, "Message-ID: <") || !strings.HasSuffix(body, "\r\n\r\nhello\r\n") {
		t.Errorf("body:\n%q", body)
	}
}

func TestQueueModes(t *testing.T) {
	e := startPickup(t)
	if code, _, errs := e.sendmail(t, "Subject: s\n\nb\n", "bob@example.com"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ent, _ := e.queued(t)
	code, out, _ := e.sendmail(t, "", "-bp")
	if code != 0 || !strings.HasPrefix(out, "-Queue ID-") || !strings.Contains(out, ent.ID+"*") || !strings.Contains(out, "bob@example.com") ||
		!strings.HasSuffix(out, "in 1 Request.\n") {
		t.Errorf("-bp: exit %d\n%s", code, out)
	}
	// Make it deferred by hand (no daemon runs here), then -q moves it back.
	if err := os.Rename(filepath.Join(e.spool, "active", ent.ID), filepath.Join(e.spool, "deferred", ent.ID)); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := e.sendmail(t, "", "-q"); code != 0 {
		t.Fatalf("-q: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(e.spool, "active", ent.ID)); err != nil {
		t.Errorf("-q did not move the deferred message to active: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	e := startPickup(t)
	down := t.TempDir() + "/down.conf"
	os.WriteFile(down, []byte("base_dir = /nonexistent\nmyhostname = h.example\n"), 0o644)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  int
	}{
		{"no recipients", nil, "Subject: s\n\nb\n", exUsage},
		{"none in header", []string{"-t"}, "Subject: s\n\nb\n", exUsage},
		{"unknown option", []string{"-k", "a"}, "", exUsage},
		{"bad address", []string{"b@c@d"}, "x\n", exUnavailable},
		{"queue down", []string{"-C", down, "bob@example.com"}, "x\n", exTempFail},
		{"config missing", []string{"-C", "/nonexistent/cote.conf", "bob@example.com"}, "x\n", exConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := e.sendmail(t, tc.stdin, tc.args...)
			if code != tc.want {
				t.Errorf("exit %d, want %d (%s)", code, tc.want, errs)
			}
			if !strings.HasPrefix(errs, "cote-sendmail: ") {
				t.Errorf("stderr %q", errs)
			}
		})
	}
}

func TestPhrase(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"atoms", "Ann Example", "Ann Example"},
		{"specials quoted", `Ann "A." Example`, `"Ann \"A.\" Example"`},
		{"non-ASCII encoded", "Zoë", "=?utf-8?q?Zo=C3=AB?="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := phrase(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
