package delivery

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
)

func TestSplitAddress(t *testing.T) {
	tests := []struct{ name, in, delims, user, detail string }{
		{"plain", "a@example.org", "+", "a@example.org", ""},
		{"detail", "a+x@example.org", "+", "a@example.org", "x"},
		{"second delimiter", "a-x+y@example.org", "+-", "a@example.org", "x+y"},
		{"local only", "a+x", "+", "a", "x"},
		{"leading delimiter kept", "+a@example.org", "+", "+a@example.org", ""},
		{"no delimiters", "a+x@example.org", "", "a+x@example.org", ""},
		{"multibyte delimiter", "a§x@example.org", "§", "a@example.org", "x"},
		{"empty detail", "a+@example.org", "+", "a@example.org", ""},
		{"empty local", "@example.org", "+", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, detail, ok := SplitAddress(tc.in, tc.delims)
			if user != tc.user || detail != tc.detail || ok != (tc.user != "") {
				t.Errorf("SplitAddress(%q, %q) = %q, %q, %v; want %q, %q", tc.in, tc.delims, user, detail, ok, tc.user, tc.detail)
			}
		})
	}
}

func FuzzSplitAddress(f *testing.F) {
	f.Fuzz(func(t *testing.T, addr, delims string) {
		user, detail, ok := SplitAddress(addr, delims)
		if !ok {
			if user != "" || detail != "" {
				t.Fatalf("not ok but %q %q", user, detail)
			}
			return
		}
		if len(user)+len(detail) > len(addr) {
			t.Fatalf("parts longer than the address: %q %q from %q", user, detail, addr)
		}
		if utf8.ValidString(addr) && (!utf8.ValidString(user) || !utf8.ValidString(detail)) {
			t.Fatalf("split a character: %q %q from %q", user, detail, addr)
		}
		// Splitting again finds no further detail in the user part's
		// local part only if the first delimiter was removed.
		if detail != "" {
			if u2, _, _ := SplitAddress(user, delims); u2 != user {
				t.Fatalf("user part %q still has a detail (%q)", user, u2)
			}
		}
	})
}

func TestHeaders(t *testing.T) {
	tm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := Options{Hostname: "mx.test", AddReceived: true}
	tests := []struct {
		name string
		o    Options
		env  Envelope
		want string
	}{
		{"lmtp", o, Envelope{From: "s@r", Rcpt: "a+x@d", Received: &Received{Helo: "c", RemoteIP: "127.0.0.1", SessionID: "id1", Time: tm}},
			"Return-Path: <s@r>\r\nDelivered-To: a+x@d\r\nReceived: from c ([127.0.0.1])\r\n\tby mx.test with LMTP\r\n\tid id1\r\n\t(envelope-from <s@r>)\r\n\tfor <a+x@d>; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
		{"received off", Options{}, Envelope{From: "", Rcpt: "a@d", Received: &Received{Helo: "c"}}, "Return-Path: <>\r\nDelivered-To: a@d\r\n"},
		{"lda without -f", o, Envelope{Rcpt: "a@d", NoReturnPath: true}, "Delivered-To: a@d\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.o.Headers(tc.env)); got != tc.want {
				t.Errorf("Headers = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, 0},
		{"no user", NoUser("a"), ExitNoUser},
		{"temporary", TempFailure(errors.New("x")), ExitTempFail},
		{"quota", Options{}.quotaFailure(nil), ExitNoPerm},
		{"quota tempfail", Options{QuotaTempfail: true}.quotaFailure(nil), ExitTempFail},
		{"not a failure", errors.New("x"), ExitTempFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode = %d, want %d", got, tc.want)
			}
		})
	}
}

func newDeliverer(o Options) *Deliverer {
	return &Deliverer{Options: o, Drivers: map[string]storage.Driver{"maildir": maildir.New(nil).Open}}
}

func userCfg(home string) storage.UserConfig {
	return storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir", UID: os.Geteuid(), GID: os.Getegid()}
}

func count(t *testing.T, home, box string) int {
	t.Helper()
	dir := filepath.Join(home, "Maildir")
	if box != "INBOX" {
		dir = filepath.Join(dir, "."+box)
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		n += len(ents)
	}
	return n
}

func msg(s string) Message { return Message{R: strings.NewReader(s), Size: int64(len(s))} }

// TestDeliverMailbox covers the explicit mailbox (-m): delivered there
// when it exists or is autocreated, else INBOX.
func TestDeliverMailbox(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		box     string
		want    string
		wantSub bool
	}{
		{"missing falls back", Options{}, "Work", "INBOX", false},
		{"autocreate", Options{Autocreate: true}, "Work", "Work", false},
		{"autocreate and subscribe", Options{Autocreate: true, Autosubscribe: true}, "Work", "Work", true},
		{"invalid name falls back", Options{Autocreate: true}, "../x", "INBOX", false},
		{"inbox", Options{}, "inbox", "inbox", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			d := newDeliverer(tc.o)
			got, err := d.Deliver(userCfg(home), Envelope{From: "s@r", Rcpt: "u@d", Mailbox: tc.box}, msg("Subject: x\r\n\r\nbody\r\n"))
			if err != nil || got != tc.want {
				t.Fatalf("Deliver = %q, %v; want %q", got, err, tc.want)
			}
			box := tc.want
			if strings.EqualFold(box, "INBOX") {
				box = "INBOX"
			}
			if n := count(t, home, box); n != 1 {
				t.Fatalf("%s holds %d messages", box, n)
			}
			u, err := storage.OpenUser(userCfg(home), d.Drivers, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			subs, _ := u.Subscriptions()
			if has := strings.Contains(strings.Join(subs, "\n"), tc.box); has != tc.wantSub {
				t.Errorf("subscriptions %q", subs)
			}
		})
	}
}

// TestSieveHook: the hook's targets replace the default mailbox; nil
// keeps it; an error is a temporary failure.
func TestSieveHook(t *testing.T) {
	tests := []struct {
		name    string
		targets []string
		err     error
		want    string
		wantErr int
	}{
		{"implicit keep", nil, nil, "INBOX", 0},
		{"fileinto", []string{"INBOX", "INBOX"}, nil, "INBOX,INBOX", 0},
		{"discard", []string{}, nil, "", 0},
		{"error", nil, errors.New("script broken"), "", ExitTempFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			d := newDeliverer(Options{})
			d.Sieve = func(*storage.User, Envelope, Message) ([]string, error) { return tc.targets, tc.err }
			got, err := d.Deliver(userCfg(home), Envelope{Rcpt: "u@d"}, msg("a: b\r\n\r\n"))
			if got != tc.want || ExitCode(err) != tc.wantErr {
				t.Fatalf("Deliver = %q, %v", got, err)
			}
		})
	}
}

// TestServeHelper runs the helper side in process: the job comes as
// JSON, the message from a regular file, the result as one JSON line.
func TestServeHelper(t *testing.T) {
	home := t.TempDir()
	f, err := os.CreateTemp(t.TempDir(), "spool")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("Subject: helper\r\n\r\nbody\r\n")
	tests := []struct {
		name     string
		job      string
		wantCode int
		wantOut  string
	}{
		{"delivers", `{"User":{"Name":"u","Home":"` + home + `","MailLocation":"maildir:~/Maildir","UID":` + itoa(os.Geteuid()) + `,"GID":` + itoa(os.Getegid()) + `},"Env":{"From":"s@r","Rcpt":"u@d"}}`, 0, `{"Mailbox":"INBOX",`},
		{"other uid refused", `{"User":{"Name":"u","Home":"` + home + `","UID":` + itoa(os.Geteuid()+1) + `}}`, ExitTempFail, `"Code":451`},
		{"bad json", `{`, ExitTempFail, `"Code":451`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := ServeHelper(tc.job, f, &out, newDeliverer(Options{}))
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("ServeHelper = %d, %q", code, out.String())
			}
		})
	}
	if n := count(t, home, "INBOX"); n != 1 {
		t.Fatalf("INBOX holds %d", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestDeliverAll: every recipient gets one done call with its own
// outcome and mailbox; the message is shared, without Delivered-To.
func TestDeliverAll(t *testing.T) {
	root := t.TempDir()
	blocker := filepath.Join(root, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(Options{Autocreate: true})
	env := func(rcpt, box string) Envelope {
		return Envelope{From: "s@r", Rcpt: rcpt, Mailbox: box, MultiRcpt: true}
	}
	rcpts := []Recipient{
		{userCfg(filepath.Join(root, "a")), env("a@d", "")},
		{userCfg(filepath.Join(blocker, "b")), env("b@d", "")},
		{userCfg(filepath.Join(root, "c")), env("c@d", "Work")},
		{userCfg(filepath.Join(root, "d")), env("d@d", "../bad")},
	}
	type outcome struct {
		box  string
		exit int
	}
	want := []outcome{{"INBOX", ExitOK}, {"", ExitTempFail}, {"Work", ExitOK}, {"INBOX", ExitOK}}
	got := make([]outcome, len(rcpts))
	calls := make([]int, len(rcpts))
	var mu sync.Mutex
	d.DeliverAll(rcpts, msg("Subject: x\r\n\r\nbody\r\n"), func(i int, box string, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls[i]++
		got[i] = outcome{box, ExitCode(err)}
	})
	for i := range rcpts {
		if calls[i] != 1 || got[i] != want[i] {
			t.Errorf("recipient %d: %d calls, %+v; want %+v", i, calls[i], got[i], want[i])
		}
	}
	for _, c := range []struct{ home, box string }{{"a", "INBOX"}, {"c", "Work"}, {"d", "INBOX"}} {
		if n := count(t, filepath.Join(root, c.home), c.box); n != 1 {
			t.Errorf("%s/%s holds %d messages", c.home, c.box, n)
		}
	}
}

// TestCopyCRLF: bare LFs become CRLF, CRLF stays, whatever the read
// boundaries (a CR at the end of one read and its LF in the next).
func TestCopyCRLF(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bare LF", "a\nb\n", "a\r\nb\r\n"},
		{"CRLF kept", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"lone CR kept", "a\rb", "a\rb"},
		{"mixed", "a\r\n\nb", "a\r\n\r\nb"},
		{"long", strings.Repeat("x\n", 40000), strings.Repeat("x\r\n", 40000)},
	}
	for _, tc := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{true: " one byte"}[oneByte], func(t *testing.T) {
				var r io.Reader = strings.NewReader(tc.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				var b bytes.Buffer
				n, err := CopyCRLF(&b, r)
				if err != nil || b.String() != tc.want || n != int64(len(tc.want)) {
					t.Fatalf("CopyCRLF = %d, %v, %.40q; want %.40q", n, err, b.String(), tc.want)
				}
			})
		}
	}
}
