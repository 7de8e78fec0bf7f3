package imapd

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPClient drives a session with an independent client library.
func TestGoIMAPClient(t *testing.T) {
	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)

	expunged := make(chan uint32, 10)
	exists := make(chan uint32, 10)
	c := imapclient.New(ts.dial(t), &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunged <- seq },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(goimap.CapMove) {
		t.Fatalf("caps = %v", c.Caps())
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 {
		t.Fatalf("NumMessages = %d", sel.NumMessages)
	}

	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{
		UID: true, Flags: true, Envelope: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}, RFC822Size: true,
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Envelope.Subject != "hello" || msgs[0].Envelope.From[0].Addr() != "alice@example.org" {
		t.Fatalf("fetch: %+v", msgs[0].Envelope)
	}
	if mp, ok := msgs[1].BodyStructure.(*goimap.BodyStructureMultiPart); !ok || len(mp.Children) != 2 {
		t.Fatalf("bodystructure: %#v", msgs[1].BodyStructure)
	}

	body := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierText}
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{body}, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].FindBodySection(body)); got != "Hello Bob.\r\n" {
		t.Fatalf("BODY[TEXT] = %q", got)
	}

	sd, err := c.Search(&goimap.SearchCriteria{Body: []string{"secret"}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.AllSeqNums(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("SEARCH BODY secret = %v", got)
	}
	sd, err = c.UIDSearch(&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "café"}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.AllUIDs(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("UID SEARCH SUBJECT café = %v", got)
	}

	if err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}

	if err := c.Create("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cd, err := c.Copy(goimap.SeqSetNum(1), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cd.UIDValidity == 0 || cd.DestUIDs.String() != "1" {
		t.Fatalf("COPYUID %+v", cd)
	}

	const newMsg = "Subject: appended\r\n\r\nbody\r\n"
	ap := c.Append("INBOX", int64(len(newMsg)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagSeen}})
	ap.Write([]byte(newMsg))
	ap.Close()
	ad, err := ap.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ad.UID != 3 {
		t.Fatalf("APPENDUID %+v", ad)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := <-exists; n != 3 {
		t.Fatalf("EXISTS %d", n)
	}

	md, err := c.Move(goimap.SeqSetNum(3), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if md.DestUIDs.String() != "2" {
		t.Fatalf("MOVE COPYUID %+v", md)
	}
	if seq := <-expunged; seq != 3 {
		t.Fatalf("EXPUNGE %d", seq)
	}

	if err := c.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 1 || seqs[0] != 2 {
		t.Fatalf("EXPUNGE %v", seqs)
	}

	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Mailbox)
	}
	if strings.Join(names, " ") != "Archive INBOX Sent Trash" {
		t.Fatalf("LIST %v", names)
	}
	st, err := c.Status("Archive", &goimap.StatusOptions{NumMessages: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 || st.UIDNext != 3 {
		t.Fatalf("STATUS %+v", st)
	}

	// IDLE sees a delivery made through the store by another process.
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	ts.deliver(t, "INBOX", testDate, msg1)
	select {
	case n := <-exists:
		if n != 2 {
			t.Fatalf("EXISTS during IDLE = %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// lineConn is a raw client for tests that watch unsolicited responses.
type lineConn struct {
	t  *testing.T
	br *bufio.Reader
	w  net.Conn
}

func (l *lineConn) send(s string) {
	l.t.Helper()
	if _, err := l.w.Write([]byte(s + "\r\n")); err != nil {
		l.t.Fatal(err)
	}
}

// until reads lines up to the one starting with prefix and returns them.
func (l *lineConn) until(prefix string) []string {
	l.t.Helper()
	var out []string
	l.w.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		s, err := l.br.ReadString('\n')
		if err != nil {
			l.t.Fatalf("waiting for %q: %v (got %q)", prefix, err, out)
		}
		s = strings.TrimRight(s, "\r\n")
		out = append(out, s)
		if strings.HasPrefix(s, prefix) {
			return out
		}
	}
}

// TestTwoSessions: one session's STORE, EXPUNGE and APPEND are seen by
// another on NOOP and in IDLE, and never during FETCH by sequence number.
func TestTwoSessions(t *testing.T) {
	ts := newTestServer(t, Config{AppendLimit: 1 << 20})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	open := func() *lineConn {
		c := ts.dial(t)
		l := &lineConn{t: t, br: bufio.NewReader(c), w: c}
		l.until("* PREAUTH")
		l.send("s SELECT INBOX")
		l.until("s OK")
		return l
	}
	a, b := open(), open()

	a.send("a1 STORE 1 +FLAGS.SILENT (\\Seen)")
	a.until("a1 OK")
	b.send("b1 NOOP")
	got := b.until("b1 OK")
	if !contains(got, `* 1 FETCH (UID 1 FLAGS (\Seen))`) {
		t.Fatalf("NOOP after STORE: %q", got)
	}

	a.send("a2 STORE 1 +FLAGS.SILENT (\\Deleted)")
	a.until("a2 OK")
	a.send("a3 EXPUNGE")
	if got := a.until("a3 OK"); !contains(got, "* 1 EXPUNGE") {
		t.Fatalf("EXPUNGE: %q", got)
	}
	// A FETCH by sequence number must not report the expunge...
	b.send("b2 FETCH 1:2 (UID)")
	got = b.until("b2 ")
	if got[len(got)-1] != "b2 NO [EXPUNGEISSUED] Some of the requested messages no longer exist." {
		t.Fatalf("FETCH of an expunged message: %q", got)
	}
	for _, l := range got {
		if strings.HasPrefix(l, "* ") && strings.HasSuffix(l, " EXPUNGE") {
			t.Fatalf("EXPUNGE during FETCH: %q", got)
		}
	}
	// ...a UID FETCH may, and does.
	b.send("b3 UID FETCH 1:* (UID)")
	if got := b.until("b3 OK"); !contains(got, "* 1 EXPUNGE") {
		t.Fatalf("UID FETCH after expunge: %q", got)
	}

	b.send("b4 IDLE")
	b.until("+ idling")
	a.send(`a4 APPEND INBOX {5+}`)
	a.send("x: y\r\n")
	a.until("a4 OK")
	if got := b.until("* 2 EXISTS"); len(got) == 0 {
		t.Fatal("no EXISTS")
	}
	b.send("DONE")
	b.until("b4 OK")
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
