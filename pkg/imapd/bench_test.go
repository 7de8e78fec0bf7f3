package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/bench/peer"
	"github.com/cote-mail/cote/pkg/storage"
)

// The benchmarks of this file measure the figures issue 5 asks for on
// large mailboxes: SELECT and FETCH 1:* (UID FLAGS) on 100,000 messages,
// UID FETCH 1:1000 (ENVELOPE BODYSTRUCTURE), and SEARCH BODY over 10,000
// messages. Each builds its Maildir once through the storage API (as lmtp
// would), serves it in-process with this package's session over loopback,
// and, when Dovecot is installed and the benchmark runs as root, serves a
// copy of the very same Maildir files with a private Dovecot
// (pkg/bench/peer) so the two figures compare like with like.
//
//	go test -run '^$' -bench 'Mailbox' -benchtime 10x ./pkg/imapd/
//
// They only run with -bench: building 100,000 messages takes a while and
// does not belong in `make test`.

const (
	largeMailbox  = 100000
	searchMailbox = 10000
	// searchWord occurs in one message body in a hundred, so SEARCH BODY
	// must read every body and the answer stays short.
	searchWord = "zebrafish"
)

// benchMessage returns message i of a deterministic corpus: about 1.5 KB,
// every fifth one multipart/alternative so BODYSTRUCTURE has some depth.
func benchMessage(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\n", i%97, i%97)
	fmt.Fprintf(&b, "To: Recipient <rcpt%d@example.net>, other@example.net\r\n", i%13)
	fmt.Fprintf(&b, "Cc: list%d@lists.example.com\r\n", i%7)
	fmt.Fprintf(&b, "Subject: benchmark message %d about topic %d\r\n", i, i%31)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <bench.%d@example.org>\r\n", i)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\n")
	word := "lorem"
	if i%100 == 42 {
		word = searchWord
	}
	var body strings.Builder
	for l := 0; l < 20; l++ {
		fmt.Fprintf(&body, "line %d of message %d: the quick brown fox jumps over the %s dog\r\n", l, i, word)
	}
	if i%5 == 0 {
		b.WriteString("Content-Type: multipart/alternative; boundary=\"bb\"\r\n\r\n")
		b.WriteString("--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
		b.WriteString(body.String())
		b.WriteString("--bb\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html part</p>\r\n--bb--\r\n")
		return b.String()
	}
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	b.WriteString(body.String())
	return b.String()
}

// fillMailbox appends n corpus messages to a mailbox of ts's user, in
// transactions of a few thousand (one transaction per message would measure
// the builder, not the server).
func fillMailbox(b *testing.B, ts *testServer, mailbox string, n int) {
	b.Helper()
	u, err := ts.openUser()
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	if !storage.IsInbox(mailbox) {
		if err := u.Create(mailbox); err != nil {
			b.Fatal(err)
		}
	}
	mb, err := u.Open(mailbox, false)
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		sv, err := mb.BeginSave()
		if err != nil {
			b.Fatal(err)
		}
		for i := start; i < n && i < start+chunk; i++ {
			if err := sv.Append(strings.NewReader(benchMessage(i)), storage.AppendOptions{InternalDate: date.Add(time.Duration(i) * time.Minute)}); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := sv.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// rawClient speaks just enough IMAP to time commands: it sends one command
// and reads to its tagged completion, skipping literals, without parsing
// the responses (so the figure is the server's, not a client parser's).
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	n    int
}

func dialRaw(b *testing.B, addr string) *rawClient {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	rc := &rawClient{conn: c, br: bufio.NewReaderSize(c, 64<<10)}
	if _, err := rc.br.ReadString('\n'); err != nil {
		b.Fatalf("greeting: %v", err)
	}
	return rc
}

// do runs one command and returns how many response lines it produced.
func (rc *rawClient) do(b *testing.B, cmd string) int {
	b.Helper()
	rc.n++
	tag := "b" + strconv.Itoa(rc.n)
	rc.conn.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := io.WriteString(rc.conn, tag+" "+cmd+"\r\n"); err != nil {
		b.Fatal(err)
	}
	lines := 0
	for {
		l, err := rc.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep reading it.
			continue
		}
		if err != nil {
			b.Fatalf("%s: %v", cmd, err)
		}
		if n, ok := literalAt(l); ok {
			if _, err := rc.br.Discard(n); err != nil {
				b.Fatal(err)
			}
			continue
		}
		lines++
		if len(l) > len(tag) && string(l[:len(tag)+1]) == tag+" " {
			if !strings.HasPrefix(string(l[len(tag)+1:]), "OK") {
				b.Fatalf("%s: %s", cmd, l)
			}
			return lines
		}
	}
}

// literalAt reports the size of a literal announced at the end of line.
func literalAt(l []byte) (int, bool) {
	s := strings.TrimRight(string(l), "\r\n")
	if !strings.HasSuffix(s, "}") {
		return 0, false
	}
	open := strings.LastIndexByte(s, '{')
	if open < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s[open+1:len(s)-1], "+"))
	return n, err == nil
}

// benchServer is one server under measurement.
type benchServer struct {
	name  string
	addr  string
	login string // the LOGIN command's arguments
}

// benchServers serves ts's home with cote, and a copy of its Maildir with
// Dovecot when Dovecot is installed and the benchmark runs as root.
func benchServers(b *testing.B, ts *testServer) []benchServer {
	b.Helper()
	servers := []benchServer{{name: "cote", addr: ts.ln.Addr().String()}}
	if os.Geteuid() != 0 {
		b.Log("not root: no Dovecot figures")
		return servers
	}
	if _, err := exec.LookPath("dovecot"); err != nil {
		b.Log("dovecot is not installed: no Dovecot figures")
		return servers
	}
	dir := b.TempDir()
	// The home below dir belongs to nobody, who must reach it through the
	// benchmark's temporary directories.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		b.Fatal(err)
	}
	d, err := peer.StartDovecot(peer.DovecotOptions{Dir: dir, Users: []string{"bench"}, Password: "secret"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Stop(); err != nil {
			b.Errorf("%v\n%s", err, d.Log())
		}
	})
	// The same message files; Dovecot builds its own uidlist and index
	// (the warm-up SELECT below), so cote's index files stay behind.
	home := filepath.Join(d.HomeRoot, "bench")
	src := filepath.Join(ts.home, "Maildir")
	cp := exec.Command("sh", "-c", `mkdir -p "$2/tmp" && cp -a "$1/cur" "$1/new" "$2/" && chown -R nobody "$2"`,
		"sh", src, filepath.Join(home, "Maildir"))
	if out, err := cp.CombinedOutput(); err != nil {
		b.Fatalf("copy Maildir: %v: %s", err, out)
	}
	return append(servers, benchServer{name: "dovecot", addr: d.IMAPAddr, login: "bench secret"})
}

// session logs in (Dovecot; cote's in-process session starts
// authenticated) and returns a client.
func (s benchServer) session(b *testing.B) *rawClient {
	b.Helper()
	rc := dialRaw(b, s.addr)
	if s.login != "" {
		rc.do(b, "LOGIN "+s.login)
	}
	return rc
}

// BenchmarkMailbox100k: SELECT, FETCH 1:* (UID FLAGS) and UID FETCH
// 1:1000 (ENVELOPE BODYSTRUCTURE) on a 100,000-message INBOX.
func BenchmarkMailbox100k(b *testing.B) {
	ts := newTestServer(b, Config{})
	start := time.Now()
	fillMailbox(b, ts, "INBOX", largeMailbox)
	b.Logf("built %d messages in %v", largeMailbox, time.Since(start).Round(time.Millisecond))
	for _, srv := range benchServers(b, ts) {
		rc := srv.session(b)
		warm := time.Now()
		rc.do(b, "SELECT INBOX")
		b.Logf("%s: first SELECT %v", srv.name, time.Since(warm).Round(time.Millisecond))
		b.Run(srv.name+"/SELECT", func(b *testing.B) {
			for b.Loop() {
				rc.do(b, "SELECT INBOX")
			}
		})
		b.Run(srv.name+"/FETCH_UID_FLAGS", func(b *testing.B) {
			for b.Loop() {
				if n := rc.do(b, "FETCH 1:* (UID FLAGS)"); n != largeMailbox+1 {
					b.Fatalf("%d FETCH lines, want %d", n-1, largeMailbox)
				}
			}
		})
		b.Run(srv.name+"/UID_FETCH_1000_ENVELOPE_BODYSTRUCTURE", func(b *testing.B) {
			for b.Loop() {
				rc.do(b, "UID FETCH 1:1000 (ENVELOPE BODYSTRUCTURE)")
			}
		})
	}
}

// BenchmarkSearchBody10k: SEARCH BODY over 10,000 messages, a word one
// message in a hundred contains.
func BenchmarkSearchBody10k(b *testing.B) {
	ts := newTestServer(b, Config{})
	fillMailbox(b, ts, "INBOX", searchMailbox)
	for _, srv := range benchServers(b, ts) {
		rc := srv.session(b)
		rc.do(b, "SELECT INBOX")
		b.Run(srv.name+"/SEARCH_BODY", func(b *testing.B) {
			for b.Loop() {
				rc.do(b, "SEARCH BODY "+searchWord)
			}
		})
	}
}
