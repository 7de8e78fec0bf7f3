package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench/imapc"
	"github.com/cote-mail/cote/pkg/testkit"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		code    int
		lines   int
		wantErr bool
	}{
		{"one line", "250 ok\r\n", 250, 1, false},
		{"code alone", "250\r\n", 250, 1, false},
		{"multi-line", "250-a\r\n250-b\r\n250 c\r\n", 250, 3, false},
		{"bare LF", "250 ok\n", 0, 0, true},
		{"letters", "25O ok\r\n", 0, 0, true},
		{"code changes", "250-a\r\n251 b\r\n", 0, 0, true},
		{"no separator", "250ok\r\n", 0, 0, true},
		{"out of range", "199 hi\r\n", 0, 0, true},
		{"cut short", "250-a\r\n", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ReadReply(bufio.NewReader(strings.NewReader(tc.in)))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (r.Code != tc.code || len(r.Lines) != tc.lines) {
				t.Errorf("got %v", r)
			}
		})
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte("250 ok\r\n"))
	f.Add([]byte("250-a\r\n250 b\r\n"))
	f.Add([]byte("452 4.2.2 over quota\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadReply(bufio.NewReaderSize(bytes.NewReader(in), 8192))
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 || len(r.Lines) > maxReplyLines {
			t.Fatalf("accepted %q as %v", in, r)
		}
	})
}

// fakeLMTP is a scripted LMTP server: answer gets each command line (the
// message body is read and passed as "DATA-END") and returns the reply
// lines, or "" to close the connection.
func fakeLMTP(t *testing.T, answer func(cmd string) string) string {
	t.Helper()
	return testkit.ServeLoopback(t, func(c net.Conn) { serveLMTP(c, answer) })
}

func serveLMTP(c net.Conn, answer func(cmd string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 fake LMTP\r\n")
	rcpts := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSuffix(line, "\r\n"))
		var out string
		switch {
		case strings.HasPrefix(cmd, "RCPT"):
			rcpts++
			out = answer(cmd)
		case cmd == "DATA":
			out = answer(cmd)
			if strings.HasPrefix(out, "354") {
				io.WriteString(c, out)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
				}
				out = ""
				for range rcpts {
					out += answer("DATA-END")
				}
				if out == "" {
					return
				}
			}
			rcpts = 0
		default:
			out = answer(cmd)
		}
		if out == "" {
			return
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

func lmtpOK(cmd string) string {
	switch {
	case strings.HasPrefix(cmd, "LHLO"):
		return "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
	case cmd == "DATA":
		return "354 go on\r\n"
	case strings.HasPrefix(cmd, "QUIT"):
		return "221 bye\r\n"
	}
	return "250 2.0.0 ok\r\n"
}

// TestLMTPCountsBrokenServers: each broken answer is counted as its kind;
// the correct fake passes clean.
func TestLMTPCountsBrokenServers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(cmd string) string
		kind   string // "" for a clean run
	}{
		{"correct", lmtpOK, ""},
		{"temporary failure after DATA", func(cmd string) string {
			if cmd == "DATA-END" {
				return "451 4.3.0 try later\r\n"
			}
			return lmtpOK(cmd)
		}, ErrNO},
		{"unknown recipient", func(cmd string) string {
			if strings.HasPrefix(cmd, "RCPT") {
				return "550 5.1.1 no such user\r\n"
			}
			return lmtpOK(cmd)
		}, ErrBAD},
		{"malformed reply", func(cmd string) string {
			if strings.HasPrefix(cmd, "MAIL") {
				return "25O ok\r\n"
			}
			return lmtpOK(cmd)
		}, ErrProtocol},
		{"disconnect after DATA", func(cmd string) string {
			if cmd == "DATA-END" {
				return ""
			}
			return lmtpOK(cmd)
		}, ErrDisconnect},
		{"bad greeting reply to LHLO", func(cmd string) string {
			if strings.HasPrefix(cmd, "LHLO") {
				return "502 no LHLO\r\n"
			}
			return lmtpOK(cmd)
		}, ErrBAD},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewLMTP(LMTPConfig{Addr: fakeLMTP(t, tc.answer), Recipients: []string{"a@x", "b@x"}, PerMessage: 2, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			// A broken server completes no operation: its run ends by
			// time, short, as the first answers already show the error.
			d := 300 * time.Millisecond
			if tc.kind == "" {
				d = 10 * time.Second
			}
			res, err := Run(context.Background(), w, Options{Clients: 2, Ops: 200, Duration: d, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if res.ErrorCount != 0 || res.Ops < 200 {
					t.Errorf("ops %d errors %v %v", res.Ops, res.Errors, res.ErrorSamples)
				}
				return
			}
			if res.Errors[tc.kind] == 0 {
				t.Errorf("no %s error counted; errors %v %v", tc.kind, res.Errors, res.ErrorSamples)
			}
		})
	}
}

func TestDotStuff(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"first line", ".a\r\n", "..a\r\n"},
		{"inner line", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(dotStuff([]byte(tc.in))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// imapIdleOK is a correct fake for the idle and large-mailbox workloads:
// a mailbox of n messages, all unseen.
func imapIdleOK(n int) func(tag, cmd string) string {
	return func(tag, cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "SELECT"):
			return fmt.Sprintf("* %d EXISTS\r\n%s OK [READ-WRITE] selected\r\n", n, tag)
		case cmd == "IDLE":
			return "+ idling\r\n"
		case tag == "DONE":
			return "" // the tests close before DONE
		case strings.HasPrefix(cmd, "FETCH 1:*"):
			var b strings.Builder
			for i := 1; i <= n; i++ {
				fmt.Fprintf(&b, "* %d FETCH (FLAGS ())\r\n", i)
			}
			return b.String() + tag + " OK done\r\n"
		case strings.HasPrefix(cmd, "SEARCH"):
			return "* SEARCH 1 2\r\n" + tag + " OK done\r\n"
		}
		return tag + " OK done\r\n"
	}
}

func TestIdleCountsBrokenServers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(tag, cmd string) string
		kind   string
	}{
		{"correct", imapIdleOK(3), ""},
		{"IDLE refused", func(tag, cmd string) string {
			if cmd == "IDLE" {
				return tag + " BAD unknown command\r\n"
			}
			return imapIdleOK(3)(tag, cmd)
		}, ErrBAD},
		{"IDLE completed without continuation", func(tag, cmd string) string {
			if cmd == "IDLE" {
				return tag + " OK done\r\n"
			}
			return imapIdleOK(3)(tag, cmd)
		}, ErrProtocol},
		{"LOGIN refused", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "LOGIN") {
				return tag + " NO [AUTHENTICATIONFAILED] no\r\n"
			}
			return imapIdleOK(3)(tag, cmd)
		}, ErrNO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, set, err := OpenIdle(context.Background(), IdleConfig{
				Addr: fakeIMAP(t, tc.answer), Dial: imapc.Options{Timeout: 10 * time.Second},
				Users: []Credential{{"u", "p"}}, Conns: 20, Pid: os.Getpid(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			if tc.kind == "" {
				if res.ErrorCount != 0 || res.Opened != 20 || res.RSSAfterKiB == 0 {
					t.Errorf("opened %d, RSS %d KiB, errors %v %v", res.Opened, res.RSSAfterKiB, res.Errors, res.ErrorSamples)
				}
				return
			}
			if res.Errors[tc.kind] != 20 || res.Opened != 0 {
				t.Errorf("opened %d, errors %v, want 20 %s", res.Opened, res.Errors, tc.kind)
			}
		})
	}
}

func TestBigMailboxCountsBrokenServers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(tag, cmd string) string
		kind   string
	}{
		{"correct", imapIdleOK(50), ""},
		{"wrong count", imapIdleOK(49), ErrSequence},
		{"FETCH 1:* short", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "FETCH") {
				return "* 1 FETCH (FLAGS ())\r\n" + tag + " OK done\r\n"
			}
			return imapIdleOK(50)(tag, cmd)
		}, ErrMissing},
		{"SEARCH beyond the mailbox", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "SEARCH") {
				return "* SEARCH 51\r\n" + tag + " OK done\r\n"
			}
			return imapIdleOK(50)(tag, cmd)
		}, ErrSequence},
		{"SEARCH without results", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "SEARCH") {
				return tag + " OK done\r\n"
			}
			return imapIdleOK(50)(tag, cmd)
		}, ErrMissing},
		{"EXPUNGE on a still mailbox", func(tag, cmd string) string {
			if strings.HasPrefix(cmd, "FETCH") {
				return "* 2 EXPUNGE\r\n" + tag + " OK done\r\n"
			}
			return imapIdleOK(50)(tag, cmd)
		}, ErrUntagged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewBigMailbox(BigMailboxConfig{Addr: fakeIMAP(t, tc.answer), User: Credential{"u", "p"}, Count: 50})
			if err != nil {
				t.Fatal(err)
			}
			// A broken server completes no operation: its run ends by
			// time, short, as the first answers already show the error.
			d := 300 * time.Millisecond
			if tc.kind == "" {
				d = 10 * time.Second
			}
			res, err := Run(context.Background(), w, Options{Clients: 1, Ops: 100, Duration: d, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if res.ErrorCount != 0 || res.Ops < 100 {
					t.Errorf("ops %d errors %v %v", res.Ops, res.Errors, res.ErrorSamples)
				}
				return
			}
			if res.Errors[tc.kind] == 0 {
				t.Errorf("no %s error counted; errors %v %v", tc.kind, res.Errors, res.ErrorSamples)
			}
		})
	}
}

// TestVisibleCountsMissingMessages: a server that accepts the delivery but
// never announces it over IMAP makes the workload count a timeout.
func TestVisibleCountsMissingMessages(t *testing.T) {
	w, err := NewVisible(VisibleConfig{
		LMTPAddr: fakeLMTP(t, lmtpOK), IMAPAddr: fakeIMAP(t, imapIdleOK(0)),
		Dial: imapc.Options{Timeout: 10 * time.Second}, User: Credential{"u", "p"}, Wait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), w, Options{Clients: 1, Duration: 500 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors[ErrTimeout] == 0 {
		t.Errorf("no timeout counted: %v %v", res.Errors, res.ErrorSamples)
	}
}

func TestWriteMaildir(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := WriteMaildir(d, 7, 30, os.Getuid(), os.Getgid()); err != nil {
			t.Fatal(err)
		}
	}
	ea, _ := os.ReadDir(filepath.Join(a, "cur"))
	eb, _ := os.ReadDir(filepath.Join(b, "cur"))
	if len(ea) != 30 || len(eb) != 30 {
		t.Fatalf("%d and %d files, want 30", len(ea), len(eb))
	}
	unseen := 0
	for i := range ea {
		if ea[i].Name() != eb[i].Name() {
			t.Fatalf("names differ: %s %s", ea[i].Name(), eb[i].Name())
		}
		x, _ := os.ReadFile(filepath.Join(a, "cur", ea[i].Name()))
		y, _ := os.ReadFile(filepath.Join(b, "cur", eb[i].Name()))
		if !bytes.Equal(x, y) || !strings.Contains(ea[i].Name(), fmt.Sprintf(",S=%d:2,", len(x))) {
			t.Fatalf("%s: contents differ or size not in the name", ea[i].Name())
		}
		if strings.HasSuffix(ea[i].Name(), ":2,") {
			unseen++
		}
	}
	if unseen != 10 {
		t.Errorf("%d unseen, want 10", unseen)
	}
}

func TestFsyncRateAndTreeRSS(t *testing.T) {
	rate, err := FsyncRate(t.TempDir(), 512, 0)
	if err != nil || rate <= 0 {
		t.Errorf("FsyncRate: %v %v", rate, err)
	}
	rss, n, err := TreeRSS(os.Getpid())
	if err != nil || rss == 0 || n < 1 {
		t.Errorf("TreeRSS: %d bytes over %d processes, %v", rss, n, err)
	}
}

func TestComparison(t *testing.T) {
	c := &Comparison{Date: "2026-01-01", Machine: "test", Servers: []string{"cote", "peer"}, Rounds: 3,
		Charts: []ChartAxes{{Title: "tput", XLabel: "clients", YLabel: "ops/s", LogX: true}}}
	for i, v := range []float64{100, 120, 80} {
		c.Add("ops 1", "ops/s", true, "cote", v).Chart = "tput"
		c.Figure("ops 1").X = 1
		c.Add("ops 1", "ops/s", true, "peer", 100)
		c.Add("ops 10", "ops/s", true, "cote", 300)
		c.Add("ops 10", "ops/s", true, "peer", 600)
		f := c.Figure("ops 10")
		f.Chart, f.X = "tput", 10
		c.Add("latency", "ms", false, "cote", float64(i+1))
		c.Add("latency", "ms", false, "peer", 4)
	}
	c.Figure("latency").AddErrors("cote", 2)
	lo, med, hi := Spread(c.Figure("ops 1").Ratios("cote", "peer"))
	if lo != 0.8 || med != 1 || hi != 1.2 {
		t.Errorf("spread %v %v %v", lo, med, hi)
	}
	if !c.Figure("ops 10").Behind("cote", "peer", 0.1) || c.Figure("latency").Behind("cote", "peer", 0.1) {
		t.Error("Behind is wrong")
	}
	var table bytes.Buffer
	c.WriteTable(&table)
	for _, want := range []string{"0.80/1.00/1.20", "< 0.50/0.50/0.50", "0.25/0.50/0.75", "ERRORS cote:2"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var svg bytes.Buffer
	if err := c.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one polyline per series plus the axes.
	dec := xml.NewDecoder(&svg)
	lines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 3 {
		t.Errorf("%d polylines, want 3 (axes and two series)", lines)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := c.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
}

// TestSMTPCountsBrokenServers: the SMTP workload over the scripted server
// (one reply after the data, as SMTP has); a server answering 250 to DATA
// (accepting a message it never received) is a protocol error.
func TestSMTPCountsBrokenServers(t *testing.T) {
	smtpOK := func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
		}
		if strings.HasPrefix(cmd, "LHLO") {
			return "500 5.5.1 this is SMTP\r\n"
		}
		return lmtpOK(cmd)
	}
	tests := []struct {
		name   string
		answer func(cmd string) string
		kind   string // "" for a clean run
	}{
		{"correct", smtpOK, ""},
		{"250 without the data", func(cmd string) string {
			if cmd == "DATA" {
				return "250 2.0.0 queued\r\n"
			}
			return smtpOK(cmd)
		}, ErrProtocol},
		{"temporary failure after DATA", func(cmd string) string {
			if cmd == "DATA-END" {
				return "451 4.3.0 try later\r\n"
			}
			return smtpOK(cmd)
		}, ErrNO},
		{"disconnect after DATA", func(cmd string) string {
			if cmd == "DATA-END" {
				return ""
			}
			return smtpOK(cmd)
		}, ErrDisconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewSMTP(LMTPConfig{Addr: fakeLMTP(t, tc.answer), Recipients: []string{"a@x", "b@x"}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if w.Name() != "smtp" {
				t.Errorf("name %q", w.Name())
			}
			d := 300 * time.Millisecond
			if tc.kind == "" {
				d = 10 * time.Second
			}
			res, err := Run(context.Background(), w, Options{Clients: 2, Ops: 200, Duration: d, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if res.ErrorCount != 0 || res.Ops < 200 {
					t.Errorf("ops %d errors %v %v", res.Ops, res.Errors, res.ErrorSamples)
				}
				return
			}
			if res.Errors[tc.kind] == 0 {
				t.Errorf("no %s error counted; errors %v %v", tc.kind, res.Errors, res.ErrorSamples)
			}
		})
	}
}

// fakePOP3 is a scripted POP3 server holding msgs; answer may replace the
// reply to a command line ("" keeps the correct one, "CLOSE" hangs up).
func fakePOP3(t *testing.T, msgs []string, answer func(cmd string) string) string {
	t.Helper()
	return testkit.ServeLoopback(t, func(c net.Conn) { servePOP3(c, msgs, answer) })
}

func servePOP3(c net.Conn, msgs []string, answer func(cmd string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "+OK fake POP3\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSuffix(line, "\r\n")
		out := answer(cmd)
		if out == "CLOSE" {
			return
		}
		if out == "" {
			verb, arg, _ := strings.Cut(cmd, " ")
			switch strings.ToUpper(verb) {
			case "STAT":
				n := 0
				for _, m := range msgs {
					n += len(m)
				}
				out = fmt.Sprintf("+OK %d %d\r\n", len(msgs), n)
			case "RETR":
				i, _ := strconv.Atoi(arg)
				if i < 1 || i > len(msgs) {
					out = "-ERR no such message\r\n"
					break
				}
				out = fmt.Sprintf("+OK %d octets\r\n", len(msgs[i-1])) + string(dotStuff([]byte(msgs[i-1]))) + ".\r\n"
			case "QUIT":
				io.WriteString(c, "+OK bye\r\n")
				return
			default:
				out = "+OK\r\n"
			}
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// TestPOP3CountsBrokenServers: each broken answer is counted as its kind
// (a STAT size the RETRs do not add up to is missing data); the correct
// fake, with dot-stuffed lines, passes clean.
func TestPOP3CountsBrokenServers(t *testing.T) {
	// The last message has a line longer than the client's buffer, full
	// of dots: a chunk of it that starts with a dot is not a line start.
	msgs := []string{"Subject: a\r\n\r\n.starts with a dot\r\nbody\r\n", string(SizedMessage(1, 3000)), "Subject: c\r\n\r\n..\r\n",
		"Subject: long\r\n\r\n" + strings.Repeat(".x", 50000) + "\r\n"}
	tests := []struct {
		name   string
		answer func(cmd string) string
		kind   string // "" for a clean run
	}{
		{"correct", func(string) string { return "" }, ""},
		{"wrong size in STAT", func(cmd string) string {
			if cmd == "STAT" {
				return "+OK 4 4000\r\n"
			}
			return ""
		}, ErrMissing},
		{"message cut short", func(cmd string) string {
			if cmd == "RETR 2" {
				return "+OK\r\nSubject: x\r\n\r\n.\r\n"
			}
			return ""
		}, ErrMissing},
		{"wrong password", func(cmd string) string {
			if strings.HasPrefix(cmd, "PASS") {
				return "-ERR [AUTH] no\r\n"
			}
			return ""
		}, ErrNO},
		{"malformed STAT", func(cmd string) string {
			if cmd == "STAT" {
				return "+OK three\r\n"
			}
			return ""
		}, ErrProtocol},
		{"neither +OK nor -ERR", func(cmd string) string {
			if cmd == "RETR 1" {
				return "* 1 EXISTS\r\n"
			}
			return ""
		}, ErrProtocol},
		{"disconnect in RETR", func(cmd string) string {
			if cmd == "RETR 3" {
				return "CLOSE"
			}
			return ""
		}, ErrDisconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewPOP3(POP3Config{Addr: fakePOP3(t, msgs, tc.answer), Users: []Credential{{"u", "p"}}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			d := 300 * time.Millisecond
			if tc.kind == "" {
				d = 10 * time.Second
			}
			res, err := Run(context.Background(), w, Options{Clients: 2, Ops: 200, Duration: d, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if res.ErrorCount != 0 || res.Ops < 200 || w.Bytes() == 0 {
					t.Errorf("ops %d bytes %d errors %v %v", res.Ops, w.Bytes(), res.Errors, res.ErrorSamples)
				}
				return
			}
			if res.Errors[tc.kind] == 0 {
				t.Errorf("no %s error counted; errors %v %v", tc.kind, res.Errors, res.ErrorSamples)
			}
		})
	}
}
