package imapd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir"
	"github.com/cote-mail/cote/pkg/testkit"
)

// testServer serves sessions for one user over loopback, each with its own
// storage.User on one shared maildir.Driver, as the imap process does.
type testServer struct {
	t      testing.TB
	home   string
	driver *maildir.Driver
	ln     net.Listener
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	// quotaRules are the user's quota_rule values (quota_test.go).
	quotaRules []string
}

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{t: t, home: t.TempDir(), driver: maildir.New(nil), cfg: cfg}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.ln = ln
	ts.ctx, ts.cancel = context.WithCancel(context.Background())
	ts.wg.Add(1)
	go ts.accept()
	t.Cleanup(func() {
		ts.cancel()
		ln.Close()
		ts.wg.Wait()
		ts.driver.Close()
	})
	return ts
}

func (ts *testServer) openUser() (*storage.User, error) {
	ts.mu.Lock()
	rules := ts.quotaRules
	ts.mu.Unlock()
	return storage.OpenUser(storage.UserConfig{Name: "u", Home: ts.home, MailLocation: "maildir:~/Maildir", QuotaRules: rules,
		Namespaces: []storage.NamespaceConfig{{
			Separator: "/", Inbox: true, List: "yes", Subscriptions: true,
			Mailboxes: []storage.MailboxConfig{
				{Name: "Sent", SpecialUse: []string{`\Sent`}, Auto: "subscribe"},
				{Name: "Trash", SpecialUse: []string{`\Trash`}, Auto: "create"},
			},
		}}},
		map[string]storage.Driver{"maildir": ts.driver.Open}, nil)
}

func (ts *testServer) accept() {
	defer ts.wg.Done()
	for {
		conn, err := ts.ln.Accept()
		if err != nil {
			return
		}
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			defer conn.Close()
			u, err := ts.openUser()
			if err != nil {
				ts.t.Errorf("open user: %v", err)
				return
			}
			defer u.Close()
			cfg := ts.cfg
			cfg.Log = zaptest.NewLogger(ts.t)
			NewSession(cfg, u, conn, nil).Serve(ts.ctx, nil, "")
		}()
	}
}

func (ts *testServer) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// examine opens mailbox name of the test user read-only through the
// store, beside the sessions; done closes it and the user.
func (ts *testServer) examine(t testing.TB, name string) (mb storage.Mailbox, done func()) {
	t.Helper()
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	mb, err = u.Open(name, true)
	if err != nil {
		u.Close()
		t.Fatal(err)
	}
	return mb, func() { mb.Close(); u.Close() }
}

// deliver saves messages into a mailbox through the store in one
// transaction, as lmtp does. (A read-write open claims \Recent for the
// messages already there, so one open serves all of them.)
func (ts *testServer) deliver(t testing.TB, mailbox string, date time.Time, msgs ...string) {
	t.Helper()
	u, err := ts.openUser()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Open(mailbox, false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sv, err := mb.BeginSave()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if err := sv.Append(strings.NewReader(m), storage.AppendOptions{InternalDate: date.Add(time.Duration(i) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := sv.Commit(); err != nil {
		t.Fatal(err)
	}
}

const msg1 = "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hello\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello Bob.\r\n"
const msg2 = "From: Carol <carol@example.org>\r\nTo: bob@example.org\r\nSubject: =?ISO-8859-1?Q?Caf=E9?= menu\r\nDate: Tue, 03 Jan 2006 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nlunch at noon\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\ndGhlIHNlY3JldCB3b3Jk\r\n--b--\r\n"

var testDate = time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)

// TestTranscripts runs every testdata/*.tr against a fresh server with
// two messages in INBOX.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.tr")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".tr"), func(t *testing.T) {
			ts := newTestServer(t, Config{AppendLimit: 1 << 20})
			ts.deliver(t, "INBOX", testDate, msg1, msg2)
			c := ts.dial(t)
			testkit.RunTranscript(t, c, f, testkit.TranscriptOptions{})
		})
	}
}
